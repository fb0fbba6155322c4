"""Side-by-side tables of several ``results.json`` files (one row per run, one column per task).

A task's score is its exact match (generation tasks) or its pairwise accuracy (faithfulness,
minimal pairs); for a task without those keys (lm-evaluation-harness's own results.json), the
first numeric ``<metric>,<filter>`` key that is not a ``_stderr`` one (``exact_match,strict-match``,
``acc_norm,none``, ...), named by its key in the table's note. A bridge task (``bridge_match``
beside its exact match: ``eval`` on records with a ``bridge``) shows both, "final answer / bridge
entity". A results file's typology block (``eval --task faithfulness|minimal-pairs``)
follows the table, taken from the first run that has one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lorakit.errors import InputError, UsageError
from lorakit.io import read_json


METRICS = {"exact_match,none": "exact match", "acc,none": "pairwise accuracy"}
BRIDGE = "bridge_match,none"
TYPOLOGY = {"tokens_per_word": ("tokens/word", ".2f"), "type_token_ratio": ("type/token", ".3f"),
            "mean_word_length": ("word length", ".2f")}


@dataclass
class Row:
    name: str
    scores: dict[str, float]
    """task -> exact match or pairwise accuracy, in [0, 1]."""
    metrics: set[str] = field(default_factory=set)
    bridge: dict[str, float] = field(default_factory=dict)
    """task -> share of predictions naming the bridge entity first (bridge tasks only)."""
    spread: dict[str, tuple[float, float]] = field(default_factory=dict)
    """With ``aggregate``: task (and ``task:bridge``) -> (min, max) over the runs of one name."""
    typology: dict[str, dict[str, float]] = field(default_factory=dict)
    """language -> typology figures (``TYPOLOGY``)."""


def parse_run(spec: str) -> tuple[str, Path]:
    """``NAME=PATH`` or ``PATH`` (name: the folder's name); PATH is a folder or a results.json."""
    name, sep, path = spec.partition("=")
    p = Path(path if sep else spec)
    if not sep:
        name = (p.parent if p.name == "results.json" else p).name
    return name, (p / "results.json" if p.is_dir() else p)


def load_rows(specs: list[str]) -> list[Row]:
    rows = []
    for spec in specs:
        name, path = parse_run(spec)
        data = read_json(path)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, dict):
            raise InputError(f"{path}: not a results.json (no 'results' object)")
        row = Row(name, {})
        for task, r in results.items():
            if (key := score_key(r)) is not None:
                row.scores[task] = float(r[key])
                row.metrics.add(METRICS.get(key, key))
            if isinstance(r, dict) and _number(r.get(BRIDGE)):
                row.bridge[task] = float(r[BRIDGE])
        typology = data.get("typology")
        if isinstance(typology, dict):
            row.typology = {lang: t for lang, t in typology.items() if isinstance(t, dict)}
        rows.append(row)
    return rows


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def score_key(entry: Any) -> str | None:
    """The key of a results entry's score: lorakit's (``METRICS``) first, else the first numeric
    ``<metric>,<filter>`` key that is not a ``_stderr`` one (lm-eval's ``alias`` is a string); None when none."""
    if not isinstance(entry, dict):
        return None
    keys = [k for k in METRICS if k in entry] + [k for k in entry if k not in METRICS]
    for key in keys:
        metric, sep, _ = str(key).partition(",")
        if sep and metric and not metric.endswith("_stderr") and key != "alias" and _number(entry[key]):
            return key
    return None


def aggregate(rows: list[Row]) -> list[Row]:
    """One row per run name (e.g. the same run over several seeds): each cell the mean over the runs
    that have it, with its (min, max) in ``spread`` where there are several; rows in order of first appearance."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.name, []).append(r)
    out = []
    for name, group in groups.items():
        row = Row(name, {}, set().union(*(r.metrics for r in group)), typology=group[0].typology)
        for key, source, into in (("", "scores", row.scores), (":bridge", "bridge", row.bridge)):
            tasks = dict.fromkeys(t for r in group for t in getattr(r, source))
            for task in tasks:
                values = [getattr(r, source)[task] for r in group if task in getattr(r, source)]
                into[task] = sum(values) / len(values)
                if len(values) > 1:
                    row.spread[task + key] = (min(values), max(values))
        out.append(row)
    return out


def columns(rows: list[Row], tasks: list[str] | None = None) -> list[str]:
    if tasks:
        known = {t for r in rows for t in r.scores}
        unknown = [t for t in tasks if t not in known]
        if unknown:
            raise UsageError(f"--tasks: no run has task(s) {', '.join(unknown)}")
        return tasks
    seen: dict[str, None] = {}
    for r in rows:
        seen.update(dict.fromkeys(r.scores))
    return list(seen)


def best(rows: list[Row], task: str) -> float | None:
    values = [r.scores[task] for r in rows if task in r.scores]
    return max(values) if len(values) > 1 else None


def cell(row: Row, task: str, mark: float | None = None, bold: tuple[str, str] = ("**", "**")) -> str:
    """The score in %; wrapped in ``bold`` when it equals ``mark`` (the column's best)."""
    if task not in row.scores:
        return "–"
    text = _figure(row, task, row.scores[task])
    text = f"{bold[0]}{text}{bold[1]}" if mark is not None and row.scores[task] == mark else text
    return f"{text} / {_figure(row, task + ':bridge', row.bridge[task])}" if task in row.bridge else text


def _figure(row: Row, key: str, value: float) -> str:
    """"73.3", or aggregated "73 (70–77)": the mean and the min–max over the runs, in whole %."""
    if key not in row.spread:
        return f"{100 * value:.1f}"
    lo, hi = row.spread[key]
    return f"{100 * value:.0f} ({100 * lo:.0f}–{100 * hi:.0f})"


def typology_lines(rows: list[Row]) -> list[str]:
    typology = next((r.typology for r in rows if r.typology), {})
    if not typology:
        return []
    lines = ["", "| language | " + " | ".join(name for name, _ in TYPOLOGY.values()) + " |",
             "|---|" + "---:|" * len(TYPOLOGY)]
    lines += [f"| {lang} | " + " | ".join(format(t.get(k, float("nan")), f) for k, (_, f) in TYPOLOGY.items()) + " |"
              for lang, t in sorted(typology.items())]
    return lines


def markdown(rows: list[Row], cols: list[str], title: str | None = None, mark_best: bool = False) -> str:
    marks = {c: best(rows, c) if mark_best else None for c in cols}
    lines = [f"# {title}", ""] if title else []
    lines.append("| run | " + " | ".join(cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    lines += ["| " + r.name + " | " + " | ".join(cell(r, c, marks[c]) for c in cols) + " |" for r in rows]
    metrics = sorted({m for r in rows for m in r.metrics}) or ["exact match"]
    note = " or ".join(metrics)
    note = note[:1].upper() + note[1:] + ", % of examples" + ("; the best run per column in bold." if mark_best else ".")
    if any(r.spread for r in rows):
        note += " Each cell: the mean over the runs of that name (min–max)."
    lines += typology_lines(rows)
    lines += ["", note]
    if any(c in r.bridge for r in rows for c in cols):
        lines += ["", "Bridge tasks (a cell \"x / y\"): x the final answer correct, y the bridge entity named first."]
    return "\n".join(lines) + "\n"


def as_json(rows: list[Row], cols: list[str]) -> dict[str, Any]:
    def row(r: Row) -> dict[str, Any]:
        bridge = {c: r.bridge[c] for c in cols if c in r.bridge}
        spread = {k: list(v) for k, v in r.spread.items() if k.partition(":")[0] in cols}
        return ({"run": r.name, **{c: r.scores.get(c) for c in cols}} | ({"bridge_match": bridge} if bridge else {})
                | ({"min_max": spread} if spread else {}))

    return {"columns": cols, "rows": [row(r) for r in rows]}
