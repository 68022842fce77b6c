"""``python cli.py data``: say what the data folder holds, and how a split would cut it."""

import json

import click
import numpy as np

from minimtl.commands.options import (
    PHANTOM_SEED,
    PHANTOMS_PER_CLASS,
    announce_data,
    click_progress,
    data_options,
    echo_err,
)
from minimtl.data import DataError, load_collection, make_phantoms
from minimtl.data.layouts import LAYOUTS
from minimtl.data.splits import SPLIT_METHODS, make_split
from minimtl.data.summary import format_summary, summarize

__all__ = ["data"]


@click.command("data")
@data_options
@click.option(
    "--layout", type=click.Choice(LAYOUTS), default="auto", show_default=True, help="Folder layout to look for."
)
@click.option(
    "--split",
    "split_method",
    type=click.Choice(SPLIT_METHODS),
    default=None,
    help="Also show this split and its leaks.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split.")
@click.option(
    "--test-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of each (dataset, label) on the test side.",
)
@click.option(
    "--val-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.1,
    show_default=True,
    help="Share of the training side kept for validation.",
)
@click.option("--no-cache", is_flag=True, help="Decode every file again and do not write the cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def data(
    data_dir, phantoms, image_size, crop, strict, layout, split_method, seed, test_fraction, val_fraction, no_cache,
    as_json,
):  # fmt: skip
    """Show the datasets, sites, labels, splits, patients, duplicates and skipped files found (on stderr first,
    what each layout found, before anything is decoded)."""
    try:
        if announce_data(data_dir, phantoms, layout=layout):
            # the same phantoms that `run` trains on
            collection = make_phantoms(n_per_class=PHANTOMS_PER_CLASS, image_size=image_size, seed=PHANTOM_SEED)
        else:
            collection = load_collection(
                data_dir,
                image_size=image_size,
                crop=crop,
                layout=layout,
                strict=strict,
                cache=not no_cache,
                progress=click_progress,
                echo=echo_err,
            )
    except DataError as error:
        raise click.ClickException(str(error)) from None
    split = None
    if split_method:
        split = make_split(collection, split_method, np.random.default_rng(seed), test_fraction, val_fraction)
    summary = summarize(collection, split)
    if as_json:
        click.echo(json.dumps(summary, indent=1))
    else:
        click.echo(format_summary(summary))
