"""``lorakit route``: predictions with adapters chosen or mixed at inference time (Arrow, per example, LoraHub)."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakit.cli.common import (AllowDifferentBase, Device, Force, GenBatchSize, Json, MaxNewTokens, OutFile, Quiet, Seed, ShardOpt, Threads, Verbose,
                               command, emit_json, log, main_process_only, progress)
from lorakit.cli.routing import METHOD_HELP, Adapters, Method, Library, LorahubSearch, LorahubSteps, Shots, Span, Temperature, TopK

Opt = typer.Option


@command
def route(
    model: Annotated[str, typer.Argument(help="Base model folder (HF causal LM).", show_default=False)],
    data: Annotated[str, typer.Argument(help="Prompt/completion JSONL ('-' = stdin).", show_default=False)],
    adapter: Adapters = None,
    method: Annotated[Method, Opt(help=METHOD_HELP)] = "arrow",
    top_k: TopK = 1,
    temperature: Temperature = 1.0,
    library: Library = None,
    span: Span = "last",
    shots: Shots = None,
    lorahub_steps: LorahubSteps = 40,
    lorahub_search: LorahubSearch = "ngopt",
    allow_different_base: AllowDifferentBase = False,
    save_merged: Annotated[str | None, Opt("--save-merged", help="lorahub: also write the merged adapter (PEFT folder) here.", show_default=False)] = None,
    out: OutFile = None,
    batch_size: GenBatchSize = 64,
    max_new_tokens: MaxNewTokens = 16,
    limit: Annotated[int | None, Opt("--limit", help="Only the first N records.")] = None,
    shard: ShardOpt = None,
    seed: Seed = 0,
    device: Device = "auto",
    threads: Threads = None,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Generate with a library of adapters routed per token (Arrow), averaged, chosen per example, or weighted by LoraHub; write predictions JSONL for `eval --predictions`."""
    from lorakit.distributed import world_size
    from lorakit.errors import UsageError
    from lorakit.io import STDIO, check_output, path_problems
    from lorakit.lora.route import RouteConfig, run_route
    from lorakit.shard import shard_problems, write_output

    problems = shard_problems(shard, out, [data])
    if json and out in (None, STDIO):
        problems.append("--json needs --out FILE (stdout carries the predictions)")
    if save_merged and (shard or world_size() > 1):
        problems.append("--save-merged writes one adapter: use it in a one-process run, without --shard")
    problems += path_problems({"--out": out, "--save-merged": save_merged},
                              {"MODEL": model, "DATA": data, "--adapter": adapter, "--shots": shots, "--library": library})
    if problems:
        raise UsageError("; ".join(problems))
    quiet, json = main_process_only(quiet, json)

    cfg = RouteConfig(model=model, data=data, adapters=adapter or [], method=method, top_k=top_k, temperature=temperature,
                      library=library, span=span, shots=shots, lorahub_steps=lorahub_steps, lorahub_search=lorahub_search,
                      allow_different_base=allow_different_base, seed=seed, save_merged=save_merged,
                      force=force, batch_size=batch_size, max_new_tokens=max_new_tokens, limit=limit, device=device,
                      threads=threads)
    cfg.validate()
    check_output(out, force, stdio=True)
    with progress(quiet) as report:
        records, summary, run = run_route(cfg, report, shard)
    if not write_output(records, out, force, run, data, "route"):
        return
    if json:
        emit_json({"out": out, **summary})
    log(f"routed {len(records)} example(s) over {len(summary['adapters'])} adapter(s) ({cfg.method}), "
        f"{summary['modules']} modules, {summary['seconds']:.2f} s", quiet)
