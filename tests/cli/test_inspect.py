"""lorakit inspect: JSON on stdout, --out file, table on stderr, error paths."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from tests.helpers import make_peft_adapter

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["inspect", *map(str, args)])


@pytest.fixture(scope="module")
def pair(make_tiny_model, tmp_path_factory):
    base = make_tiny_model("llama")
    d = tmp_path_factory.mktemp("cli-inspect")
    return make_peft_adapter(base, d / "a", seed=1), make_peft_adapter(base, d / "b", seed=2, targets=["q_proj", "v_proj"])


def test_help():
    result = run("--help")
    assert result.exit_code == 0 and "--json" in result.output and "--top" in result.output


def test_json_out_and_table(pair, tmp_path):
    a, b = pair
    out = tmp_path / "inspect.json"
    result = run(a, b, "--json", "--out", out, "--top", "2")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == json.loads(out.read_text())
    assert len(report["adapters"]) == 2 and len(report["pairs"]) == 1 and len(report["modules"]) == 14
    assert len(report["adapters"][0]["modules"]["model.layers.0.self_attn.q_proj"]["singular_values"]) == 2
    assert len(report["pairs"][0]["modules"]) == 4 and 0 < report["uniform"]["cross_share"] < 1
    assert "LoRA inspect" in result.stderr and "0.q_proj" in result.stderr
    quiet = run(a, "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""
    assert run(a, "--out", out).exit_code == 4


def test_missing_adapter(tmp_path):
    result = run(tmp_path / "nope")
    assert result.exit_code == 3 and "no such adapter folder" in result.output
