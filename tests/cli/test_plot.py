import json
import math
import sys

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.evaluate.plot import table_grid
from lorakit.evaluate.report import load_rows

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def _log(path, steps, rate=0.02):
    lines = [json.dumps({"step": s, "loss": 3 * math.exp(-rate * s) + 0.01, "lr": 1e-3 * (1 - s / steps),
                         "tokens": 64 * s, "seconds": 0.1 * s}) for s in range(1, steps + 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _results(folder, results):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"results": results}))
    return folder


def _acc(v):
    return {"acc,none": v}


def test_plot_training_curves(tmp_path):
    a, b = _log(tmp_path / "lora-a.jsonl", 40), _log(tmp_path / "b.jsonl", 25, 0.05)
    out = tmp_path / "pics" / "loss.png"
    result = runner.invoke(app, ["plot", str(a), f"second={b}", "--out", str(out), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"out": str(out), "kind": "curves",
                                         "runs": [{"name": "lora-a", "steps": 40}, {"name": "second", "steps": 25}]}
    assert out.read_bytes().startswith(PNG)
    svg = tmp_path / "loss.svg"
    assert runner.invoke(app, ["plot", str(a), "--out", str(svg), "--quiet"]).exit_code == 0
    assert "<svg" in svg.read_text()


def test_plot_table_runs_by_tasks(tmp_path):
    base = _results(tmp_path / "base", {"test_F": {"exact_match,none": 0.1}, "recall": {"exact_match,none": 0.9}})
    mixed = _results(tmp_path / "mixed", {"test_F": {"exact_match,none": 0.75, "bridge_match,none": 1.0}})
    out = tmp_path / "chart.png"
    result = runner.invoke(app, ["plot", str(base), str(mixed), "--tasks", "test_F,recall", "--out", str(out), "--json",
                                 "--quiet", "--title", "Two-hop"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"out": str(out), "kind": "table", "rows": ["base", "mixed"],
                                         "columns": ["test_F", "recall"]}
    assert out.read_bytes().startswith(PNG)
    grid = table_grid(load_rows([str(base), str(mixed)]), ["test_F", "recall"])
    assert grid.labels == [["10", "90"], ["75/100", "–"]]
    assert grid.values == [[pytest.approx(10.0), pytest.approx(90.0)], [pytest.approx(75.0), None]]


def test_plot_one_faithfulness_run_is_a_language_by_perturbation_grid(tmp_path):
    ev = _results(tmp_path / "eval", {
        "faithfulness": _acc(0.8), "faithfulness/pl": _acc(0.7), "faithfulness/pl/negation": _acc(0.55),
        "faithfulness/pl/entity_swap": _acc(0.85), "faithfulness/vi": _acc(0.9), "faithfulness/vi/negation": _acc(1.0),
        "faithfulness/vi/entity_swap": _acc(0.8)})
    grid = table_grid(load_rows([str(ev)]), list(json.loads((ev / "results.json").read_text())["results"]))
    assert grid.rows == ["pl", "vi", "all"]
    assert grid.cols == ["all", "negation", "entity_swap"]
    assert grid.labels == [["70", "55", "85"], ["90", "100", "80"], ["80", "–", "–"]]
    result = runner.invoke(app, ["plot", str(ev), "--out", str(tmp_path / "f.pdf"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("case, code, message", [
    ("mixed", 2, "either --log-file files or eval results"),
    ("suffix", 2, "must end in .png, .svg, .pdf"),
    ("tasks-on-logs", 2, "apply to eval results"),
    ("bad-line", 3, "b.jsonl:2: 'loss' must be a finite number"),
    ("not-json", 3, "b.jsonl:1:"),
    ("exists", 4, "exists"),
    ("missing", 3, "no such file"),
])
def test_plot_refusals_write_nothing(tmp_path, case, code, message):
    log = _log(tmp_path / "a.jsonl", 5)
    res = _results(tmp_path / "run", {"t": {"exact_match,none": 0.5}})
    out = tmp_path / "out.png"
    args = {"mixed": [str(log), str(res)], "suffix": [str(log)], "tasks-on-logs": [str(log), "--tasks", "t"],
            "bad-line": [str(tmp_path / "b.jsonl")], "not-json": [str(tmp_path / "b.jsonl")], "exists": [str(log)],
            "missing": [str(tmp_path / "nope.jsonl")]}[case]
    if case == "bad-line":
        (tmp_path / "b.jsonl").write_text('{"step": 1, "loss": 2.0, "lr": 0.001}\n{"step": 2, "loss": "NaN", "lr": 0.001}\n')
    if case == "not-json":
        (tmp_path / "b.jsonl").write_text("step 1 loss 2\n")
    if case == "exists":
        out.write_bytes(b"keep")
    if case == "suffix":
        out = tmp_path / "out.jpg"
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, ["plot", *args, "--out", str(out)])
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if case == "exists":
        assert out.read_bytes() == b"keep"


def test_plot_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "loss.png"
    result = runner.invoke(app, ["plot", str(_log(tmp_path / "a.jsonl", 5)), "--out", str(out)])
    assert result.exit_code == 5, result.output
    assert "pip install 'lorakit[plot]'" in result.stderr
    assert not out.exists()
