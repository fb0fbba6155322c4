"""``lorakit route``: predictions with adapters chosen or mixed at inference time (Arrow, per example, LoraHub)."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakit.cli.common import (Json, OutFile, Quiet, ShardOpt, Verbose, choice, command, config_options, emit_json, log,
                               main_process_only, progress)
from lorakit.lora.lorahub import SEARCH_NAMES
from lorakit.lora.route import RouteConfig
from lorakit.lora.route_methods import METHODS
from lorakit.lora.select import SPANS

ROUTING = {"span": choice(SPANS), "lorahub_search": choice(SEARCH_NAMES), "shots": typer.Option(show_default=False)}
"""How the routing options (``RoutingOptions``) show on ``route`` and ``eval --route``."""


@command
@config_options(RouteConfig, model=typer.Argument(show_default=False), data=typer.Argument(show_default=False),
                adapters=Annotated[list[str] | None, typer.Option("--adapter", show_default=False)], method=choice(METHODS),
                save_merged=typer.Option(show_default=False), **ROUTING)
def route(cfg: RouteConfig, out: OutFile = None, shard: ShardOpt = None, json: Json = False, quiet: Quiet = False,
          verbose: Verbose = False) -> None:
    """Generate with a library of adapters routed per token (Arrow), averaged, chosen per example, or weighted by LoraHub; write predictions JSONL for `eval --predictions`."""
    from lorakit.distributed import world_size
    from lorakit.errors import UsageError
    from lorakit.io import STDIO, check_output, path_problems
    from lorakit.lora.route import run_route
    from lorakit.shard import shard_problems, write_output

    problems = shard_problems(shard, out, [cfg.data])
    if json and out in (None, STDIO):
        problems.append("--json needs --out FILE (stdout carries the predictions)")
    if cfg.save_merged and (shard or world_size() > 1):
        problems.append("--save-merged writes one adapter: use it in a one-process run, without --shard")
    problems += path_problems({"--out": out, "--save-merged": cfg.save_merged},
                              {"MODEL": cfg.model, "DATA": cfg.data, "--adapter": cfg.adapters, "--shots": cfg.shots,
                               "--library": cfg.library})
    if problems:
        raise UsageError("; ".join(problems))
    quiet, json = main_process_only(quiet, json)
    cfg.validate()
    check_output(out, cfg.force, stdio=True)
    with progress(quiet) as report:
        records, summary, run = run_route(cfg, report, shard)
    if not write_output(records, out, cfg.force, run, cfg.data, "route"):
        return
    if json:
        emit_json({"out": out, **summary})
    log(f"routed {len(records)} example(s) over {len(summary['adapters'])} adapter(s) ({cfg.method}), "
        f"{summary['modules']} modules, {summary['seconds']:.2f} s", quiet)
