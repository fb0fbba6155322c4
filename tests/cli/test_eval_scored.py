"""``eval --scored FILE``: pairwise accuracy of a rescored file; the old spelling ``eval --task faithfulness FILE``."""

import json

import pytest
from typer.testing import CliRunner

from lorakit.cli import app

runner = CliRunner()


def _scored(path):
    records = [{"source": "s", "candidates": ["a", "b"], "label": i % 2, "best": 0, "scores": [1.0, 0.0],
                "lang": lang, "perturbation": "negation", "id": f"{lang}-{i}"} for lang in ("vi", "pl") for i in range(4)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _results(out):
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_scored_is_in_help():
    assert "--scored" in runner.invoke(app, ["eval", "--help"]).output


def test_scored_and_the_old_spelling_agree(tmp_path):
    scored = _scored(tmp_path / "scored.jsonl")
    new = runner.invoke(app, ["eval", "--scored", str(scored), "--out", str(tmp_path / "new")])
    old = runner.invoke(app, ["eval", "--task", "faithfulness", str(scored), "--out", str(tmp_path / "old")])
    assert new.exit_code == 0 and old.exit_code == 0, (new.output, old.output)
    a, b = _results(tmp_path / "new"), _results(tmp_path / "old")
    assert a["results"] == b["results"] and a["typology"] == b["typology"] and a["n-samples"] == b["n-samples"]
    assert a["results"]["faithfulness"]["acc,none"] == 0.5
    assert list(a)[:3] == ["results", "typology", "configs"]
    assert a["higher_is_better"]["faithfulness/vi"] == {"acc": True}
    minimal = runner.invoke(app, ["eval", "--scored", str(scored), "--task", "minimal-pairs", "--out", str(tmp_path / "mp")])
    assert minimal.exit_code == 0 and "minimal-pairs/pl" in _results(tmp_path / "mp")["results"]


@pytest.mark.parametrize("extra, message", [
    (["model-folder"], "--scored scores an existing file: give no MODEL"),
    (["--task", "twohop"], "--task must be one of faithfulness, minimal-pairs to score a rescored file, not 'twohop'"),
    (["--shard", "0/2"], "--shard splits generation: not with --scored"),
    (["--limit", "0"], "--limit must be at least 1, not 0"),
])
def test_scored_refuses_what_does_not_apply(tmp_path, extra, message):
    scored = _scored(tmp_path / "scored.jsonl")
    result = runner.invoke(app, ["eval", "--scored", str(scored), "--out", str(tmp_path / "ev"), *extra])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert not (tmp_path / "ev").exists()


def test_task_faithfulness_without_a_file(tmp_path):
    result = runner.invoke(app, ["eval", "--task", "faithfulness", "--out", str(tmp_path / "ev")])
    assert result.exit_code == 2 and "--task faithfulness needs the rescored JSONL file" in result.stderr
