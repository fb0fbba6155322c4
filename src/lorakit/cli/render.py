"""Rich tables on stderr for command results."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from lorakit.cli.common import console


def results_table(results: dict[str, dict[str, Any]]) -> None:
    table = Table("task", "n", "exact match", "± stderr")
    for task, r in results.items():
        em, se = r["exact_match,none"], r["exact_match_stderr,none"]
        table.add_row(task, str(r["n"]), f"{100 * em:.1f} %", "–" if se != se else f"{100 * se:.1f}")
    console.print(table)
