"""Seeded train / validation / test splits, their leak check, and their file on disk.

Methods (``make_split(collection, method, rng, test_fraction, val_fraction)``):

``random``
    The study's split: a permutation of all images, the first ``int((1 - test_fraction) * N)``
    train, the rest test (6,502 images give 5,201 / 1,301). Image-level, so a patient's images
    can land on both sides; the leak report says how many.
``patient`` (recommended)
    Whole linked groups (same patient or identical pixels, ``leaks.linked_groups``) go to one
    side, so nothing crosses. Groups are visited in a random order and a group joins the test
    side when that brings the test side's count in every (dataset, label) stratum closer to
    ``test_fraction`` of that stratum: stratified as far as the groups allow.
``official``
    Kermany's own folders: ``test`` is the test side, ``train`` and ``val`` (Kaggle's 16 images)
    the training side. Images without an official split (the TB sets) are split as ``patient``.

The validation side is then carved from the training side: ``val_fraction`` of it
(0 gives an empty validation side), image-level for ``random`` and by linked groups (stratified
the same way) for the other two. Every index array is sorted int64.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minimtl.common.atomic import write_text
from minimtl.data.errors import DataError
from minimtl.data.leaks import SIDES, leak_report, linked_groups

__all__ = ["Split", "make_split", "SPLIT_METHODS", "SPLIT_FORMAT"]

SPLIT_METHODS = ("random", "patient", "official")
SPLIT_FORMAT = "minimtl-split-v1"


@dataclass(frozen=True, eq=False)
class Split:
    """Indices of each side into one Collection, and what crosses between them.

    - train, val, test: sorted int64 arrays, disjoint.
    - method: str, one of ``SPLIT_METHODS``.
    - leaks: dict from ``leaks.leak_report``.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    method: str
    leaks: dict

    def sides(self):
        """dict ``"train"``/``"val"``/``"test"`` -> index array."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def restrict(self, collection, datasets):
        """The same split keeping only the images of the given datasets (e.g. ``["tb"]``).

        Inputs:
        - collection: the Collection this split indexes; datasets: list of dataset names.

        Returns:
        - Split with the same method, indices still into ``collection``, leaks recounted.
        """
        unknown = sorted(set(datasets) - set(collection.datasets()))
        if unknown:
            raise ValueError(f"unknown dataset(s) {unknown}; the collection has {collection.datasets()}")
        keep = np.isin(collection.dataset, list(datasets))
        sides = {name: idx[keep[idx]] for name, idx in self.sides().items()}
        return _make(collection, sides, self.method)

    def to_json(self, collection):
        """A JSON-ready dict: the method and, per side, the file paths and pixel hashes."""
        return {
            "format": SPLIT_FORMAT,
            "method": self.method,
            "synthetic": bool(collection.synthetic),
            "sides": {
                name: {"paths": collection.paths[idx].tolist(), "pixel_hash": collection.pixel_hash[idx].tolist()}
                for name, idx in self.sides().items()
            },
            "leaks": self.leaks,
        }

    def save(self, path, collection):
        """Write ``to_json(collection)`` to ``path`` atomically."""
        write_text(path, json.dumps(self.to_json(collection), indent=1) + "\n")

    @classmethod
    def load(cls, path, collection):
        """Read a saved split and map its files back to indices into ``collection``.

        Inputs:
        - path: str or Path of a file written by ``save``; collection: Collection.

        Returns:
        - Split (leaks recounted on ``collection``).

        Raises:
        - DataError naming the files that are missing from ``collection`` or whose pixels changed,
          or saying why the file cannot be read.
        """
        path = Path(path)
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("format") != SPLIT_FORMAT:
                raise ValueError(f"format is {saved.get('format')!r}, expected {SPLIT_FORMAT!r}")
            method = saved["method"]
            saved_sides = {name: saved["sides"][name] for name in SIDES}
            for name, entry in saved_sides.items():
                if len(entry["paths"]) != len(entry["pixel_hash"]):
                    n_paths, n_hashes = len(entry["paths"]), len(entry["pixel_hash"])
                    raise ValueError(f"side {name!r} has {n_paths} paths but {n_hashes} hashes")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise DataError(f"cannot read the split file {path}: {error}") from None
        row_of = {p: i for i, p in enumerate(collection.paths.tolist())}
        missing, changed, sides = [], [], {}
        for name, entry in saved_sides.items():
            rows = []
            for file, pixel_hash in zip(entry["paths"], entry["pixel_hash"]):
                row = row_of.get(file)
                if row is None:
                    missing.append(file)
                elif collection.pixel_hash[row] != pixel_hash:
                    changed.append(file)
                else:
                    rows.append(row)
            sides[name] = np.array(rows, dtype=np.int64)
        if missing or changed:
            raise DataError(f"the split {path} does not match the data: " + _problems(missing, changed))
        counts = np.bincount(np.concatenate(list(sides.values())), minlength=len(collection))
        if (counts > 1).any():
            raise DataError(f"the split {path} puts {int((counts > 1).sum())} file(s) on two sides")
        return _make(collection, sides, method)


def make_split(collection, method, rng, test_fraction=0.2, val_fraction=0.1):
    """Split ``collection`` into train / val / test.

    Inputs:
    - collection: Collection.
    - method: ``"random"``, ``"patient"`` or ``"official"``.
    - rng: numpy Generator, the only source of randomness.
    - test_fraction: float in (0, 1), share of the images (per stratum for grouped splits) on the
      test side; ``official`` ignores it for images that have an official split.
    - val_fraction: float in [0, 1), share of the training side moved to validation.

    Returns:
    - Split.
    """
    if method not in SPLIT_METHODS:
        raise ValueError(f"split method must be one of {', '.join(SPLIT_METHODS)}; got {method!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1); got {val_fraction}")
    n = len(collection)
    if method == "random":
        order = rng.permutation(n)
        n_training = int((1 - test_fraction) * n)  # the study's int(0.8 * N)
        training, test = order[:n_training], order[n_training:]
        n_val = int(round(val_fraction * n_training))
        val, train = training[n_training - n_val :], training[: n_training - n_val]
        return _make(collection, {"train": train, "val": val, "test": test}, method)

    groups = linked_groups(collection.patient, collection.pixel_hash)
    strata = np.char.add(np.char.add(collection.dataset.astype(str), "/"), collection.labels.astype(str))
    if method == "patient":
        everything = np.arange(n)
        test = _grouped_pick(everything, groups, strata, test_fraction, rng)
    else:
        official = collection.official_split
        unsplit = np.flatnonzero(official == "")
        test = np.concatenate(
            [np.flatnonzero(official == "test"), _grouped_pick(unsplit, groups, strata, test_fraction, rng)]
        )
    training = np.setdiff1d(np.arange(n), test)
    val = _grouped_pick(training, groups, strata, val_fraction, rng)
    train = np.setdiff1d(training, val)
    return _make(collection, {"train": train, "val": val, "test": test}, method)


def _grouped_pick(indices, groups, strata, fraction, rng):
    """Pick whole groups from ``indices`` until each stratum holds about ``fraction`` of its images.

    Inputs:
    - indices: int array, the candidates; groups, strata: arrays (N,) for the whole collection.
    - fraction: float in [0, 1); rng: numpy Generator.

    Returns:
    - int64 array of the picked indices (a subset of ``indices``; whole groups only, where a
      group is cut to its members inside ``indices``).
    """
    indices = np.asarray(indices, dtype=np.int64)
    if fraction == 0 or len(indices) == 0:
        return np.zeros(0, dtype=np.int64)
    group_ids, group_of = np.unique(groups[indices], return_inverse=True)
    stratum_names, stratum_of = np.unique(strata[indices], return_inverse=True)
    composition = np.zeros((len(group_ids), len(stratum_names)), dtype=np.int64)
    np.add.at(composition, (group_of, stratum_of), 1)
    target = fraction * composition.sum(axis=0)
    picked = np.zeros(len(group_ids), dtype=bool)
    current = np.zeros(len(stratum_names))
    for g in rng.permutation(len(group_ids)):
        after = current + composition[g]
        # Take the group only if it brings the picked counts closer to the targets overall.
        if np.abs(after - target).sum() < np.abs(current - target).sum():
            picked[g] = True
            current = after
    return indices[picked[group_of]]


def _make(collection, sides, method):
    sides = {name: np.sort(np.asarray(sides[name], dtype=np.int64)) for name in SIDES}
    return Split(**sides, method=method, leaks=leak_report(collection, sides))


def _problems(missing, changed, shown=5):
    parts = []
    if missing:
        more = f" and {len(missing) - shown} more" if len(missing) > shown else ""
        parts.append(f"{len(missing)} file(s) not in the data: {', '.join(missing[:shown])}{more}")
    if changed:
        more = f" and {len(changed) - shown} more" if len(changed) > shown else ""
        parts.append(f"{len(changed)} file(s) with changed pixels: {', '.join(changed[:shown])}{more}")
    return "; ".join(parts) + (
        " (did the data folder change since the split was saved? Phantoms must have the same seed and image size)"
    )
