"""Options shared by the commands that read images, the one way they load them, and the terminal's
progress bars and messages (the library below the commands takes them as callbacks)."""

import difflib
import errno
import math
import shutil
import sys
import tempfile
from pathlib import Path

import click

from minimtl.common.lock import FolderBusy
from minimtl.common.progress import no_progress
from minimtl.data import DataError, NoDataFound, count_image_files, load_or_phantoms, make_phantoms, resolve_data_dir
from minimtl.data.found import describe_scan
from minimtl.data.load import find_images, phantoms_notice
from minimtl.data.normalize import NORMALIZATIONS
from minimtl.study.run.saved_run import RunError
from minimtl.training.checkpoint import CheckpointError
from minimtl.training.config import RunConfig
from minimtl.training.loop import TrainingDiverged
from minimtl.training.memory import NotEnoughMemory, check_memory, estimate_run_disk, format_disk
from minimtl.training.selection import SELECTIONS
from minimtl.training.steps import STEPS
from minimtl.training.trunks import TRUNKS
from minimtl.training.weighting import WEIGHTINGS

__all__ = [
    "FiniteFloat",
    "SuggestingChoice",
    "data_options",
    "training_options",
    "method_options",
    "load_run_data",
    "announce_data",
    "disk_line",
    "click_progress",
    "echo_err",
    "check_writable",
    "memory_line",
    "USER_ERRORS",
    "write_error_message",
    "PHANTOMS_PER_CLASS",
    "PHANTOM_SEED",
]

DEFAULTS = RunConfig()

# what the library raises for a problem the user can act on: shown as one line, never a traceback
USER_ERRORS = (RunError, CheckpointError, FolderBusy, TrainingDiverged, NotEnoughMemory, DataError)


class FiniteFloat(click.FloatRange):
    """A float option in a range that also refuses nan and inf (click's FloatRange lets nan through,
    since every comparison with nan is false)."""

    name = "finite float"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class SuggestingChoice(click.Choice):
    """click's Choice that, for a mistyped value, also names the nearest choice ("did you mean ...?")."""

    def convert(self, value, param, ctx):
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as error:
            by_lower = {str(choice).lower(): str(choice) for choice in self.choices}
            nearest = difflib.get_close_matches(str(value).lower(), list(by_lower), n=1, cutoff=0.6)
            if not nearest:
                raise
            self.fail(f"{error.message.rstrip('.')}. Did you mean {by_lower[nearest[0]]!r}?", param, ctx)


# Without real images the commands train on built-in phantoms: a fixed synthetic data set
# (its own fixed seed, like a downloaded set), large enough to learn from, small enough to be quick.
PHANTOMS_PER_CLASS = 60
PHANTOM_SEED = 0


DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="folder holding the chest X-ray sets [default: $MINIMTL_DATA, else data/ in the repo root]",
)
STRICT_OPTION = click.option(
    "--strict",
    is_flag=True,
    help="make bad files an error: every unreadable image and bad folder is listed, then the command stops",
)
PHANTOMS_OPTION = click.option(
    "--phantoms",
    is_flag=True,
    help="use the built-in synthetic phantoms instead of images (to try the commands; every result is marked "
    "SYNTHETIC). Without this flag they stand in only when no data folder is named and data/ holds no image",
)
DATA_OPTIONS = [
    DATA_DIR_OPTION,
    PHANTOMS_OPTION,
    click.option(
        "--image-size",
        type=click.IntRange(min=8),
        default=256,
        show_default=True,
        help="images are resized to SIZE x SIZE",
    ),
    click.option(
        "--crop",
        type=click.Choice(["stretch", "center"]),
        default="stretch",
        show_default=True,
        help="stretch to a square (the study) or crop the centre square first",
    ),
    STRICT_OPTION,
]


TRAINING_OPTIONS = [
    click.option(
        "--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, show_default=True, help="epochs at most"
    ),
    click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS.batch_size, show_default=True),
    click.option(
        "--lr",
        type=FiniteFloat(min=0, min_open=True),
        default=DEFAULTS.lr,
        show_default=True,
        help="Adam's learning rate",
    ),
    click.option(
        "--patience",
        type=click.IntRange(min=0),
        default=DEFAULTS.patience,
        show_default=True,
        help="stop when the validation loss has not improved for this many epochs (0: never); "
        "ignored, with a message, without a validation split",
    ),
    click.option(
        "--selection",
        type=click.Choice(SELECTIONS),
        default=DEFAULTS.selection,
        show_default=True,
        help="with validation, the model that scores each task: per-task = each task's own best validation epoch "
        "(its head's loss on its own validation images); summed = the epoch of the best summed validation loss, "
        "for every task",
    ),
    click.option(
        "--step",
        type=click.Choice(list(STEPS)),
        default=DEFAULTS.step,
        show_default=True,
        help="fused: each big weight read and written once per step (fast); readable: layer by layer, "
        "as the tutorial derives it (same numbers to float32 rounding)",
    ),
    click.option(
        "--normalize",
        type=click.Choice(NORMALIZATIONS),
        default=DEFAULTS.normalize,
        show_default=True,
        help="beyond the study: none = x/255 (the study); image = each image to mean 0, sd 1; "
        "equalize = histogram equalisation, then /255",
    ),
    click.option(
        "--crop-borders/--no-crop-borders",
        default=DEFAULTS.crop_borders,
        show_default=True,
        help="beyond the study: cut uniform (black or white) borders off each image before resizing",
    ),
    click.option(
        "--augment/--no-augment",
        default=DEFAULTS.augment,
        show_default=True,
        help="beyond the study: change every training batch at random as hospitals differ (shift, zoom, "
        "contrast, gamma, black borders, burned-in markers)",
    ),
]


def _add(options, command):
    for option in reversed(options):
        command = option(command)
    return command


def data_options(command):
    """Add --data-dir, --phantoms, --image-size, --crop and --strict to a click command."""
    return _add(DATA_OPTIONS, command)


def training_options(command):
    """Add --epochs, --batch-size, --lr, --patience, --selection, --step and the options beyond the study
    (--normalize, --crop-borders, --augment) to a click command."""
    return _add(TRAINING_OPTIONS, command)


METHOD_OPTIONS = [
    click.option(
        "--trunk",
        type=click.Choice(TRUNKS),
        default=DEFAULTS.trunk,
        show_default=True,
        help="beyond the study: the shared trunk; study = one 3x3 convolution, deep = three conv-ReLU-maxpool "
        "blocks (the readable step)",
    ),
    click.option(
        "--weighting",
        type=click.Choice(WEIGHTINGS),
        default=DEFAULTS.weighting,
        show_default=True,
        help="beyond the study, multi-task archs only: how the two losses make one update; sum (the study), "
        "uncertainty, dwa, gradnorm, pcgrad, mgda (the last three on the readable step)",
    ),
    click.option(
        "--conflict-every",
        type=click.IntRange(min=0),
        default=DEFAULTS.conflict_every,
        show_default=True,
        help="multi-task: measure the tasks' gradient conflict on one step in every N (0: never); "
        "gradnorm, pcgrad and mgda measure every step",
    ),
]


def method_options(command):
    """Add --trunk, --weighting and --conflict-every (the multi-task methods beyond the study) to a command;
    they reach it as keyword arguments named like the RunConfig fields."""
    return _add(METHOD_OPTIONS, command)


def echo_err(text):
    """A line for the user on stderr (results go to stdout)."""
    click.echo(text, err=True)


def click_progress(label, length, status=None):
    """The progress factory of the commands (see minimtl.common.progress): a click bar on stderr when
    stderr is a terminal, else nothing (click would print the bare label once, and each epoch's label
    would stand in a log file above the epoch's own line)."""
    if not sys.stderr.isatty():
        return no_progress(label, length, status)
    return click.progressbar(
        length=length,
        label=label,
        file=sys.stderr,
        show_eta=True,
        item_show_func=None if status is None else (lambda _: status()),
    )


def load_run_data(data_dir, image_size, crop, strict, progress, synthetic=False):
    """The real images under the data folder or, when no folder was named and data/ holds none, the
    synthetic phantoms (announced in one line on stderr); a named folder without images is an error.
    ``progress``: True draws a bar while decoding (on a terminal). ``synthetic=True`` asks for the
    phantoms directly (``--phantoms``, what ``announce_data`` decided, or a run trained on them).
    Ctrl-C while the images load ends the command, saying that nothing was written."""
    if synthetic:
        return make_phantoms(n_per_class=PHANTOMS_PER_CLASS, image_size=image_size, seed=PHANTOM_SEED)
    try:
        return load_or_phantoms(
            data_dir,
            image_size=image_size,
            crop=crop,
            strict=strict,
            progress=click_progress if progress else None,
            echo=echo_err,
            phantoms_per_class=PHANTOMS_PER_CLASS,
            seed=PHANTOM_SEED,
        )
    except DataError as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        echo_err("\nInterrupted while loading the images: nothing was written.")
        sys.exit(130)


def announce_data(data_dir, phantoms=False, layout="auto"):
    """Decide, before anything else is said or allocated, what a command trains on, and say it: the
    first lines on stderr. Returns True for the synthetic phantoms (asked for with ``--phantoms``, or
    standing in because no data folder was named and data/ holds no image), False for images.

    A data folder the user named that holds no image, and images that cannot be used as they are
    (two different files claiming one NLM name, a generic layout that is ambiguous), stop the command
    with a message that says which folder and what it expected.
    """
    if phantoms:
        if data_dir is not None:
            raise click.UsageError("--phantoms and --data-dir exclude each other: choose images or phantoms")
        echo_err("Using the built-in synthetic phantoms (--phantoms); every result will be marked SYNTHETIC.")
        return True
    try:
        scan, folder = find_images(data_dir, layout)
    except NoDataFound as error:
        echo_err(phantoms_notice(error))
        return True
    except DataError as error:
        raise click.ClickException(str(error)) from None
    for line in describe_scan(scan, folder):
        echo_err(line)
    return False


def disk_line(config, run_dir=None):
    """What a run of ``config`` writes to its folder: its checkpoints' sizes (and, when ``run_dir``'s disk has
    less room than that, how much it has)."""
    parts = estimate_run_disk(config)
    line = format_disk(parts)
    probe = Path(run_dir) if run_dir is not None else None
    while probe is not None and not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe is not None and probe.exists():
        free = shutil.disk_usage(probe).free
        if free < parts["peak"]:
            line += f"; only {free / 1e9:.2g} GB free in {probe}: the run will stop when the disk is full (resumable)"
    return line


def image_count(data_dir, synthetic=False):
    """How many images loading will decode (the phantoms' number when there are no real images)."""
    phantoms = 4 * PHANTOMS_PER_CLASS  # (2 datasets x 2 labels) x PHANTOMS_PER_CLASS
    return phantoms if synthetic else count_image_files(resolve_data_dir(data_dir)) or phantoms


def memory_line(configs, data_dir, synthetic=False, jobs=1):
    """Check that a run of ``configs`` (one RunConfig, or a comparison's) fits in memory before anything
    big is allocated; return the line that says how much it needs (NotEnoughMemory, naming both
    numbers, when it cannot fit)."""
    return check_memory(configs, image_count(data_dir, synthetic), jobs=jobs)


def check_writable(folder, option="--out"):
    """Before any image is loaded: can files be created in ``folder`` (or, where it does not exist
    yet, in the nearest folder above it, where it will be created)? A usage error naming the option."""
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise click.BadParameter(f"{probe} is a file, so {folder} cannot be created", param_hint=option)
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as error:
        raise click.BadParameter(
            f"cannot write in {probe} ({error.strerror}); choose a folder you can write to", param_hint=option
        ) from None


def write_error_message(error, run_dir):
    """One or two lines for an OSError while a run writes its files (a full disk, say)."""
    where = error.filename or run_dir
    if error.errno == errno.ENOSPC:
        what = f"no space left on the device while writing {where}"
    else:
        what = f"could not write {where} ({error.strerror or error})"
    return (
        f"{what}. Files already saved are intact (every file is written whole or not at all): fix that, then "
        f"continue with: python cli.py run --resume {run_dir}"
    )
