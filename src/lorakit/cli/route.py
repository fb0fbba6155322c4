"""``lorakit route``: predictions with adapters chosen or mixed at inference time (Arrow, output average)."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakit.cli.common import Device, GenBatchSize, MaxNewTokens, Force, Json, OutFile, Quiet, Threads, Verbose, command, emit_json, log, progress

Opt = typer.Option


@command
def route(
    model: Annotated[str, typer.Argument(help="Base model folder (HF causal LM).", show_default=False)],
    data: Annotated[str, typer.Argument(help="Prompt/completion JSONL ('-' = stdin).", show_default=False)],
    adapter: Annotated[list[str] | None, Opt("--adapter", help="A PEFT adapter folder of the library (repeat).", show_default=False)] = None,
    method: Annotated[str, Opt(help="arrow: per-token top-k routing on prototypes; output-average: every adapter, LoRA outputs averaged; min-entropy: per example, the adapter with the lowest prompt entropy (mixed-adapter batches).")] = "arrow",
    top_k: Annotated[int, Opt("--top-k", help="Arrow: adapters mixed per token and layer.")] = 1,
    temperature: Annotated[float, Opt(help="Arrow: softmax temperature over the chosen adapters' scores.")] = 1.0,
    library: Annotated[str | None, Opt(help="Folder caching Arrow prototypes (default: arrow_prototypes.safetensors beside each adapter).")] = None,
    out: OutFile = None,
    batch_size: GenBatchSize = 64,
    max_new_tokens: MaxNewTokens = 16,
    limit: Annotated[int | None, Opt("--limit", help="Only the first N records.")] = None,
    device: Device = "auto",
    threads: Threads = None,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Generate with a library of adapters routed per token (Arrow), averaged, or chosen per example; write predictions JSONL for `eval --predictions`."""
    from lorakit.errors import UsageError
    from lorakit.io import STDIO, check_output, write_jsonl
    from lorakit.lora.route import RouteConfig, run_route

    if json and out in (None, STDIO):
        raise UsageError("--json needs --out FILE (stdout carries the predictions)")

    cfg = RouteConfig(model=model, data=data, adapters=adapter or [], method=method, top_k=top_k, temperature=temperature,
                      library=library, batch_size=batch_size, max_new_tokens=max_new_tokens, limit=limit, device=device,
                      threads=threads)
    cfg.validate()
    check_output(out, force)
    with progress(quiet) as report:
        records, summary = run_route(cfg, report)
    write_jsonl(records, out, force=force)
    if json:
        emit_json({"out": out, **summary})
    log(f"routed {summary['examples']} example(s) over {len(summary['adapters'])} adapter(s) ({cfg.method}), "
        f"{summary['modules']} modules, {summary['seconds']:.2f} s", quiet)
