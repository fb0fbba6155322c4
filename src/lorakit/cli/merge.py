"""``lorakit merge``: merge PEFT LoRA adapters in adapter space (no base model needed)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from lorakit.cli.common import FewThreads, Json, Quiet, Verbose, choice, command, config_options, emit_json, log, progress
from lorakit.errors import UsageError
from lorakit.lora.merge import DTYPES, MergeConfig
from lorakit.lora.merge_math import METHODS


def parse_weights(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise UsageError(f"--weights must be comma-separated numbers, not {text!r}") from None


def limit_threads(n: int) -> None:
    """Cap BLAS/OpenMP threads for NumPy and torch, without importing torch (the exact methods never do)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)  # read when numpy / torch load
    if "torch" in sys.modules:
        from lorakit.runtime import set_threads

        set_threads(n)


@command
@config_options(MergeConfig, adapters=typer.Argument(show_default=False), method=choice(METHODS),
                weights=Annotated[str | None, typer.Option()], dtype=choice(DTYPES),
                allow_different_bases=typer.Option("--allow-different-bases", "--allow-different-base"),
                convert={"weights": parse_weights})
def merge(cfg: MergeConfig, json: Json = False, quiet: Quiet = False, verbose: Verbose = False, threads: FewThreads = 1) -> None:
    """Merge LoRA adapters module by module into one PEFT adapter folder (r == lora_alpha)."""
    limit_threads(threads)
    from lorakit.lora.merge import merge_adapters

    with progress(quiet) as report:
        result = merge_adapters(cfg, report)
    summary = result.summary()
    if json:
        emit_json(summary)
    err = summary["max_truncation_error"]
    log(f"wrote {cfg.out}: {cfg.method} of {len(cfg.adapters)} adapter(s), {result.modules} modules, rank {summary['rank']}"
        + (f", max relative truncation error {err:.3g}" if err is not None else "") + f", {result.seconds:.2f} s", quiet)
    if result.left_out:
        log(f"left out of {cfg.out} (not part of a model folder): {', '.join(result.left_out)}", quiet)
