"""``lorakit eval``: exact-match evaluation with lm-evaluation-harness style results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lorakit.cli.common import (AllowDifferentBase, CompletionField, Device, Force, GenBatchSize, Json, MaxNewTokens, PromptField, Quiet, Seed, ShardOpt, Threads, Verbose, choice,
                               command, emit_json, main_process_only, progress)
from lorakit.cli.render import results_table
from lorakit.evaluate.run import COMPARES
from lorakit.cli.routing import METHOD_HELP, Library, Method, LorahubSearch, LorahubSteps, Shots, Span, Temperature, TopK


@command
def eval_(
    model: Annotated[str | None, typer.Argument(help="Base model folder (HF causal LM).", show_default=False)] = None,
    data: Annotated[list[str] | None, typer.Argument(help="Prompt/completion or chat ('messages') records, one task a file: JSONL ('-' = stdin), a JSON array, a datasets folder or a Parquet file.", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder: results.json, samples.jsonl, lorakit.json.")] = None,
    adapter: Annotated[list[str] | None, typer.Option("--adapter", help="PEFT adapter folder to apply (with --route: repeat, the library).", show_default=False)] = None,
    route: Annotated[Method | None, typer.Option("--route", help=f"Route over the --adapter library as `lorakit route --method` does. {METHOD_HELP}", show_default=False)] = None,
    top_k: TopK = 1,
    temperature: Temperature = 1.0,
    library: Library = None,
    span: Span = "last",
    shots: Shots = None,
    lorahub_steps: LorahubSteps = 40,
    lorahub_search: LorahubSearch = "ngopt",
    allow_different_base: AllowDifferentBase = False,
    seed: Seed = 0,
    predictions: Annotated[str | None, typer.Option("--predictions", help="Score this predictions JSONL instead of generating.")] = None,
    task: Annotated[str | None, typer.Option("--task", help="Task name for a single DATA file.")] = None,
    prompt_field: PromptField = "prompt",
    completion_field: CompletionField = "completion",
    batch_size: GenBatchSize = 64,
    max_new_tokens: MaxNewTokens = 16,
    limit: Annotated[int | None, typer.Option("--limit", help="Evaluate only the first N records of each task.")] = None,
    shard: ShardOpt = None,
    metric: Annotated[choice(COMPARES), typer.Option("--metric", help="exact: normalised strings; numeric: final numbers (after '####', else the last); auto: numeric for tasks whose targets all hold '#### n'.")] = "auto",
    device: Device = "auto",
    threads: Threads = None,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Generate greedy answers and score exact match (numeric for math solutions); or score a predictions file; or route over adapters (--route)."""
    from lorakit.evaluate.run import EvalConfig, run_eval, write_eval
    from lorakit.io import check_output, check_paths

    cfg = EvalConfig(model=model, data=data or [], adapters=adapter or [], predictions=predictions, task=task,
                     prompt_field=prompt_field, completion_field=completion_field, batch_size=batch_size,
                     max_new_tokens=max_new_tokens, limit=limit, metric=metric, device=device,
                     threads=threads, route=route, top_k=top_k, temperature=temperature, library=library, span=span,
                     shots=shots, lorahub_steps=lorahub_steps, lorahub_search=lorahub_search,
                     allow_different_base=allow_different_base, seed=seed,
                     shard=shard, out=str(out) if out else None)
    check_paths({"--out": out}, {"MODEL": model, "DATA": data, "--adapter": adapter, "--predictions": predictions,
                                 "--shots": shots, "--library": library})
    check_output(out, force)
    quiet, json = main_process_only(quiet, json)
    with progress(quiet) as report:
        ev = run_eval(cfg, report)
    if ev is None:  # under a launcher, rank 0 writes
        return
    if out is not None:
        write_eval(out, ev, cfg, force)
    if not quiet:
        results_table(ev.results["results"], ev.results["n-samples"])
    if json:
        emit_json({"out": str(out) if out else None, "results": ev.results["results"],
                   "n-samples": ev.results["n-samples"]})
