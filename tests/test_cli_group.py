"""The command group: every listed command resolves, and --help imports none of them."""

import subprocess
import sys

import click
from click.testing import CliRunner

from minimtl.commands import COMMANDS, SHORT_HELP, main


def test_every_listed_command_resolves_to_a_click_command_of_that_name():
    assert set(SHORT_HELP) == set(COMMANDS)
    ctx = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name


def test_help_lists_the_commands_without_importing_them():
    code = (
        "import sys; from click.testing import CliRunner; from minimtl.commands import main; "
        "r = CliRunner().invoke(main, ['--help']); print(r.output); "
        "print('HEAVY' if {'numba', 'matplotlib', 'sklearn'} & set(sys.modules) else 'LIGHT')"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in COMMANDS:
        assert name in output
    assert output.strip().endswith("LIGHT")


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["trian"])
    assert result.exit_code == 2 and "No such command" in result.output
