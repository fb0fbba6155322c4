"""``lorakit rescore``: rerank candidates with a BERT (pseudo-log-likelihood and/or NSP) or the n-gram control."""

from __future__ import annotations

import typer

from lorakit.cli.common import (Force, Json, OutFile, Quiet, ShardOpt, Verbose, choice, command, config_options, emit_json,
                               log, main_process_only)
from lorakit.rescore import METHODS, VARIANTS
from lorakit.rescore.run import RescoreConfig


@command
@config_options(RescoreConfig, scorer=typer.Argument(), data=typer.Argument(), method=choice(METHODS),
                pll_variant=choice(VARIANTS), batch_size=typer.Option(show_default=False))
def rescore(cfg: RescoreConfig, out: OutFile = None, shard: ShardOpt = None, force: Force = False, json: Json = False,
            quiet: Quiet = False, verbose: Verbose = False) -> None:
    """Add 'scores' (per candidate, higher = better) and 'best' to every record; keep every input field."""
    import json as jsonlib

    from lorakit.errors import UsageError
    from lorakit.io import check_output, path_problems
    from lorakit.rescore.run import dumps_summary, rescore as run
    from lorakit.shard import shard_problems, write_output

    cfg.validate()
    if problems := shard_problems(shard, out, [cfg.data]) + path_problems({"--out": out}, {"SCORER": cfg.scorer, "DATA": cfg.data}):
        raise UsageError("; ".join(problems))
    check_output(out, force, stdio=True)
    quiet, json = main_process_only(quiet, json)
    records, plan = run(cfg, shard)
    if not write_output(records, out, force, plan, cfg.data, "rescore"):
        return
    summary = jsonlib.loads(dumps_summary(records))
    if json and out not in (None, "-"):
        emit_json({"out": out, **summary})
    acc = "" if summary["accuracy"] is None else f", best = label in {summary['accuracy']:.1%}"
    log(f"scored {summary['records']} records ({cfg.method}{' contrast' if cfg.contrast else ''}){acc}", quiet)
