import json

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from tests.helpers import qa_records

runner = CliRunner()


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def own_answers(tiny_llama_dir, tmp_path_factory):
    """Records whose completions are the model's own greedy answers (so EM must be 1.0)."""
    from lorakit.evaluate.generate import generate
    from lorakit.models.load import load_causal_lm

    model, tok = load_causal_lm(tiny_llama_dir)
    records = qa_records(12, seed=5)
    preds = generate(model, tok, [r["prompt"] for r in records], max_new_tokens=8)
    for i, (r, p) in enumerate(zip(records, preds)):
        r.update(id=f"x-{i}", completion=" " + p, split="own")
    return _write(tmp_path_factory.mktemp("data") / "own.jsonl", records)


def test_help():
    result = runner.invoke(app, ["eval", "--help"])
    assert result.exit_code == 0
    assert "--predictions" in result.output


def test_happy_path_writes_lm_eval_layout(tiny_llama_dir, own_answers, tmp_path):
    wrong = _write(tmp_path / "wrong.jsonl", [{"prompt": "Q: x A:", "completion": " definitely not this"}])
    out = tmp_path / "res"
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(own_answers), str(wrong), "--out", str(out),
                                 "--device", "cpu", "--max-new-tokens", "8", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    res = json.loads((out / "results.json").read_text())
    assert res["results"]["own"]["exact_match,none"] == 1.0
    assert res["results"]["wrong"]["exact_match,none"] == 0.0
    assert res["n-samples"]["own"] == {"original": 12, "effective": 12}
    for key in ("configs", "versions", "n-shot", "higher_is_better", "config", "date", "transformers_version"):
        assert key in res
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 13 and all(s["correct"] for s in samples if s["task"] == "own")
    assert json.loads((out / "lorakit.json").read_text())["command"] == "eval"
    summary = json.loads(result.stdout)
    assert summary["results"]["own"]["exact_match,none"] == 1.0


def test_stdin_data_and_predictions_roundtrip(tiny_llama_dir, own_answers, tmp_path):
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), "-", "--out", str(tmp_path / "r"), "--device", "cpu",
                                 "--max-new-tokens", "8", "--quiet"], input=own_answers.read_text())
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "results.json").read_text())["results"]["own"]["exact_match,none"] == 1.0
    preds = [json.loads(line) | {"prediction": "nope"} for line in own_answers.read_text().splitlines()]
    preds[0]["prediction"] = preds[0]["completion"]
    result = runner.invoke(app, ["eval", "--predictions", str(_write(tmp_path / "p.jsonl", preds)), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"]["own"]["exact_match,none"] == pytest.approx(1 / 12)


def test_malformed_line_names_file_and_line(tiny_llama_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a", \n')
    out = tmp_path / "res"
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(bad), "--out", str(out)])
    assert result.exit_code == 3
    assert f"{bad}:2: invalid JSON" in result.stderr
    assert not out.exists()


def test_missing_field(tiny_llama_dir, tmp_path):
    bad = _write(tmp_path / "bad.jsonl", [{"prompt": "a"}])
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(bad)])
    assert result.exit_code == 3
    assert f"{bad}:1: missing field(s) 'completion'" in result.stderr


def test_missing_model_folder_fails_fast(own_answers, tmp_path):
    result = runner.invoke(app, ["eval", str(tmp_path / "nope"), str(own_answers)])
    assert result.exit_code == 3
    assert "nope: no such model folder" in result.stderr
    result = runner.invoke(app, ["eval", str(tmp_path), str(own_answers)])
    assert result.exit_code == 3
    assert "not a Hugging Face model folder (no config.json)" in result.stderr


def test_existing_out_refused(tiny_llama_dir, own_answers, tmp_path):
    (tmp_path / "res").mkdir()
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(own_answers), "--out", str(tmp_path / "res")])
    assert result.exit_code == 4
    assert "already exists (pass --force to replace it)" in result.stderr


def test_usage_errors():
    result = runner.invoke(app, ["eval"])
    assert result.exit_code == 2
    assert "give MODEL and at least one DATA file, or --predictions FILE" in result.stderr
    result = runner.invoke(app, ["eval", "--predictions", "p.jsonl", "model"])
    assert result.exit_code == 2
    assert "--predictions scores an existing file" in result.stderr
