"""``lorakit route``: predictions with adapters chosen or mixed at inference time (Arrow, per example, LoraHub)."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakit.cli.common import (Json, OutFile, Quiet, Verbose, choice, command, config_options, emit_json, log,
                               main_process_only, progress)
from lorakit.lora.lorahub import SEARCH_NAMES
from lorakit.lora.route import RouteConfig
from lorakit.lora.route_methods import METHODS
from lorakit.lora.per_example import SPANS

ROUTING = {"span": choice(SPANS), "lorahub_search": choice(SEARCH_NAMES), "shots": typer.Option(show_default=False)}
"""How the routing options (``RoutingOptions``) show on ``route`` and ``eval --route``."""


@command
@config_options(RouteConfig, model=typer.Argument(show_default=False), data=typer.Argument(show_default=False),
                adapters=Annotated[list[str] | None, typer.Option("--adapter", show_default=False)], method=choice(METHODS),
                save_merged=typer.Option(show_default=False), out=OutFile, **ROUTING)
def route(cfg: RouteConfig, json: Json = False, quiet: Quiet = False, verbose: Verbose = False) -> None:
    """Generate with a library of adapters routed per token (Arrow), averaged, chosen per example, or weighted by LoraHub; write predictions JSONL for `eval --predictions`."""
    from lorakit.errors import UsageError
    from lorakit.io import STDIO
    from lorakit.lora.route import run_route
    from lorakit.shard import write_output

    if json and cfg.out in (None, STDIO):
        raise UsageError("--json needs --out FILE (stdout carries the predictions)")
    quiet, json = main_process_only(quiet, json)
    with progress(quiet) as report:
        records, summary, run = run_route(cfg, report)
    if not write_output(records, cfg.out, cfg.force, run, cfg.data, "route"):
        return
    if json:
        emit_json({"out": cfg.out, **summary})
    log(f"routed {len(records)} example(s) over {len(summary['adapters'])} adapter(s) ({cfg.method}), "
        f"{summary['modules']} modules, {summary['seconds']:.2f} s", quiet)
