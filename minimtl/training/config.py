"""Every option of a training run, with the study's protocol as the defaults."""

from dataclasses import asdict, dataclass, fields

__all__ = ["RunConfig"]


@dataclass(frozen=True)
class RunConfig:
    """Options of one run; saved as ``config.json`` and read back by ``--resume`` and ``evaluate``.

    The defaults are the study's: 256 px stretched images, batch 8, 30 epochs, Adam with Keras'
    defaults (lr 1e-3, beta1 0.9, beta2 0.999, epsilon-hat 1e-7), two-class softmax heads, images
    of the other dataset counted as negatives, a random image-level split. Unlike the study, the
    seed is fixed (0) and 10% of the training side is held out for validation. ``step`` chooses
    how each training step is computed ("fused", the default, or "readable": the same numbers to
    float32 rounding, see :mod:`minimtl.training.steps`). ``patience`` > 0 stops a run whose
    validation loss has not improved for that many epochs (0: never, as the study). ``normalize``
    ("none", "image", "equalize": :mod:`minimtl.data.normalize`), ``crop_borders`` (cut uniform
    borders before resizing) and ``augment`` (random hospital-like changes to every training batch,
    :mod:`minimtl.data.augment`) go beyond the study; all are off by default. ``selection`` says which
    epoch's model a run with validation stands for on each task (:mod:`minimtl.training.selection`):
    "per-task" (the default: each task's own best validation epoch) or "summed" (the epoch with the
    best summed validation loss, for every task); runs without validation stand for their last epoch.
    ``trunk`` ("study", or "deep": :mod:`minimtl.training.trunks`) and ``weighting`` ("sum", the
    study's, or a multi-task method: :mod:`minimtl.training.weighting`) go beyond the study too, the
    study's by default; ``conflict_every`` places the gradient-conflict measurement beside the sum's
    step (one step in every N; 0: never; :mod:`minimtl.training.conflict`).
    """

    arch: str = "multitask64"
    head: str = "softmax"
    other_labels: str = "negative"
    image_size: int = 256
    crop: str = "stretch"
    batch_size: int = 8
    epochs: int = 30
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-7
    split: str = "random"
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    seed: int = 0
    step: str = "fused"
    patience: int = 0
    normalize: str = "none"
    crop_borders: bool = False
    augment: bool = False
    selection: str = "per-task"
    trunk: str = "study"
    weighting: str = "sum"
    conflict_every: int = 16

    @property
    def decode_crop(self):
        """The ``crop`` the images are decoded with: "stretch" or "center", with "borders+" first when
        uniform borders are cut off."""
        return f"borders+{self.crop}" if self.crop_borders else self.crop

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown run options {sorted(unknown)}")
        # runs made before per-task selection chose one model by the summed validation loss
        return cls(**{"selection": "summed", **values})
