"""The command group: every listed command resolves, and --help imports none of them."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from minimtl import __version__
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


REPO = Path(__file__).resolve().parents[1]


def test_python_dash_m_minimtl_runs_the_command_group():
    """`python -m minimtl` (minimtl/__main__.py) is the group of cli.py: its help lists every command."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "minimtl", "--help"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    for name in COMMANDS:
        assert name in result.stdout
    version = subprocess.run(
        [sys.executable, "-m", "minimtl", "--version"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert version.returncode == 0 and __version__ in version.stdout


def test_the_minimtl_script_of_pyproject_is_the_command_group():
    """`pip install -e .` installs a `minimtl` command: [project.scripts] names the click group of cli.py."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+ (on 3.10, which the project allows, this skips)
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"minimtl": "minimtl.commands:main"}
    module_name, attribute = scripts["minimtl"].split(":")
    assert getattr(importlib.import_module(module_name), attribute) is main
