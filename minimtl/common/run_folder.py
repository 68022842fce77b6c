"""The one place that knows the files of a run folder (``runs/NAME/``).

Training, reporting, ``evaluate`` and ``compare`` all reach a run's files through a
:class:`RunFolder`, so a file name is spelled once and the report's list of files cannot go stale.
"""

from pathlib import Path

__all__ = ["RunFolder", "RUN_FILES", "SAVED_MODELS"]

# attribute -> (file name, what it holds); the order is the order report.md lists them in
RUN_FILES = {
    "report": ("report.md", "this report"),
    "metrics": ("metrics.json", "every metric, for machines"),
    "history": ("history.csv", "losses and validation scores per epoch"),
    "predictions": ("predictions.csv", "each test image's score and prediction, per saved model"),
    "loss_plot": ("loss.png", "loss curves"),
    "roc_plot": ("roc.png", "ROC curves"),
    "confusion_plot": ("confusion.png", "confusion matrices"),
    "conflict_plot": ("conflict.png", "gradient conflict between the two tasks per epoch (multi-task runs)"),
    "config": ("config.json", "the run's options, data fingerprint and library versions"),
    "split": ("split.json", "which images are train, validation and test"),
    "checkpoint": ("checkpoint.npz", "the last epoch's weights and optimiser state (for --resume)"),
    "best": ("best.npz", "the weights of the best validation epoch"),
    "skipped": ("skipped.csv", "the data folder's files that could not be used, and why"),
    "reshuffled": ("reshuffled.json", "scores on a reshuffled 20% (compare --reshuffled-test)"),
    "site": ("site_separation.json", "how well each disease score tells the two hospitals' healthy images apart"),
    "shift": ("shift_test.json", "the test ROC-AUC after border, text, gamma, contrast and zoom shifts"),
    "explain": ("explain", "folder: saliency maps, site shortcut and shift test (python cli.py explain)"),
}

# the saved models of a run: weights name -> (RUN_FILES key of its file, what it is)
SAVED_MODELS = {"best": ("best", "best validation epoch"), "last": ("checkpoint", "last epoch")}


class RunFolder:
    """The folder of one run and the paths of its files.

    ``RunFolder("runs/x").checkpoint`` is ``Path("runs/x/checkpoint.npz")``, and so on for every
    key of ``RUN_FILES``. Nothing is created or read here.
    """

    def __init__(self, path):
        self.path = Path(path)  # a RunFolder is a path-like too, so RunFolder(folder) works

    def __fspath__(self):
        return str(self.path)

    def __getattr__(self, name):
        if name in RUN_FILES:
            return self.path / RUN_FILES[name][0]
        raise AttributeError(f"a run folder has no file {name!r}; known: {', '.join(RUN_FILES)}")

    def __repr__(self):
        return f"RunFolder({str(self.path)!r})"

    def __str__(self):
        return str(self.path)

    def model_file(self, weights):
        """The file of a saved model: "best" (best.npz) or "last" (checkpoint.npz)."""
        return getattr(self, SAVED_MODELS[weights][0])

    def existing(self, also=()):
        """(file name, description) of every run file present (or among the paths ``also``, about to be
        written), in ``RUN_FILES`` order."""
        coming = {Path(path).name for path in also}
        return [
            (file, what) for key, (file, what) in RUN_FILES.items() if file in coming or (self.path / file).exists()
        ]
