"""The click command group behind ``python cli.py``.

Each command lives in its own module; this file only gathers them.
"""

import click

from minimtl import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minimtl")
def main():
    """minimtl: rerun and measure a multi-task chest X-ray study."""


__all__ = ["main"]
