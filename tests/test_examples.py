"""The example makefiles' lorakit command lines parse with the current CLI (``make -n``: nothing runs)."""

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import typer

from lorakit.cli import app

ROOT = Path(__file__).resolve().parents[1]
MAKEFILES = sorted(p.name for p in (ROOT / "examples").glob("*.mk"))
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def dry_run(makefile: str, *overrides: str) -> list[list[str]]:
    """The arguments of every ``lorakit`` command ``make -n`` prints for ``makefile`` (pipes split)."""
    out = subprocess.run(["make", "-n", "--no-print-directory", "-f", f"examples/{makefile}",
                          "RUN=/nonexistent/dry", "LORAKIT=lorakit", *overrides],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    commands = []
    for line in out.replace("\\\n", " ").splitlines():
        for part in line.split("|"):
            words = shlex.split(part)
            if words[:1] == ["lorakit"]:
                commands.append(words[1:])
    return commands


def parse(args: list[str]):
    """Parse ``args`` as the lorakit command line would (types, choices, unknown options), without
    running it; the (sub)command's context. (Typer 0.29 carries its own click: groups are duck-typed.)"""
    cmd, name = typer.main.get_command(app), "lorakit"
    while hasattr(cmd, "commands"):  # a group: the next word names its subcommand
        name, args = args[0], args[1:]
        cmd = cmd.commands[name]
    return cmd.make_context(name, list(args))


@pytest.mark.parametrize("makefile", MAKEFILES)
def test_every_lorakit_line_of_an_example_parses(makefile):
    commands = dry_run(makefile)
    assert commands, f"make -n printed no lorakit command for {makefile}"
    for args in commands:
        parse(args)  # raises a UsageError on an unknown option or a bad value


def test_faithfulness_model_size_reaches_pretrain_bert():
    commands = dry_run("faithfulness.mk", "HIDDEN=96", "HEADS=3", "INTERMEDIATE=256")
    lines = [a for a in commands if a[0] == "pretrain-bert"]
    assert len(lines) == 3  # one BERT per language
    for args in lines:
        params = parse(args).params
        assert (params["hidden"], params["heads"], params["intermediate"]) == (96, 3, 256)
