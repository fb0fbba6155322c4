"""``lorakit gen-data math`` through the real CLI; outputs checked with the library's loaders."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.io import PROVENANCE, read_json, read_jsonl

runner = CliRunner()
SMALL = ["--train-per-skill", "6", "--test-per-level", "3", "--stories", "10"]


def gen(*args: str):
    return runner.invoke(app, ["gen-data", "math", *args])


def test_help():
    result = runner.invoke(app, ["gen-data", "--help"])
    assert result.exit_code == 0 and "math" in result.stdout
    result = gen("--help")
    assert result.exit_code == 0
    for flag in ("--out", "--seed", "--skills", "--levels", "--min-number", "--max-number", "--force", "--json"):
        assert flag in result.stdout


def test_happy_path_json_summary(tmp_path):
    out = tmp_path / "math"
    result = gen("--out", str(out), *SMALL, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["out"] == str(out)
    assert sorted(summary["counts"]) == sorted(p.name for p in out.iterdir() if p.name not in ("manifest.json", PROVENANCE))
    assert summary["counts"]["test_mul.jsonl"] == len(read_jsonl(out / "test_mul.jsonl", ["prompt", "completion"])) == 9
    assert summary["counts"]["test_composed_P2.jsonl"] == 3 and summary["counts"]["mixed.jsonl"] == 18
    assert "wrote" in result.stderr
    provenance = read_json(out / PROVENANCE)
    assert provenance["command"] == "gen-data math" and provenance["options"]["max_number"] == 20


def test_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        assert gen("--out", str(tmp_path / name), *SMALL, "--seed", "7", "-q").exit_code == 0
    for f in (tmp_path / "a").iterdir():
        if f.name != PROVENANCE:  # provenance records the time and the output path
            assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name


def test_quiet_prints_nothing(tmp_path):
    result = gen("--out", str(tmp_path / "d"), *SMALL, "--quiet")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""


def test_existing_out_refused_then_force_replaces(tmp_path):
    out = tmp_path / "math"
    assert gen("--out", str(out), *SMALL, "-q").exit_code == 0
    result = gen("--out", str(out), *SMALL, "--seed", "1")
    assert result.exit_code == 4 and "--force" in result.stderr
    assert read_json(out / "manifest.json")["seed"] == 0
    assert gen("--out", str(out), *SMALL, "--seed", "1", "--force", "-q").exit_code == 0
    assert read_json(out / "manifest.json")["seed"] == 1


def test_unknown_names_and_impossible_knobs_exit_2_nothing_written(tmp_path):
    out = tmp_path / "math"
    result = gen("--out", str(out), "--skills", "add,div", "--levels", "P0,P9", "--min-number", "10", "--max-number", "5")
    assert result.exit_code == 2
    assert "unknown skill(s) div in --skills (choose from add, mul, pct)" in result.stderr
    assert "unknown level(s) P9 in --levels (choose from P0, P1, P2)" in result.stderr
    assert "--max-number (5) is below --min-number (10)" in result.stderr
    result = gen("--out", str(out), "--max-number", "10")
    assert result.exit_code == 2 and "no pct problem at P2 has every number in [2, 10]" in result.stderr
    result = gen("--out", str(out), "--skills", "pct", "--levels", "P0", "--max-number", "4", "--test-per-level", "600")
    assert result.exit_code == 2 and "could not draw a new pct problem at P0" in result.stderr
    assert list(tmp_path.iterdir()) == []
