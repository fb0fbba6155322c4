"""``lorakit rescore``: rerank candidates with a BERT (pseudo-log-likelihood and/or NSP) or the n-gram control."""

from __future__ import annotations

import typer

from lorakit.cli.common import Json, OutFile, Quiet, Verbose, choice, command, config_options, emit_json, log, main_process_only, progress
from lorakit.rescore import METHODS, VARIANTS
from lorakit.rescore.run import RescoreConfig


@command
@config_options(RescoreConfig, scorer=typer.Argument(), data=typer.Argument(), method=choice(METHODS),
                pll_variant=choice(VARIANTS), batch_size=typer.Option(show_default=False), out=OutFile)
def rescore(cfg: RescoreConfig, json: Json = False, quiet: Quiet = False, verbose: Verbose = False) -> None:
    """Add 'scores' (per candidate, higher = better) and 'best' to every record; keep every input field."""
    from lorakit.rescore.run import rescore as run, summarize
    from lorakit.shard import write_output

    quiet, json = main_process_only(quiet, json)
    with progress(quiet) as report:
        records, plan = run(cfg, report)
    if not write_output(records, cfg.out, cfg.force, plan, cfg.data, "rescore"):
        return
    summary = summarize(records)
    if json and cfg.out not in (None, "-"):
        emit_json({"out": cfg.out, **summary})
    acc = "" if summary["accuracy"] is None else f", best = label in {summary['accuracy']:.1%}"
    log(f"scored {summary['records']} records ({cfg.method}{' contrast' if cfg.contrast else ''}){acc}", quiet)
