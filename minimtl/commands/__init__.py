"""The click command group behind ``python cli.py``.

Each command lives in its own module; this file only gathers them.
"""

import click

from minimtl import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minimtl")
def main():
    """minimtl: rerun and measure a multi-task chest X-ray study."""


from minimtl.commands.data_command import data  # noqa: E402  (commands register after main exists)

main.add_command(data)

__all__ = ["main"]


# Each command registers here, in the order `--help` lists them.
from minimtl.commands.run_command import run_command  # noqa: E402
from minimtl.commands.evaluate_command import evaluate_command  # noqa: E402
from minimtl.commands.compare_command import compare_command  # noqa: E402

main.add_command(run_command)
main.add_command(evaluate_command)
main.add_command(compare_command)
