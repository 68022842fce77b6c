"""Command line of minimtl: ``python cli.py --help``."""

import click

from minimtl import __version__


@click.group()
@click.version_option(__version__, prog_name="minimtl")
def main():
    """minimtl: rerun and measure a multi-task chest X-ray study."""


if __name__ == "__main__":
    main()
