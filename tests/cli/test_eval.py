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
    from lorakit.models.generate import generate
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


# eval --route: route's code, scored in one command ---------------------------------------------------


@pytest.fixture(scope="module")
def routed(tiny_llama_dir, tmp_path_factory):
    from tests.helpers import make_peft_adapter

    d = tmp_path_factory.mktemp("eval-route")
    data = _write(d / "t.jsonl", [{**r, "split": "t"} for r in qa_records(6, seed=4)])
    adapters = [make_peft_adapter(tiny_llama_dir, d / f"a{i}", r=4, alpha=8, seed=i, std=0.3) for i in range(2)]
    return data, adapters


def test_route_gives_the_same_metrics_as_route_then_predictions(tiny_llama_dir, routed, tmp_path):
    data, (a, b) = routed
    lib = ["--adapter", str(a), "--adapter", str(b), "--top-k", "2", "--temperature", "0.5", "--max-new-tokens", "6",
           "--batch-size", "4", "--quiet"]
    preds = tmp_path / "p.jsonl"
    assert runner.invoke(app, ["route", str(tiny_llama_dir), str(data), *lib, "--out", str(preds)]).exit_code == 0
    two = runner.invoke(app, ["eval", "--predictions", str(preds), "--out", str(tmp_path / "two"), "--quiet"])
    assert two.exit_code == 0, two.output
    one = runner.invoke(app, ["eval", str(tiny_llama_dir), str(data), "--route", "arrow", *lib, "--out", str(tmp_path / "one"), "--json"])
    assert one.exit_code == 0, one.output
    res_one, res_two = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("one", "two"))
    assert res_one["results"] == res_two["results"] and json.loads(one.stdout)["results"] == res_one["results"]
    assert res_one["config"]["model_args"] == f"pretrained={tiny_llama_dir},route=arrow:{a}+{b}"
    samples = [json.loads(line) for line in (tmp_path / "one" / "samples.jsonl").read_text().splitlines()]
    want = [json.loads(line) for line in (tmp_path / "two" / "samples.jsonl").read_text().splitlines()]
    assert [(s["prediction"], s["routing"]) for s in samples] == [(s["prediction"], s["routing"]) for s in want]
    assert samples[0]["routing"]["method"] == "arrow"


def test_route_min_entropy_over_two_tasks(tiny_llama_dir, routed, own_answers, tmp_path):
    data, (a, b) = routed
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(data), str(own_answers), "--route", "min-entropy",
                                 "--adapter", str(a), "--adapter", str(b), "--max-new-tokens", "4", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["results"]) == {"t", "own"}


def test_route_usage_errors(tiny_llama_dir, routed, tmp_path):
    data, (a, b) = routed
    out = tmp_path / "res"
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(data), "--adapter", str(a), "--adapter", str(b), "--out", str(out)])
    assert result.exit_code == 2 and "--adapter is given once (several only with --route METHOD)" in result.stderr
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(data), "--route", "arrow", "--adapter", str(a),
                                 "--top-k", "2", "--out", str(out)])
    assert result.exit_code == 2 and "--top-k 2 is larger than the library (1 adapter(s))" in result.stderr
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(data), "--route", "arrow", "--out", str(out)])
    assert result.exit_code == 2 and "the adapter library is empty" in result.stderr
    result = runner.invoke(app, ["eval", "--predictions", str(data), "--route", "arrow"])
    assert result.exit_code == 2 and "give no MODEL, DATA, --adapter or --route" in result.stderr
    assert not out.exists()


def test_route_lorahub_bad_shots(tiny_llama_dir, routed, tmp_path):
    data, (a, b) = routed
    shots = _write(tmp_path / "s.jsonl", [{"prompt": "Q: a A:"}])
    out = tmp_path / "res"
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(data), "--route", "lorahub", "--shots", str(shots),
                                 "--adapter", str(a), "--adapter", str(b), "--out", str(out)])
    assert result.exit_code == 3 and f"{shots}:1: missing field(s) 'completion'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()


def test_route_lorahub_records_the_weights(tiny_llama_dir, routed, tmp_path):
    data, (a, b) = routed
    shots = _write(tmp_path / "s.jsonl", qa_records(3, seed=8))
    out = tmp_path / "res"
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(data), "--route", "lorahub", "--shots", str(shots),
                                 "--lorahub-steps", "3", "--adapter", str(a), "--adapter", str(b), "--max-new-tokens", "4",
                                 "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 and samples[0]["routing"]["evaluations"] == 3 and len(samples[0]["routing"]["weights"]) == 2
    assert str(shots) in {i["path"] for i in json.loads((out / "lorakit.json").read_text())["inputs"]}


def test_shards_gather_and_score_to_the_one_process_samples(tiny_llama_dir, tmp_path):
    """Two files (tasks, one named by its stem), three shards by hand, gather, --predictions: same samples."""
    a = _write(tmp_path / "a.jsonl", [{**r, "split": "alpha"} for r in qa_records(21, seed=7)])
    b = _write(tmp_path / "b.jsonl", qa_records(9, seed=8))
    common = ["eval", str(tiny_llama_dir), str(a), str(b), "--device", "cpu", "--max-new-tokens", "3",
              "--batch-size", "1", "--quiet"]
    assert runner.invoke(app, [*common, "--out", str(tmp_path / "one")]).exit_code == 0
    parts = []
    for i in (2, 0, 1):  # windows of 16 prompts over the 30 of both files: shard 0 of 3 has none
        parts.append(str(tmp_path / f"part{i}"))
        result = runner.invoke(app, [*common, "--shard", f"{i}/3", "--out", parts[-1]])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "part0" / "predictions.jsonl").read_text() == ""
    result = runner.invoke(app, ["gather", *parts, "--out", str(tmp_path / "all.jsonl"), "--quiet"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["eval", "--predictions", str(tmp_path / "all.jsonl"), "--out", str(tmp_path / "gathered"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "gathered" / "samples.jsonl").read_bytes() == (tmp_path / "one" / "samples.jsonl").read_bytes()
    one, gathered = (json.loads((tmp_path / d / "results.json").read_text())["results"] for d in ("one", "gathered"))
    assert one == gathered and set(one) == {"alpha", "b"}


def test_shard_refuses_predictions_stdin_and_no_out(tiny_llama_dir, own_answers, tmp_path):
    for args, message in ((["--predictions", str(own_answers), "--out", str(tmp_path / "o")], "not with --predictions"),
                          ([str(tiny_llama_dir), "-", "--out", str(tmp_path / "o")], "not '-'"),
                          ([str(tiny_llama_dir), str(own_answers)], "--shard needs --out")):
        result = runner.invoke(app, ["eval", *args, "--shard", "0/2"], input="")
        assert result.exit_code == 2, result.output
        assert message in result.stderr
    assert not (tmp_path / "o").exists()
