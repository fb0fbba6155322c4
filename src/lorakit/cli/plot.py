"""``lorakit plot``: training curves from --log-file files, or a report table as a heatmap."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakit.cli.common import Force, Json, Quiet, Verbose, command, emit_json, log


@command
def plot(
    inputs: Annotated[list[str], typer.Argument(help="--log-file JSONL files, or eval output folders / results.json files; optionally NAME=PATH.", show_default=False)],
    out: Annotated[str, typer.Option("--out", "-o", help="Picture file: .png, .svg or .pdf.", show_default=False)],
    tasks: Annotated[str | None, typer.Option("--tasks", help="Tables: comma-separated task columns, in order (default: all).")] = None,
    aggregate: Annotated[bool, typer.Option("--aggregate", help="Tables: one row per run name, the mean of each cell (as report --aggregate).")] = False,
    title: Annotated[str | None, typer.Option("--title", help="Title above the picture.")] = None,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Draw loss and learning rate against step (log files; several runs on one figure) or eval results as a runs × tasks heatmap."""
    from lorakit.errors import UsageError
    from lorakit.evaluate.plot import draw_curves, draw_grid, image_format, read_log, table_grid
    from lorakit.evaluate.report import aggregate as by_name, columns, load_rows, parse_run
    from lorakit.io import check_output, check_paths

    specs = [parse_run(i) for i in inputs]
    check_paths({"--out": out}, {"INPUTS": [p for _, p in specs]})
    image_format(out)
    check_output(out, force)
    logs = [p.name != "results.json" for _, p in specs]
    if any(logs) and not all(logs):
        raise UsageError("INPUTS: give either --log-file files or eval results (folders or results.json), not both")
    if all(logs):
        if tasks or aggregate:
            raise UsageError("--tasks and --aggregate apply to eval results, not to log files")
        names = [name if "=" in spec else path.stem for spec, (name, path) in zip(inputs, specs)]
        curves = [read_log(name, path) for name, (_, path) in zip(names, specs)]
        draw_curves(curves, out, title, force)
        summary = {"out": out, "kind": "curves", "runs": [{"name": c.name, "steps": len(c.step)} for c in curves]}
    else:
        rows = by_name(load_rows(inputs)) if aggregate else load_rows(inputs)
        grid = table_grid(rows, columns(rows, tasks.split(",") if tasks else None))
        draw_grid(grid, out, title, force)
        summary = {"out": out, "kind": "table", "rows": grid.rows, "columns": grid.cols}
    if json:
        emit_json(summary)
    log(f"wrote {out}: {summary['kind']}, {len(summary.get('runs', summary.get('rows', [])))} row(s)", quiet)
