"""lorakit route: predictions that eval scores, routing fields, determinism, piping, and each bad
input (exit code, one line, nothing written)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.io import read_jsonl
from tests.helpers import make_peft_adapter, qa_records, usage_error

runner = CliRunner()


def run(*args, **kw):
    return runner.invoke(app, ["route", *map(str, args)], **kw)


@pytest.fixture(scope="module")
def setup(make_tiny_model, tmp_path_factory):
    base = make_tiny_model("llama")
    d = tmp_path_factory.mktemp("cli-route")
    data = d / "test.jsonl"
    data.write_text("".join(json.dumps({**r, "split": "t"}) + "\n" for r in qa_records(5, seed=3)))
    a = make_peft_adapter(base, d / "a", r=4, alpha=8, seed=1, std=0.3)
    b = make_peft_adapter(base, d / "b", r=2, alpha=4, seed=2, std=0.3)
    return base, data, a, b


def common(setup):
    base, data, a, b = setup
    return [base, data, "--adapter", a, "--adapter", b, "--max-new-tokens", "4", "--quiet"]


def test_help():
    result = run("--help")
    assert result.exit_code == 0
    for option in ("--adapter", "--method", "--top-k", "--temperature", "--library", "--out", "--shots",
                   "--lorahub-steps", "--save-merged", "--seed"):
        assert option in result.output


def test_arrow_predictions_score_with_eval(setup, tmp_path):
    base, data, a, b = setup
    out = tmp_path / "preds.jsonl"
    args = [*common(setup), "--top-k", "2", "--temperature", "0.5", "--batch-size", "2"]
    result = run(*args, "--out", out)
    assert result.exit_code == 0, result.output
    records, inputs = read_jsonl(out), read_jsonl(data)
    assert len(records) == 5
    for rec, inp in zip(records, inputs):
        assert {k: rec[k] for k in inp} == inp and isinstance(rec["prediction"], str)
        routing = rec["routing"]
        assert routing["method"] == "arrow" and routing["adapters"] == [str(a), str(b)]
        assert (routing["top_k"], routing["temperature"]) == (2, 0.5)
        assert abs(sum(routing["weights"]) - 1) < 1e-3 and set(routing["layers"]) == {"0", "1"}
        assert all(abs(sum(v) - 1) < 1e-3 for v in routing["layers"].values())
    assert (a / "arrow_prototypes.safetensors").is_file() and (b / "arrow_prototypes.safetensors").is_file()
    scored = runner.invoke(app, ["eval", "--predictions", str(out), "--out", str(tmp_path / "res"), "--quiet", "--json"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["n-samples"]["t"] == {"original": 5, "effective": 5}
    again = tmp_path / "again.jsonl"  # deterministic (and the prototype cache is reused)
    assert run(*args, "--out", again).exit_code == 0
    assert again.read_bytes() == out.read_bytes()


def test_output_average_to_stdout_from_stdin(setup):
    base, data, a, b = setup
    result = run(base, "-", "--adapter", a, "--adapter", b, "--method", "output-average", "--quiet",
                 "--max-new-tokens", "4", "--limit", "2", input=data.read_text())
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    assert lines[0]["routing"] == {"method": "output-average", "adapters": [str(a), str(b)], "weights": [0.5, 0.5]}


def test_min_entropy_writes_the_choice(setup, tmp_path):
    base, data, a, b = setup
    out = tmp_path / "p.jsonl"
    result = run(*common(setup), "--method", "min-entropy", "--out", out)
    assert result.exit_code == 0, result.output
    for rec in read_jsonl(out):
        routing = rec["routing"]
        assert routing["chosen"] in (str(a), str(b)) and len(routing["entropy"]) == 2 and routing["span"] == "last"
        assert routing["weights"][routing["adapters"].index(routing["chosen"])] == 1.0


def test_library_folder_holds_the_cache(setup, tmp_path):
    lib = tmp_path / "lib"
    result = run(*common(setup)[:-3], "--limit", "1", "--library", lib, "--quiet")
    assert result.exit_code == 0, result.output
    assert len(list(lib.glob("*.safetensors"))) == 2


# bad input: exit code, one line, nothing written ------------------------------------------------


def _refused(result, code, text, out):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr
    assert not out.exists()


def test_empty_library(setup, tmp_path):
    base, data, _, _ = setup
    out = tmp_path / "p.jsonl"
    _refused(run(base, data, "--out", out), 2, "the adapter library is empty", out)


def test_top_k_larger_than_the_library(setup, tmp_path):
    out = tmp_path / "p.jsonl"
    _refused(run(*common(setup), "--top-k", "3", "--out", out), 2, "--top-k 3 is larger than the library (2 adapter(s))", out)


def test_json_needs_an_output_file(setup):
    result = run(*common(setup), "--json")
    assert result.exit_code == 2 and result.stdout == ""
    assert "--json needs --out FILE" in result.stderr


def test_json_summary(setup, tmp_path):
    out = tmp_path / "p.jsonl"
    result = run(*common(setup), "--method", "output-average", "--limit", "1", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["out"], summary["method"], summary["examples"], summary["modules"]) == (str(out), "output-average", 1, 14)


def test_bad_method_and_temperature(setup, tmp_path):
    out = tmp_path / "p.jsonl"
    result = run(*common(setup), "--method", "vote", "--out", out)
    assert result.exit_code == 2 and not out.exists()
    assert "'vote' is not one of 'arrow', 'output-average', 'min-entropy', 'centroid', 'lorahub'" in usage_error(result)
    result = run(*common(setup), "--span", "all", "--out", out)
    assert result.exit_code == 2 and "'all' is not one of 'last', 'prompt'" in usage_error(result)
    _refused(run(*common(setup), "--temperature", "0", "--out", out), 2, "--temperature must be positive, not 0.0", out)


def test_adapters_of_different_bases(setup, make_tiny_model, tmp_path):
    base, data, a, _ = setup
    other = make_peft_adapter(make_tiny_model("gpt2"), tmp_path / "g")
    out = tmp_path / "p.jsonl"
    _refused(run(base, data, "--adapter", a, "--adapter", other, "--out", out), 5, "adapters of different base models", out)


def test_adapter_targets_that_do_not_fit_the_base(setup, make_tiny_model, tmp_path):
    base, data, _, _ = setup
    other = make_peft_adapter(make_tiny_model("qwen2"), tmp_path / "q")  # k_proj 32x64 (2 kv heads), 64x64 in llama
    out = tmp_path / "p.jsonl"
    _refused(run(base, data, "--adapter", other, "--out", out), 5, "in the base model (adapter of another model)", out)


def test_missing_adapter_and_existing_output(setup, tmp_path):
    base, data, a, _ = setup
    out = tmp_path / "p.jsonl"
    _refused(run(base, data, "--adapter", tmp_path / "nope", "--out", out), 3, "no such adapter folder", out)
    out.write_text("keep\n")
    result = run(base, data, "--adapter", a, "--out", out)
    assert result.exit_code == 4 and "already exists" in result.stderr and out.read_text() == "keep\n"


def test_adapter_trained_on_other_base_weights(setup, tmp_path):
    base, data, a, _ = setup
    copy = tmp_path / "a2"
    copy.mkdir()
    for f in ("adapter_config.json", "adapter_model.safetensors"):
        (copy / f).write_bytes((a / f).read_bytes())
    (copy / "lorakit.json").write_text(json.dumps({"base": {"fingerprint": "0" * 64}}))
    out = tmp_path / "p.jsonl"
    _refused(run(base, data, "--adapter", copy, "--out", out), 5, "trained on other base weights", out)


# centroid and lorahub ------------------------------------------------------------------------------


def test_centroid_writes_the_choice_and_scores(setup, tmp_path):
    base, data, a, b = setup
    out = tmp_path / "p.jsonl"
    result = run(*common(setup), "--method", "centroid", "--span", "prompt", "--out", out)
    assert result.exit_code == 0, result.output
    for rec in read_jsonl(out):
        routing = rec["routing"]
        assert routing["method"] == "centroid" and len(routing["score"]) == 2 and routing["span"] == "prompt"
        assert routing["chosen"] == routing["adapters"][routing["score"].index(max(routing["score"]))]
    assert (a / "arrow_prototypes.safetensors").is_file()  # the prototype cache is shared with arrow


def _shots(tmp_path, records=None):
    shots = tmp_path / "shots.jsonl"
    shots.write_text("".join(json.dumps(r) + "\n" for r in (records or qa_records(4, seed=9))))
    return shots


def test_lorahub_finds_weights_and_saves_the_merged_adapter(setup, tmp_path):
    from lorakit.lora.adapters import open_adapter

    base, data, a, b = setup
    out, merged = tmp_path / "p.jsonl", tmp_path / "merged"
    args = [*common(setup), "--method", "lorahub", "--shots", _shots(tmp_path), "--lorahub-steps", "6", "--seed", "1"]
    result = run(*args, "--save-merged", merged, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    records = read_jsonl(out)
    routing = records[0]["routing"]
    assert all(r["routing"] == routing for r in records)
    assert routing["method"] == "lorahub" and routing["evaluations"] == 6 and routing["l1"] == 0.05
    assert len(routing["weights"]) == 2 and all(abs(w) <= 1.5 for w in routing["weights"])
    summary = json.loads(result.stdout)
    assert summary["lorahub"]["weights"] == routing["weights"] and summary["merged"] == str(merged)
    meta = json.loads((merged / "lorakit.json").read_text())
    assert meta["merge"]["method"] == "linear" and meta["merge"]["weights"] == routing["weights"]
    assert open_adapter(merged).modules
    # the saved adapter is what the predictions were made with
    scored = runner.invoke(app, ["eval", str(base), str(data), "--adapter", str(merged), "--max-new-tokens", "4",
                                 "--out", str(tmp_path / "res"), "--quiet"])
    assert scored.exit_code == 0, scored.output
    samples = read_jsonl(tmp_path / "res" / "samples.jsonl")
    assert [s["prediction"] for s in samples] == [r["prediction"] for r in records]
    again = tmp_path / "again.jsonl"  # deterministic for a seed
    assert run(*args, "--out", again).exit_code == 0
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize("content,message", [
    ('{"prompt": "Q: a A:", "completion": " b"}\n{"prompt": "Q: c A:"}\n', ":2: missing field(s) 'completion'"),
    ('{"prompt": "Q: a A:", "completion": " b"}\nnot json\n', ":2: invalid JSON"),
    ('{"prompt": "Q: a A:", "completion": 3}\n', ":1: field 'completion' must be a string"),
    ("\n", ": no records"),
])
def test_lorahub_shots_with_the_wrong_schema(setup, tmp_path, content, message):
    shots = tmp_path / "shots.jsonl"
    shots.write_text(content)
    out, merged = tmp_path / "p.jsonl", tmp_path / "merged"
    result = run(*common(setup), "--method", "lorahub", "--shots", shots, "--save-merged", merged, "--out", out)
    _refused(result, 3, f"{shots}{message}", out)
    assert not merged.exists()


def test_lorahub_option_errors(setup, tmp_path):
    out = tmp_path / "p.jsonl"
    result = run(*common(setup), "--method", "lorahub", "--lorahub-steps", "0", "--out", out)
    _refused(result, 2, "--method lorahub needs --shots FILE", out)
    assert "--lorahub-steps must be at least 1" in result.stderr
    result = run(*common(setup), "--shots", tmp_path / "s.jsonl", "--save-merged", tmp_path / "m", "--out", out)
    _refused(result, 2, "--shots applies to --method lorahub only", out)
    assert "--save-merged applies to --method lorahub only" in result.stderr


def test_lorahub_existing_merged_folder_refused_before_work(setup, tmp_path):
    merged = tmp_path / "merged"
    merged.mkdir()
    out = tmp_path / "p.jsonl"
    result = run(*common(setup), "--method", "lorahub", "--shots", _shots(tmp_path), "--save-merged", merged, "--out", out)
    _refused(result, 4, "already exists", out)
    assert list(merged.iterdir()) == []


def test_shards_gather_to_the_one_process_output(setup, tmp_path, method="min-entropy"):
    base, _, a, b = setup
    data = tmp_path / "many.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in qa_records(36, seed=5)))
    args = [base, data, "--adapter", a, "--adapter", b, "--max-new-tokens", "3", "--batch-size", "2", "--method", method, "--quiet"]
    assert run(*args, "--out", tmp_path / "one.jsonl").exit_code == 0
    for i in (1, 0):  # windows of 16 batches x 2 prompts: shard 0 = records 0-31, shard 1 = 32-35
        result = run(*args, "--shard", f"{i}/2", "--out", tmp_path / f"part{i}.jsonl")
        assert result.exit_code == 0, result.output
    assert len(read_jsonl(tmp_path / "part1.jsonl")) == 4
    result = runner.invoke(app, ["gather", str(tmp_path / "part0.jsonl"), str(tmp_path / "part1.jsonl"),
                                 "--out", str(tmp_path / "all.jsonl")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "all.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


def test_shard_needs_an_out_file_and_a_valid_spec(setup, tmp_path):
    for args, message in ((["--shard", "0/2"], "--shard needs --out"),
                          (["--shard", "2/2", "--out", tmp_path / "p.jsonl"], "--shard must be i/N")):
        result = run(*common(setup), *args)
        assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "p.jsonl").exists()
