"""``lorakit eval`` on math solutions: numeric comparison (auto or --metric), per-level breakdown."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.data.math_problems import MathConfig, generate
from tests.helpers import usage_error

runner = CliRunner()


@pytest.fixture(scope="module")
def math_test(tmp_path_factory):
    path = tmp_path_factory.mktemp("math") / "test_add.jsonl"
    path.write_text(generate(MathConfig(skills="add", train_per_skill=0, test_per_level=2, stories=0))["test_add.jsonl"])
    return path


def predictions(path, tmp_path, wrong=(), lines=None):
    """The records as predictions: the reference solution, except records in ``wrong`` (answer + 1)."""
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    for i, r in enumerate(recs):
        r["prediction"] = r["completion"].strip() if i not in wrong else f"#### {r['meta']['answer'] + 1}"
    out = tmp_path / "preds.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return out


def test_help_lists_metric():
    result = runner.invoke(app, ["eval", "--help"])
    assert result.exit_code == 0 and "--metric" in result.output


def test_auto_numeric_with_level_breakdown(math_test, tmp_path):
    preds = predictions(math_test, tmp_path, wrong={0, 5})  # one P0 and one P2 wrong
    out = tmp_path / "res"
    result = runner.invoke(app, ["eval", "--predictions", str(preds), "--out", str(out), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    res = json.loads((out / "results.json").read_text())
    scores = {t: r["exact_match,none"] for t, r in res["results"].items()}
    assert scores == pytest.approx({"test_add": 4 / 6, "test_add_P0": 0.5, "test_add_P1": 1.0, "test_add_P2": 0.5})
    assert res["configs"]["test_add"]["metric_list"][0]["compare"] == "numeric"
    assert res["n-samples"]["test_add_P1"] == {"original": 2, "effective": 2}
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 and "<<" in samples[1]["prediction"]  # the full solution is kept
    assert samples[0]["extracted"] == int(samples[0]["target"].rsplit(" ", 1)[1]) + 1 and not samples[0]["correct"]
    assert json.loads(result.stdout)["results"]["test_add_P2"]["exact_match,none"] == 0.5
    report = runner.invoke(app, ["report", str(out), "--tasks", "test_add_P0,test_add_P2"])
    assert report.exit_code == 0 and "| res | 50.0 | 50.0 |" in report.stdout


def test_metric_exact_is_strict(math_test, tmp_path):
    recs = [json.loads(line) for line in math_test.read_text().splitlines()]
    for r in recs:  # right answer, other working: numeric counts it, exact does not
        r["prediction"] = f"I counted. #### {r['meta']['answer']}"
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps(r) + "\n" for r in recs))
    exact = runner.invoke(app, ["eval", "--predictions", str(preds), "--metric", "exact", "--json", "--quiet"])
    numeric = runner.invoke(app, ["eval", "--predictions", str(preds), "--metric", "numeric", "--json", "--quiet"])
    assert json.loads(exact.stdout)["results"]["test_add"]["exact_match,none"] == 0.0
    assert json.loads(numeric.stdout)["results"]["test_add"]["exact_match,none"] == 1.0


def test_bad_metric_exit_2():
    result = runner.invoke(app, ["eval", "--predictions", "p.jsonl", "--metric", "fuzzy"])
    assert result.exit_code == 2 and "'fuzzy' is not one of 'auto', 'exact', 'numeric'" in usage_error(result)


def test_breakdown_name_clash_exit_2(math_test, tiny_llama_dir, tmp_path):
    clash = tmp_path / "test_add_P0.jsonl"
    record = json.loads(math_test.read_text().splitlines()[0])
    del record["split"]  # the task is named after the file
    clash.write_text(json.dumps(record) + "\n")
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(math_test), str(clash), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "test_add_P0 would also name a per-level breakdown" in result.stderr
    assert not (tmp_path / "r").exists()


def test_generation_keeps_the_whole_line(math_test, tiny_llama_dir, tmp_path):
    out = tmp_path / "gen"
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(math_test), "--out", str(out), "--device", "cpu",
                                 "--max-new-tokens", "24", "--quiet"])
    assert result.exit_code == 0, result.output
    res = json.loads((out / "results.json").read_text())
    assert set(res["results"]) == {"test_add", "test_add_P0", "test_add_P1", "test_add_P2"}
    assert res["config"]["gen_kwargs"]["max_gen_toks"] == 24
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert all("extracted" in s for s in samples)
