import json

import pytest

from typer.testing import CliRunner

from lorakit.cli import app

runner = CliRunner()


def _results(folder, scores):
    folder.mkdir(parents=True)
    res = {"results": {t: {"exact_match,none": v, "exact_match_stderr,none": 0.0} for t, v in scores.items()}}
    (folder / "results.json").write_text(json.dumps(res))
    return folder


def test_report_markdown_and_json(tmp_path):
    a = _results(tmp_path / "base", {"test_F": 0.05, "recall": 0.95})
    b = _results(tmp_path / "hop1", {"test_F": 0.1, "check_hop1": 1.0})
    result = runner.invoke(app, ["report", str(a), f"adapter={b}", "--quiet"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "| run | test_F | recall | check_hop1 |"
    assert lines[2] == "| base | 5.0 | 95.0 | – |"
    assert lines[3] == "| adapter | 10.0 | – | 100.0 |"
    result = runner.invoke(app, ["report", str(a), str(b), "--tasks", "recall,test_F", "--json", "--quiet",
                                 "--out", str(tmp_path / "r.md")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"columns": ["recall", "test_F"], "rows": [
        {"run": "base", "recall": 0.95, "test_F": 0.05}, {"run": "hop1", "recall": None, "test_F": 0.1}]}
    assert (tmp_path / "r.md").read_text().startswith("| run | recall | test_F |")


def test_report_errors(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert result.exit_code == 3
    assert "missing: no such file" in result.stderr
    a = _results(tmp_path / "base", {"test_F": 0.05})
    result = runner.invoke(app, ["report", str(a), "--tasks", "nope"])
    assert result.exit_code == 2
    assert "no run has task(s) nope" in result.stderr
    (tmp_path / "bad.json").write_text("[1]")
    result = runner.invoke(app, ["report", str(tmp_path / "bad.json")])
    assert result.exit_code == 3
    assert "not a results.json" in result.stderr


def test_report_pairwise_accuracy_best_and_typology(tmp_path):
    """Faithfulness results (acc) work too; --best bolds each column's best; the typology block follows."""
    def faith(name, vi, pl):
        folder = tmp_path / name
        folder.mkdir()
        res = {"results": {"faithfulness/vi": {"acc,none": vi}, "faithfulness/pl": {"acc,none": pl}},
               "typology": {"vi": {"tokens_per_word": 1.5, "type_token_ratio": 0.0312, "mean_word_length": 3.4}}}
        (folder / "results.json").write_text(json.dumps(res))
        return str(folder)

    result = runner.invoke(app, ["report", faith("drop0", 0.6, 0.7), faith("drop1", 0.8, 0.5), "--best", "--quiet"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[2:4] == ["| drop0 | 60.0 | **70.0** |", "| drop1 | **80.0** | 50.0 |"]
    assert "| vi | 1.50 | 0.031 | 3.40 |" in lines
    assert lines[-1] == "Pairwise accuracy, % of examples; the best run per column in bold."
    result = runner.invoke(app, ["report", faith("only", 0.6, 0.7), "--best", "--quiet"])
    assert "| only | 60.0 | 70.0 |" in result.stdout  # one run: nothing to compare


def test_report_aggregate_mean_and_min_max_per_run_name(tmp_path):
    """Rows of one name (one run over several seeds) become one: mean (min–max), bridge cells too."""
    specs = []
    for seed, (em, bridge) in enumerate([(0.7, 1.0), (0.8, 0.9), (0.9, 1.0)]):
        folder = tmp_path / f"s{seed}" / "mixed"
        folder.mkdir(parents=True)
        res = {"results": {"test_F_bridge": {"exact_match,none": em, "bridge_match,none": bridge},
                           "recall": {"exact_match,none": 0.5 + seed / 10}}}
        (folder / "results.json").write_text(json.dumps(res))
        specs.append(str(folder))
    base = _results(tmp_path / "s0" / "base", {"recall": 0.9})
    result = runner.invoke(app, ["report", str(base), *specs, "--aggregate", "--quiet"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "| run | recall | test_F_bridge |"
    assert lines[2] == "| base | 90.0 | – |"  # one run: no spread to show
    assert lines[3] == "| mixed | 60 (50–70) | 80 (70–90) / 97 (90–100) |"
    assert "Each cell: the mean over the runs of that name (min–max)." in result.stdout
    result = runner.invoke(app, ["report", *specs, "--aggregate", "--json", "--quiet"])
    row = json.loads(result.stdout)["rows"][0]
    assert row["test_F_bridge"] == pytest.approx(0.8) and row["min_max"]["test_F_bridge:bridge"] == [0.9, 1.0]


def test_report_reads_lm_eval_metric_keys(tmp_path):
    """A results.json from lm-evaluation-harness itself: the first `<metric>,<filter>` score per task."""
    folder = tmp_path / "lmeval"
    folder.mkdir()
    res = {"results": {
        "gsm8k": {"alias": "gsm8k", "exact_match,strict-match": 0.5, "exact_match_stderr,strict-match": 0.1,
                  "exact_match,flexible-extract": 0.6, "exact_match_stderr,flexible-extract": 0.1},
        "hellaswag": {"alias": "hellaswag", "acc,none": 0.3, "acc_stderr,none": 0.01, "acc_norm,none": 0.4,
                      "acc_norm_stderr,none": 0.01},
        "arc_easy": {"alias": "arc_easy", "acc_norm_stderr,none": 0.02, "acc_norm,none": 0.55},
        "mine": {"alias": "mine", "exact_match_stderr,none": 0.2, "exact_match,none": 0.25, "acc,none": 0.9}},
        "n-samples": {"gsm8k": {"original": 1319, "effective": 1319}}}
    (folder / "results.json").write_text(json.dumps(res))
    result = runner.invoke(app, ["report", str(folder), "--quiet"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "| run | gsm8k | hellaswag | arc_easy | mine |"
    assert lines[2] == "| lmeval | 50.0 | 30.0 | 55.0 | 25.0 |"
    assert lines[-1] == ("Acc_norm,none or exact match or exact_match,strict-match or pairwise accuracy, "
                         "% of examples.")
