"""``lorakit inspect``: per-module diagnostics of LoRA adapters (norms, spectra, overlap, cross-terms)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from lorakit.cli.common import FewThreads, Force, Json, Quiet, Verbose, command, config_options, console, emit_json, progress
from lorakit.lora.diagnostics import InspectConfig


@command
@config_options(InspectConfig, adapters=typer.Argument(show_default=False))
def inspect_(
    cfg: InspectConfig,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the full report to this JSON file.")] = None,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
    threads: FewThreads = 1,
) -> None:
    """Rank, scaling, ‖ΔW‖, spectrum per module; subspace overlap and uniform-merge cross-terms across adapters."""
    from lorakit.io import atomic_file, check_output, check_paths, write_json
    from lorakit.lora.diagnostics import inspect_adapters
    from lorakit.runtime import set_threads

    set_threads(threads)
    check_paths({"--out": out}, {"ADAPTERS": cfg.adapters})
    check_output(out, force)
    with progress(quiet) as report:
        result = inspect_adapters(cfg, report)
    if out is not None:
        with atomic_file(out, force=force) as tmp:
            write_json(tmp, result)
    if not quiet:
        _table(result)
    if json:
        emit_json(result)


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "–" if x is None else format(x, spec)


def _short(names: list[str]) -> list[str]:
    """Module names without the dotted prefix they all share (``model.layers.``), and without the
    block name (``self_attn.``) where the names stay unique."""
    parts = [n.split(".") for n in names]
    k = 0
    while parts and all(len(p) > k + 1 and p[k] == parts[0][k] for p in parts):
        k += 1
    short = [".".join(p[k:]) for p in parts]
    ends = [f"{p[k]}.{p[-1]}" if len(p) > k + 2 else s for p, s in zip(parts, short)]  # 0.mlp.down_proj -> 0.down_proj
    return ends if len(set(ends)) == len(ends) else short


def _table(result: dict[str, Any]) -> None:
    """One row per module: each adapter's ‖ΔW‖ and effective rank, pair overlaps, cross-term share."""
    adapters, pairs, uniform = result["adapters"], result["pairs"], result["uniform"]
    first = pairs[0] if pairs else None
    n = range(len(adapters))
    title = "LoRA inspect: ‖ΔW‖_F and effective rank per adapter"
    if first:
        title += f"; overlap of adapters 0 and 1 (random ≈ {_fmt(first['mean_column_random'])})"
    shorts = _short(result["modules"])
    module = Column("module", no_wrap=True, min_width=min(30, max(len(x) for x in shorts)))
    table = Table(module, *[f"‖ΔW‖{i}" for i in n], *[f"eff.r{i}" for i in n],
                  *(["col ovl", "row ovl"] if first else []), *(["cross"] if uniform else []), title=title)
    for name, short in zip(result["modules"], shorts):
        mods = [a["modules"].get(name) for a in adapters]
        row = [short, *["–" if m is None else f"{m['norm']:.3g}" for m in mods],
               *["–" if m is None else f"{m['effective_rank']:.1f}" for m in mods]]
        if first:
            p = first["modules"].get(name)
            row += ["–", "–"] if p is None else [_fmt(p["column"]["overlap"]), _fmt(p["row"]["overlap"])]
        if uniform:
            row.append(_fmt(uniform["modules"][name]["share"]))
        table.add_row(*row)
    total = ["all", *[f"{a['norm']:.3g}" for a in adapters], *[f"{a['mean_effective_rank']:.1f}" for a in adapters]]
    if first:
        total += [_fmt(first["mean_column_overlap"]), _fmt(first["mean_row_overlap"])]
    if uniform:
        total.append(_fmt(uniform["cross_share"]))
    table.add_row(*total, style="bold")
    console.print(table)
