"""Bridge-format records: scored on the final answer, with the bridge entity's accuracy beside it."""

import json

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.evaluate.metrics import final_match, first_match

runner = CliRunner()


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _bridge(i, prediction, split="test_F_bridge"):
    return {"id": f"{split}-{i}", "prompt": "Q: Where does the spouse of Abu Ka live? Think step by step. A:",
            "completion": " Tavi Monu, who lives in Arvo.", "answer": "Arvo", "bridge": "Tavi Monu",
            "split": split, "prediction": prediction}


def test_final_and_first_match():
    assert final_match("Tavi Monu, who lives in Arvo.", "Arvo") and final_match(" Arvo", "arvo")
    assert not final_match("Tavi Monu, who lives in Arvo Deli.", "Arvo") and not final_match("", "Arvo")
    assert first_match("Tavi Monu, who lives in Arvo.", "Tavi Monu") and not first_match("Tavi, who", "Tavi Monu")
    assert not first_match("Arvo", "")


def test_predictions_score_final_answer_and_bridge(tmp_path):
    preds = [_bridge(0, "Tavi Monu, who lives in Arvo."),  # both
             _bridge(1, "Tavi Monu, who lives in Deli."),  # hop 1 only
             _bridge(2, "Arvo"),  # answered without the chain
             _bridge(3, "Kala Ri, who lives in Deli.")]  # neither
    out = tmp_path / "res"
    result = runner.invoke(app, ["eval", "--predictions", str(_write(tmp_path / "p.jsonl", preds)), "--out", str(out),
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    res = json.loads((out / "results.json").read_text())
    entry = res["results"]["test_F_bridge"]
    assert entry["exact_match,none"] == pytest.approx(0.5) and entry["bridge_match,none"] == pytest.approx(0.5)
    assert [m["metric"] for m in res["configs"]["test_F_bridge"]["metric_list"]] == ["exact_match", "bridge_match"]
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [(s["correct"], s["bridge_correct"]) for s in samples] == [(True, True), (False, True), (True, False),
                                                                      (False, False)]
    report = runner.invoke(app, ["report", str(out), "--quiet"])
    assert report.exit_code == 0, report.output
    assert "| res | 50.0 / 50.0 |" in report.stdout
    assert "y the bridge entity named first" in report.stdout
    result = runner.invoke(app, ["report", str(out), "--json", "--quiet"])
    assert json.loads(result.stdout)["rows"] == [{"run": "res", "test_F_bridge": 0.5,
                                                  "bridge_match": {"test_F_bridge": 0.5}}]


def test_plain_tasks_have_no_bridge_metric(tmp_path):
    preds = [{"prompt": "Q: x A:", "completion": " Arvo", "prediction": "Arvo", "split": "test_F"}]
    out = tmp_path / "res"
    result = runner.invoke(app, ["eval", "--predictions", str(_write(tmp_path / "p.jsonl", preds)), "--out", str(out),
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    entry = json.loads((out / "results.json").read_text())["results"]["test_F"]
    assert entry["exact_match,none"] == 1.0 and "bridge_match,none" not in entry


@pytest.mark.parametrize("drop, key", [("bridge", "bridge"), ("answer", "answer")])
def test_bridge_record_without_what_eval_needs(tiny_llama_dir, tmp_path, drop, key):
    records = [_bridge(0, "x"), _bridge(1, "y")]
    del records[1][drop], records[0]["prediction"], records[1]["prediction"]
    data = _write(tmp_path / "test_F_bridge.jsonl", records)
    out = tmp_path / "res"
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(data), "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 3
    assert f"test_F_bridge.jsonl:2: a bridge record needs {key!r}" in result.stderr
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["test_F_bridge.jsonl"]


def test_bridge_named_file_without_bridge_fields(tmp_path):
    """Checked per task; the line is the record's line in a predictions file of several tasks."""
    preds = [{"prompt": "Q: x A:", "completion": " Arvo", "prediction": "Arvo", "split": "test_F"},
             _bridge(0, "Arvo", split="control_bridge"),
             {"prompt": "Q: x A:", "completion": " Arvo", "prediction": "Arvo", "split": "control_bridge"}]
    result = runner.invoke(app, ["eval", "--predictions", str(_write(tmp_path / "p.jsonl", preds)),
                                 "--out", str(tmp_path / "res")])
    assert result.exit_code == 3
    assert "p.jsonl:3: a bridge record needs 'bridge'" in result.stderr
    assert not (tmp_path / "res").exists()
