"""The click command group behind ``python cli.py``.

Each command lives in its own module, imported only when that command runs: the training
commands pull in Numba, SciPy, scikit-learn and matplotlib, which take seconds to import, and
``python cli.py --help`` or ``python cli.py data`` should not wait for them.
"""

import importlib

import click

from minimtl import __version__

__all__ = ["main", "COMMANDS"]

# command name -> (module, function), in the order `--help` lists them
COMMANDS = {
    "data": ("minimtl.commands.data_command", "data"),
    "run": ("minimtl.commands.run_command", "run_command"),
    "evaluate": ("minimtl.commands.evaluate_command", "evaluate_command"),
    "compare": ("minimtl.commands.compare_command", "compare_command"),
    "explain": ("minimtl.commands.explain_command", "explain_command"),
}

SHORT_HELP = {
    "data": "Show what the data folder holds: datasets, counts, patients, duplicates.",
    "run": "Train one architecture and write runs/NAME/.",
    "evaluate": "Score a saved model on its own test images or another site.",
    "compare": "Every architecture over several seeds, with intervals.",
    "explain": "Saliency maps, site shortcut and shift test of a saved run.",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use (click's 'lazy loading' pattern)."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[name]
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx, formatter):
        # Listing the commands must not import them: use the short help written here.
        with formatter.section("Commands"):
            formatter.write_dl([(name, SHORT_HELP[name]) for name in COMMANDS])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minimtl")
def main():
    """minimtl: rerun and measure a multi-task chest X-ray study."""
