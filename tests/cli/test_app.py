"""The app itself: help, version, fast start, generated docs and completions up to date."""

import subprocess
import sys
from pathlib import Path

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


def test_completions_are_current():
    from lorakit.cli.docs import completion_scripts

    for name, script in completion_scripts().items():
        assert (ROOT / "completions" / name).read_text(encoding="utf-8") == script, f"run `make completions` ({name})"
