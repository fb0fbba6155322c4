"""``lorakit report``: one table from several eval results."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from lorakit.cli.common import Force, Json, Quiet, Verbose, command, console, emit_json


@command
def report(
    runs: Annotated[list[str], typer.Argument(help="Eval output folders or results.json files, optionally NAME=PATH.", show_default=False)],
    tasks: Annotated[str | None, typer.Option("--tasks", help="Comma-separated task columns, in order (default: all).")] = None,
    title: Annotated[str | None, typer.Option("--title", help="Markdown heading.")] = None,
    best: Annotated[bool, typer.Option("--best", help="Mark each column's best run (bold in markdown).")] = False,
    aggregate: Annotated[bool, typer.Option("--aggregate", help="One row per run name (e.g. over seeds): the mean and min–max of each cell.")] = False,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Markdown file ('-' or absent: stdout).")] = None,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Compare eval runs side by side: markdown on stdout (or --out), a table on stderr."""
    from lorakit.evaluate.report import (aggregate as by_name, as_json, best as column_best, cell, columns, load_rows,
                                         markdown, parse_run)
    from lorakit.io import STDIO, atomic_file, check_output, check_paths

    check_paths({"--out": out}, {"RUNS": [parse_run(r)[1] for r in runs]})
    check_output(out, force, stdio=True)
    rows = by_name(load_rows(runs)) if aggregate else load_rows(runs)
    cols = columns(rows, tasks.split(",") if tasks else None)
    if not quiet:
        table = Table("run", *cols, title=title)
        marks = {c: column_best(rows, c) if best else None for c in cols}
        for r in rows:
            table.add_row(r.name, *(cell(r, c, marks[c], ("[bold]", "[/bold]")) for c in cols))
        console.print(table)
    if out is not None and out != STDIO:
        with atomic_file(out, force=force) as tmp:
            tmp.write_text(markdown(rows, cols, title, best), encoding="utf-8")
    if json:
        emit_json(as_json(rows, cols))
    elif out is None or out == STDIO:
        typer.echo(markdown(rows, cols, title, best), nl=False)
