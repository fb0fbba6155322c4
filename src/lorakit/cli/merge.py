"""``lorakit merge``: merge PEFT LoRA adapters in adapter space (no base model needed)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from lorakit.cli.common import Force, Json, Out, Quiet, Seed, Verbose, choice, command, emit_json, log, progress
from lorakit.errors import UsageError
from lorakit.lora.merge import DTYPES
from lorakit.lora.merge_math import METHODS

Opt = typer.Option


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
def merge(
    adapters: Annotated[list[Path], typer.Argument(help="PEFT adapter folders (safetensors).", show_default=False)],
    out: Out,
    method: Annotated[choice(METHODS), Opt(help="How to merge (svd: an alias of task-arithmetic).")] = "uniform",
    weights: Annotated[str | None, Opt(help="Comma-separated weights, one per adapter, negative allowed (default: 1/N for uniform/linear, 1 otherwise).")] = None,
    rank: Annotated[int | None, Opt(help="Target rank where the method re-factorises (default: the largest input rank).")] = None,
    density: Annotated[float | None, Opt(help="Fraction of entries kept by ties / dare-* / magnitude-prune.")] = None,
    dtype: Annotated[choice(DTYPES), Opt(help="Output dtype (auto: the inputs').")] = "auto",
    peft_compat: Annotated[bool, Opt(help="Reproduce PEFT add_weighted_adapter's factor-space arithmetic (linear, ties, dare-*, magnitude-prune).")] = False,
    allow_different_bases: Annotated[bool, Opt("--allow-different-bases", "--allow-different-base", help="Merge adapters whose base_model_name_or_path or recorded base differ, or whose lorakit.json records another base than --into-base (shapes must still match).")] = False,
    into_base: Annotated[Path | None, Opt(help="Write a full model folder: this base (HF folder) + the merged update, streamed tensor by tensor.")] = None,
    seed: Seed = 0,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
    threads: Annotated[int, Opt("--threads", help="CPU threads (default 1: many small factorisations, where more threads mostly add contention).")] = 1,
) -> None:
    """Merge LoRA adapters module by module into one PEFT adapter folder (r == lora_alpha)."""
    limit_threads(threads)
    from lorakit.lora.merge import MergeConfig, merge_adapters

    cfg = MergeConfig(adapters=adapters, out=out, method=method, weights=parse_weights(weights), rank=rank,
                      density=density, seed=seed, dtype=dtype, peft_compat=peft_compat,
                      allow_different_bases=allow_different_bases, into_base=into_base, force=force)
    with progress(quiet) as report:
        result = merge_adapters(cfg, report)
    summary = result.summary()
    if json:
        emit_json(summary)
    err = summary["max_truncation_error"]
    log(f"wrote {out}: {method} of {len(adapters)} adapter(s), {result.modules} modules, rank {summary['rank']}"
        + (f", max relative truncation error {err:.3g}" if err is not None else "") + f", {result.seconds:.2f} s", quiet)
    if result.left_out:
        log(f"left out of {out} (not part of a model folder): {', '.join(result.left_out)}", quiet)
