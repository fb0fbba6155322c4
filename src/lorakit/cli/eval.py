"""``lorakit eval``: exact-match evaluation with lm-evaluation-harness style results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lorakit.cli.common import Device, GenBatchSize, MaxNewTokens, Force, Json, Quiet, Threads, Verbose, command, emit_json, progress
from lorakit.cli.render import results_table


@command
def eval_(
    model: Annotated[str | None, typer.Argument(help="Base model folder (HF causal LM).", show_default=False)] = None,
    data: Annotated[list[str] | None, typer.Argument(help="Prompt/completion JSONL file(s), one task each ('-' = stdin).", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder: results.json, samples.jsonl, lorakit.json.")] = None,
    adapter: Annotated[str | None, typer.Option("--adapter", help="PEFT adapter folder to apply.")] = None,
    predictions: Annotated[str | None, typer.Option("--predictions", help="Score this predictions JSONL instead of generating.")] = None,
    task: Annotated[str | None, typer.Option("--task", help="Task name for a single DATA file.")] = None,
    batch_size: GenBatchSize = 64,
    max_new_tokens: MaxNewTokens = 16,
    limit: Annotated[int | None, typer.Option("--limit", help="Evaluate only the first N records of each task.")] = None,
    metric: Annotated[str, typer.Option("--metric", help="exact: normalised strings; numeric: final numbers (after '####', else the last); auto: numeric for tasks whose targets all hold '#### n'.")] = "auto",
    device: Device = "auto",
    threads: Threads = None,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Generate greedy answers and score exact match (numeric for math solutions); or score a predictions file."""
    from lorakit.evaluate.run import EvalConfig, run_eval, write_eval
    from lorakit.io import check_output

    cfg = EvalConfig(model=model, data=data or [], adapter=adapter, predictions=predictions, task=task,
                     batch_size=batch_size, max_new_tokens=max_new_tokens, limit=limit, metric=metric, device=device,
                     threads=threads)
    check_output(out, force)
    with progress(quiet) as report:
        results, samples = run_eval(cfg, report)
    if out is not None:
        write_eval(out, results, samples, cfg, force)
    if not quiet:
        results_table(results["results"])
    if json:
        emit_json({"out": str(out) if out else None, "results": results["results"]})
