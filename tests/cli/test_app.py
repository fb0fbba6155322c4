"""The app itself: help, version, fast start, generated docs and completions up to date."""

import re
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from lorakit import __version__
from lorakit.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("gen-data", "pretrain-lm", "train-lora", "eval", "report"):
        assert name in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"lorakit {__version__}"


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; from lorakit.cli import app; "
            "heavy = [m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "lorakit", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"lorakit {__version__}"


def test_readme_reference_is_current():
    from lorakit.cli.docs import render_readme

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert render_readme(readme) == readme, "README is stale: run `make docs`"


def _leaf_commands(cmd, path):
    """(path, command) of every runnable command, walked here (not with the generator's walker)."""
    if not hasattr(cmd, "list_commands"):
        return [(path, cmd)]
    ctx = typer.Context(cmd, info_name=path)
    return [leaf for name in cmd.list_commands(ctx) for leaf in _leaf_commands(cmd.get_command(ctx, name), f"{path} {name}")]


def test_readme_reference_names_every_option_of_every_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    reference = readme[readme.index("<!-- BEGIN COMMANDS -->"):readme.index("<!-- END COMMANDS -->")]
    sections = dict(re.findall(r"^### `([^`]+)`\n(.*?)(?=^### |\Z)", reference, re.S | re.M))
    leaves = _leaf_commands(typer.main.get_command(app), "lorakit")
    assert "lorakit gen-data twohop" in dict(leaves) and len(leaves) > 10
    for path, cmd in leaves:
        assert path in sections, f"README has no section for `{path}`: run `make docs`"
        rows = {m for row in re.findall(r"^\| `([^`]+)` \|", sections[path], re.M) for m in row.split(", ")}
        for p in cmd.params:
            if p.param_type_name == "option" and p.name != "help":
                missing = {*p.opts, *p.secondary_opts} - rows
                assert not missing, f"README section `{path}` lacks {sorted(missing)}: run `make docs`"


def test_completions_are_current():
    from lorakit.cli.docs import completion_scripts

    for name, script in completion_scripts().items():
        assert (ROOT / "completions" / name).read_text(encoding="utf-8") == script, f"run `make completions` ({name})"
