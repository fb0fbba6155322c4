"""``lorakit eval`` with ``answer`` as a list of aliases: any alias matching is correct."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.evaluate.report import load_rows

runner = CliRunner()


def _write(tmp_path, records, name="preds.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _eval(tmp_path, preds):
    out = tmp_path / "res"
    result = runner.invoke(app, ["eval", "--predictions", str(preds), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    res = json.loads((out / "results.json").read_text())
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    return res, samples


def test_exact_any_alias_is_correct_and_no_n_key(tmp_path):
    recs = [{"prompt": "Q", "completion": " NYC", "answer": ["New York", "NYC"], "prediction": "new york!"},
            {"prompt": "Q", "completion": " NYC", "answer": ["New York", "NYC"], "prediction": "nyc"},
            {"prompt": "Q", "completion": " NYC", "answer": ["New York", "NYC"], "prediction": "Boston"},
            {"prompt": "Q", "completion": " Paris", "prediction": "Paris"}]
    res, samples = _eval(tmp_path, _write(tmp_path, recs))
    assert res["results"]["preds"]["exact_match,none"] == pytest.approx(0.75)
    assert "n" not in res["results"]["preds"]  # counts live in n-samples, as in lm-eval
    assert res["n-samples"]["preds"] == {"original": 4, "effective": 4}
    assert [s["correct"] for s in samples] == [True, True, False, True]
    assert samples[0]["target"] == ["New York", "NYC"] and samples[3]["target"] == " Paris"
    assert load_rows([str(tmp_path / "res")])[0].scores == {"preds": pytest.approx(0.75)}


def test_numeric_aliases(tmp_path):
    recs = [{"prompt": "Q", "completion": "#### 4", "answer": ["#### 4", "#### 4.0", "#### 5"], "prediction": "so 5"},
            {"prompt": "Q", "completion": "#### 4", "answer": ["#### 4"], "prediction": "#### 6"}]
    res, samples = _eval(tmp_path, _write(tmp_path, recs))
    assert res["configs"]["preds"]["metric_list"][0]["compare"] == "numeric"
    assert [s["correct"] for s in samples] == [True, False] and samples[0]["extracted"] == 5


def test_bridge_final_answer_any_alias(tmp_path):
    base = {"prompt": "Q", "completion": " Tavi lives in Arvo.", "bridge": "Tavi", "answer": ["Arvo", "Arvo City"]}
    recs = [base | {"prediction": "Tavi lives in Arvo City."}, base | {"prediction": "Tavi lives in Bel."}]
    res, samples = _eval(tmp_path, _write(tmp_path, recs))
    assert res["results"]["preds"]["exact_match,none"] == 0.5
    assert res["results"]["preds"]["bridge_match,none"] == 1.0
    assert [s["correct"] for s in samples] == [True, False]


@pytest.mark.parametrize("answer", [[], ["NYC", ""], ["NYC", 3], ["  "]])
def test_bad_alias_list_exit_3(tmp_path, answer):
    recs = [{"prompt": "Q", "completion": " a", "prediction": "a"},
            {"prompt": "Q", "completion": " a", "answer": answer, "prediction": "a"}]
    preds = _write(tmp_path, recs)
    result = runner.invoke(app, ["eval", "--predictions", str(preds), "--out", str(tmp_path / "res")])
    assert result.exit_code == 3
    assert f"{preds}:2: 'answer' as a list (aliases) must be non-empty and hold non-empty strings" in result.stderr
    assert not (tmp_path / "res").exists()


def test_bad_alias_list_in_bridge_record_exit_3(tmp_path):
    recs = [{"prompt": "Q", "completion": " a", "bridge": "B", "answer": [], "prediction": "a"}]
    preds = _write(tmp_path, recs)
    result = runner.invoke(app, ["eval", "--predictions", str(preds)])
    assert result.exit_code == 3 and f"{preds}:1:" in result.stderr
