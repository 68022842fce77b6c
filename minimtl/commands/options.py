"""Options shared by the commands that read images, the one way they load them, and the terminal's
progress bars and messages (the library below the commands takes them as callbacks)."""

import sys
from pathlib import Path

import click

from minimtl.data import DataError, load_or_phantoms, make_phantoms, resolve_data_dir

__all__ = ["data_options", "load_run_data", "click_progress", "echo_err", "PHANTOMS_PER_CLASS", "PHANTOM_SEED"]

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
DATA_OPTIONS = [
    DATA_DIR_OPTION,
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


def data_options(command):
    """Add --data-dir, --image-size, --crop and --strict to a click command."""
    for option in reversed(DATA_OPTIONS):
        command = option(command)
    return command


def echo_err(text):
    """A line for the user on stderr (results go to stdout)."""
    click.echo(text, err=True)


def click_progress(label, length, status=None):
    """The progress factory of the commands (see minimtl.common.progress): a click bar on stderr."""
    return click.progressbar(
        length=length,
        label=label,
        file=sys.stderr,
        show_eta=True,
        item_show_func=None if status is None else (lambda _: status()),
    )


def load_run_data(data_dir, image_size, crop, strict, progress, synthetic=False):
    """The real images under the data folder or, when there are none, the synthetic phantoms
    (announced in one line on stderr). ``progress``: True draws a bar while decoding.
    ``synthetic=True`` asks for the phantoms directly (to resume or evaluate a run that was trained
    on them)."""
    if synthetic:
        return make_phantoms(n_per_class=PHANTOMS_PER_CLASS, image_size=image_size, seed=PHANTOM_SEED)
    try:
        return load_or_phantoms(
            resolve_data_dir(data_dir),
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
