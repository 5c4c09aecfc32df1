"""Every ``care-bridge`` command line the README shows is a valid command with valid options (parsed by the real
argument parser; the commands themselves run in the tests of each sub-command with tiny data)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from care_bridge.cli.main import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands() -> list[str]:
    out = []
    for line in README.read_text().splitlines():
        s = line.strip()
        if s.startswith("care-bridge ") and not s.startswith("care-bridge: "):
            out.append(s.split("  #")[0].split(" # ")[0].strip())
    return out


def test_the_readme_shows_commands():
    names = {c.split()[1] for c in _commands()}
    assert {"datagen", "train", "export", "predict", "calibrate", "evaluate"} <= names


@pytest.mark.parametrize("line", _commands())
def test_readme_command_parses(line, capsys):
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert getattr(args, "func", None) is not None, line
