"""What ties images together, and whether a split lets those ties cross from training to test.

Two images are *linked* when they share a patient id or have identical decoded pixels. A split
leaks when a linked pair sits on two sides: the model is then tested on a patient (or an exact
image) it was trained on, and the test score is too good. ``linked_groups`` gives the connected
components of that relation, the units the ``patient`` split keeps together; ``leak_report``
counts what crosses in a given split.
"""

from itertools import combinations

import numpy as np

__all__ = ["linked_groups", "duplicate_groups", "leak_report", "SIDES"]

SIDES = ("train", "val", "test")
_EXAMPLES = 5


def linked_groups(patient, pixel_hash):
    """Connected components of "same patient or same pixels" (union-find).

    Inputs:
    - patient: str array (N,); pixel_hash: str array (N,).

    Returns:
    - int64 array (N,): group ids 0, 1, ..., numbered in order of each group's first image.
    """
    n = len(patient)
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees flat
            i = parent[i]
        return i

    for keys in (patient, pixel_hash):
        first_with = {}
        for i, key in enumerate(keys.tolist()):
            j = first_with.setdefault(key, i)
            if j != i:
                parent[root(i)] = root(j)
    group_of_root = {}
    groups = np.empty(n, dtype=np.int64)
    for i in range(n):
        groups[i] = group_of_root.setdefault(root(i), len(group_of_root))
    return groups


def duplicate_groups(pixel_hash, indices=None):
    """Groups of two or more images with identical decoded pixels.

    Inputs:
    - pixel_hash: str array (N,).
    - indices: int array or None, the images to look at (None: all).

    Returns:
    - list of sorted int64 arrays (indices into ``pixel_hash``), ordered by their first index.
    """
    indices = np.arange(len(pixel_hash)) if indices is None else np.sort(np.asarray(indices, dtype=np.int64))
    members = {}
    for i in indices.tolist():
        members.setdefault(pixel_hash[i], []).append(i)
    groups = [np.array(m, dtype=np.int64) for m in members.values() if len(m) > 1]
    return sorted(groups, key=lambda g: g[0])


def leak_report(collection, sides):
    """Count the duplicates and patients that cross between the sides of a split.

    Inputs:
    - collection: Collection.
    - sides: dict side name -> int array of indices (e.g. ``{"train": ..., "val": ..., "test": ...}``).

    Returns:
    - dict with:
      - ``sizes``: side -> number of images;
      - ``duplicate_groups``: pixel-identical groups among the split's images;
        ``duplicate_groups_crossing``: how many of them have images on two or more sides;
      - ``patients``: distinct patients; ``patients_crossing``: patients on two or more sides;
      - ``pairs``: ``"a/b"`` -> {``duplicate_groups``, ``patients``} crossing between sides a and b;
      - ``test_images_linked_to_training``: test images whose patient or pixels also appear in
        train or val;
      - ``examples``: up to 5 crossing duplicate groups (as paths) and 5 crossing patient ids.
    """
    names = list(sides)
    side_of = np.full(len(collection), -1, dtype=np.int64)
    for k, name in enumerate(names):
        side_of[np.asarray(sides[name], dtype=np.int64)] = k
    used = np.flatnonzero(side_of >= 0)

    def sides_of_groups(keys):
        found = {}
        for i in used.tolist():
            found.setdefault(keys[i], set()).add(int(side_of[i]))
        return found

    dup_sets = [(group, set(side_of[group].tolist())) for group in duplicate_groups(collection.pixel_hash, used)]
    patient_sets = sides_of_groups(collection.patient)
    pairs = {}
    for a, b in combinations(range(len(names)), 2):
        pairs[f"{names[a]}/{names[b]}"] = {
            "duplicate_groups": sum(1 for _, s in dup_sets if {a, b} <= s),
            "patients": sum(1 for s in patient_sets.values() if {a, b} <= s),
        }
    crossing_dups = [group for group, s in dup_sets if len(s) > 1]
    crossing_patients = sorted(p for p, s in patient_sets.items() if len(s) > 1)
    report = {
        "sizes": {name: int(len(sides[name])) for name in names},
        "duplicate_groups": len(dup_sets),
        "duplicate_groups_crossing": len(crossing_dups),
        "patients": len(patient_sets),
        "patients_crossing": len(crossing_patients),
        "pairs": pairs,
        "test_images_linked_to_training": _test_images_linked(collection, sides),
        "examples": {
            "duplicate_groups": [collection.paths[g].tolist() for g in crossing_dups[:_EXAMPLES]],
            "patients": crossing_patients[:_EXAMPLES],
        },
    }
    return report


def _test_images_linked(collection, sides):
    if "test" not in sides:
        return 0
    training = [np.asarray(sides[s], dtype=np.int64) for s in sides if s != "test"]
    training = np.concatenate(training) if training else np.zeros(0, dtype=np.int64)
    seen_patients = set(collection.patient[training].tolist())
    seen_pixels = set(collection.pixel_hash[training].tolist())
    test = np.asarray(sides["test"], dtype=np.int64)
    return int(
        sum(
            1
            for p, h in zip(collection.patient[test].tolist(), collection.pixel_hash[test].tolist())
            if p in seen_patients or h in seen_pixels
        )
    )
