"""Side-by-side tables of several ``results.json`` files (one row per run, one column per task)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorakit.errors import InputError, UsageError
from lorakit.io import read_json


@dataclass
class Row:
    name: str
    scores: dict[str, float]
    """task -> exact match in [0, 1]."""


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
        scores = {}
        for task, r in results.items():
            em = r.get("exact_match,none") if isinstance(r, dict) else None
            if isinstance(em, (int, float)):
                scores[task] = float(em)
        rows.append(Row(name, scores))
    return rows


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


def cell(row: Row, task: str) -> str:
    return f"{100 * row.scores[task]:.1f}" if task in row.scores else "–"


def markdown(rows: list[Row], cols: list[str], title: str | None = None) -> str:
    lines = [f"# {title}", ""] if title else []
    lines.append("| run | " + " | ".join(cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    lines += ["| " + r.name + " | " + " | ".join(cell(r, c) for c in cols) + " |" for r in rows]
    lines += ["", "Exact match, % of examples."]
    return "\n".join(lines) + "\n"


def as_json(rows: list[Row], cols: list[str]) -> dict[str, Any]:
    return {"columns": cols, "rows": [{"run": r.name, **{c: r.scores.get(c) for c in cols}} for r in rows]}
