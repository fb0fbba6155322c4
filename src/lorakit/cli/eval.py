"""``lorakit eval``: exact-match evaluation with lm-evaluation-harness style results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lorakit.cli.common import Json, Quiet, Verbose, choice, command, config_options, emit_json, main_process_only, progress
from lorakit.cli.render import results_table
from lorakit.cli.route import ROUTING
from lorakit.evaluate.run import COMPARES, EvalConfig
from lorakit.lora.route_methods import METHODS


@command
@config_options(EvalConfig, model=typer.Argument(show_default=False),
                data=Annotated[list[str] | None, typer.Argument(show_default=False)],
                adapters=Annotated[list[str] | None, typer.Option("--adapter", show_default=False)],
                route=Annotated[choice(METHODS) | None, typer.Option(show_default=False)], metric=choice(COMPARES),
                scored=typer.Option(show_default=False),
                out=Annotated[Path | None, typer.Option("--out", "-o")], convert={"out": lambda o: str(o) if o else None},
                **ROUTING)
def eval_(cfg: EvalConfig, json: Json = False, quiet: Quiet = False, verbose: Verbose = False) -> None:
    """Generate greedy answers and score exact match (numeric for math solutions); or score a predictions file; or route over adapters (--route); or score a rescored file's pairwise accuracy (--scored)."""
    from lorakit.evaluate.run import run_eval, write_eval

    quiet, json = main_process_only(quiet, json)
    with progress(quiet) as report:
        ev = run_eval(cfg, report)
    if ev is None:  # under a launcher, rank 0 writes
        return
    if cfg.out is not None:
        write_eval(cfg.out, ev, cfg)
    if not quiet:
        results_table(ev.results["results"], ev.results["n-samples"])
    if json:
        emit_json({"out": cfg.out, "results": ev.results["results"], "n-samples": ev.results["n-samples"]})
