"""Every command's --help reads cleanly, and `distill --version` prints the installed version."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
import typer
from typer.testing import CliRunner

from distill.cli.main import app


def command_paths(command, path=()) -> list[tuple[str, ...]]:
    """The argv prefix of every command and group under ``command`` (the root included)."""
    paths = [path]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        paths += command_paths(sub, (*path, name))
    return paths


ROOT = typer.main.get_command(app)
PATHS = command_paths(ROOT)


def test_every_command_is_listed():
    names = {" ".join(path) for path in PATHS}
    assert {"generate", "scan", "models info", "codes show", "vocoder download", "train-prior"} <= names


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "distill")
def test_help_has_no_typer_artefacts(path):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    text = result.output
    assert "<bool>" not in text  # flags take no value
    assert not re.search(r"--\S+\s+<list\[", text)  # a repeatable option shows its element's type
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage  # required arguments as NAME, not {name}
    # Arguments are named as the docstrings name them (FOLDER, MODEL), in usage and in their panel.
    assert not re.search(r"Usage:.*\b[a-z_]+\b\s*$", usage.replace("[OPTIONS]", "").split("distill")[-1]), (
        usage
    )
    for line in text.splitlines():
        assert len(line.rstrip()) <= 100, line


def test_help_text_is_plain_text_reflowed_to_the_terminal():
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "100"})
    # Brackets are text, not rich markup: the extra's name survives.
    assert "distill[bigvgan]" in result.output
    # Each command's summary is one paragraph that rich wraps: no line breaks kept from the source.
    for path in PATHS[1:]:
        command = ROOT
        for name in path:
            command = command.commands[name]
        for paragraph in (command.help or "").split("\n\n"):
            assert "\n" not in paragraph, (path, paragraph)


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"distill {version('distill')}\n"
