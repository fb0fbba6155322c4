"""Rich tables on stderr for command results."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from lorakit.cli.common import console


def results_table(results: dict[str, dict[str, Any]], n_samples: dict[str, dict[str, int]]) -> None:
    """One row per task; its count from results.json's ``n-samples`` (where lm-eval keeps it)."""
    pairwise = any("acc,none" in r for r in results.values())  # eval --task faithfulness: accuracy
    table = Table("task", "n", "accuracy" if pairwise else "exact match", "± stderr")
    for task, r in results.items():
        metric = "exact_match" if "exact_match,none" in r else "acc"
        em, se = r[f"{metric},none"], r[f"{metric}_stderr,none"]
        table.add_row(task, str(n_samples.get(task, {}).get("effective", "–")), f"{100 * em:.1f} %", "–" if se != se else f"{100 * se:.1f}")
    console.print(table)
