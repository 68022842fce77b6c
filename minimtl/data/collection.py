"""``Collection``: every image of a run, one row per image, plus what is known about it.

The arrays are read-only: a collection is shared by the split, the trainer and the report, so
nothing may change it behind the others' backs. Images stay uint8; the trainer scales each batch
to [0, 1] (``batch / 255``) as it goes, never the whole set at once (6,502 images at 256 px are
426 MB as uint8, 3.4 GB as float64).
"""

from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["Collection"]

_ROW_FIELDS = ("images", "labels", "dataset", "site", "patient", "official_split", "paths", "pixel_hash")


@dataclass(frozen=True, eq=False)
class Collection:
    """The images and their metadata (N rows).

    - images: uint8 (N, S, S) grayscale.
    - labels: int64 (N,), 0/1 within the image's own dataset, 1 = disease.
    - dataset: str (N,), ``"pneumonia"`` (Kermany), ``"tb"`` (NLM), or a generic folder's name.
    - site: str (N,), ``"kermany"``, ``"shenzhen"``, ``"montgomery"``, ``"phantom-a"``, ...
    - patient: str (N,), patient id namespaced by site (``"kermany:person1234"``).
    - official_split: str (N,), ``"train"``, ``"test"``, ``"val"`` or ``""``.
    - paths: str (N,), relative to the data folder.
    - pixel_hash: str (N,), sha256 of the decoded 8-bit pixels before resizing.
    - synthetic: bool, True for phantoms.
    - image_size: int S.
    - data_dir: str, the data folder ("" for phantoms).
    - skipped: tuple of (path, reason) for files and folders that could not be used.
    - ignored: tuple of image paths found outside any recognised layout.
    - label_names: dict dataset -> tuple of class names indexed by label.
    - crop: str, ``"stretch"`` or ``"center"``.
    """

    images: np.ndarray
    labels: np.ndarray
    dataset: np.ndarray
    site: np.ndarray
    patient: np.ndarray
    official_split: np.ndarray
    paths: np.ndarray
    pixel_hash: np.ndarray
    synthetic: bool
    image_size: int
    data_dir: str
    skipped: tuple = ()
    ignored: tuple = ()
    label_names: dict = field(default_factory=dict)
    crop: str = "stretch"

    def __post_init__(self):
        n = len(self.labels)
        for name in _ROW_FIELDS:
            value = np.asarray(getattr(self, name))
            if name == "images":
                value = value.astype(np.uint8, copy=False)
            elif name == "labels":
                value = value.astype(np.int64, copy=False)
            else:
                value = value.astype(str, copy=False) if value.size else np.zeros(0, dtype="<U1")
            if value.shape[:1] != (n,):
                raise ValueError(f"Collection.{name} has {value.shape[:1]} rows, labels has {n}")
            value = value.view()  # a read-only view: the caller's own array keeps its flags
            value.flags.writeable = False
            object.__setattr__(self, name, value)
        if self.images.shape[1:] != (self.image_size, self.image_size):
            raise ValueError(
                f"Collection.images has shape {self.images.shape}, expected (N, {self.image_size}, {self.image_size})"
            )
        object.__setattr__(self, "skipped", tuple(tuple(item) for item in self.skipped))
        object.__setattr__(self, "ignored", tuple(self.ignored))

    def __len__(self):
        return len(self.labels)

    def datasets(self):
        """The dataset names present, sorted (e.g. ``["pneumonia", "tb"]``)."""
        return sorted(set(self.dataset.tolist()))

    def subset(self, idx):
        """A new Collection with the rows ``idx`` (int indices or a boolean mask), in that order.

        Inputs:
        - idx: int array (K,) or bool array (N,).

        Returns:
        - Collection with K rows; the per-collection fields (skipped, label_names, ...) are kept.
        """
        idx = np.asarray(idx)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ValueError(f"a boolean subset needs {len(self)} entries, got {idx.shape}")
            idx = np.flatnonzero(idx)
        rows = {name: getattr(self, name)[idx] for name in _ROW_FIELDS}
        return replace(self, **rows)
