"""The one place that knows the files of a run folder (``runs/NAME/``).

Training, reporting, ``evaluate`` and ``compare`` all reach a run's files through a
:class:`RunFolder`, so a file name is spelled once and the report's list of files cannot go stale.
"""

from pathlib import Path

__all__ = ["RunFolder", "RunFile", "RUN_FILES", "SAVED_MODELS", "TASK_BEST"]


class RunFile:
    """One file of a run folder, declared on :class:`RunFolder`: ``folder.report`` is the path
    ``folder.path / "report.md"``. ``name`` is the file's name, ``what`` what it holds (for report.md)."""

    def __init__(self, name, what):
        self.name = name
        self.what = what

    def __set_name__(self, owner, attribute):
        self.attribute = attribute

    def __get__(self, folder, owner=None):
        if folder is None:  # on the class: the declaration itself
            return self
        return folder.path / self.name


class RunFolder:
    """The folder of one run and the paths of its files.

    ``RunFolder("runs/x").checkpoint`` is ``Path("runs/x/checkpoint.npz")``, and so on for every file
    declared below. Nothing is created or read here.
    """

    # the files, in the order report.md lists them
    report = RunFile("report.md", "this report")
    metrics = RunFile("metrics.json", "every metric, for machines")
    history = RunFile("history.csv", "losses and validation scores per epoch")
    predictions = RunFile("predictions.csv", "each test image's score and prediction, per saved model")
    loss_plot = RunFile("loss.png", "loss curves")
    roc_plot = RunFile("roc.png", "ROC curves")
    confusion_plot = RunFile("confusion.png", "confusion matrices")
    conflict_plot = RunFile("conflict.png", "gradient conflict between the two tasks per epoch (multi-task runs)")
    config = RunFile("config.json", "the run's options, data fingerprint and library versions")
    split = RunFile("split.json", "which images are train, validation and test")
    checkpoint = RunFile("checkpoint.npz", "the last epoch's weights and optimiser state (for --resume)")
    best = RunFile("best.npz", "the weights of the best validation epoch (by the summed validation loss)")
    best_tb = RunFile("best-tb.npz", "the weights of the TB task's best validation epoch (per-task selection)")
    best_pneumonia = RunFile(
        "best-pneumonia.npz", "the weights of the pneumonia task's best validation epoch (per-task selection)"
    )
    skipped = RunFile("skipped.csv", "the data folder's files that could not be used, and why")
    reshuffled = RunFile("reshuffled.json", "scores on a reshuffled 20% (compare --reshuffled-test)")
    site = RunFile("site_separation.json", "how well each disease score tells the two hospitals' healthy images apart")
    shift = RunFile("shift_test.json", "the test ROC-AUC after border, text, gamma, contrast and zoom shifts")
    saliency = RunFile("saliency.json", "the share of the TB head's saliency outside the lung box (compare --saliency)")
    explain = RunFile("explain", "folder: saliency maps, site shortcut and shift test (python cli.py explain)")
    external = RunFile("external", "folder: scores on external sites (evaluate --data-dir, compare --external)")

    def __init__(self, path):
        self.path = Path(path)  # a RunFolder is a path-like too, so RunFolder(folder) works

    def __fspath__(self):
        return str(self.path)

    def __repr__(self):
        return f"RunFolder({str(self.path)!r})"

    def __str__(self):
        return str(self.path)

    def model_file(self, weights, task=None):
        """The file of a saved model: "best" (best.npz; with a ``task``, that task's own best-<task>.npz,
        the per-task selection's, :data:`TASK_BEST`) or "last" (checkpoint.npz, whatever the task)."""
        if weights == "best" and task is not None:
            return getattr(self, TASK_BEST[task])
        if weights == "best":
            return self.best
        if weights == "last":
            return self.checkpoint
        raise ValueError(f"a run saves the models {', '.join(SAVED_MODELS)}, not {weights!r}")

    def existing(self, also=()):
        """(file name, description) of every run file present (or among the paths ``also``, about to be
        written), in ``RUN_FILES`` order."""
        coming = {Path(path).name for path in also}
        return [
            (file, what) for key, (file, what) in RUN_FILES.items() if file in coming or (self.path / file).exists()
        ]


# attribute -> (file name, what it holds), in the order report.md lists them
RUN_FILES = {key: (f.name, f.what) for key, f in vars(RunFolder).items() if isinstance(f, RunFile)}

# the saved models of a run: weights name -> (RunFolder attribute of its file, what it is)
# (RunFolder.model_file gives the file; with per-task selection "best" is one file per task, TASK_BEST)
SAVED_MODELS = {"best": ("best", "best validation epoch"), "last": ("checkpoint", "last epoch")}

# task -> the RunFolder attribute of its own best validation epoch's weights (per-task selection)
TASK_BEST = {"tb": "best_tb", "pneumonia": "best_pneumonia"}
