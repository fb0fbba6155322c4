"""Dynamic adapter selection at inference time: ``route_records`` runs any method of the table in
:mod:`lorakit.lora.route_methods` — Arrow per-token routing and output averaging (adapters added by
:mod:`lorakit.lora.hooks`), per-example selection (:mod:`lorakit.lora.per_example`) and few-shot weight
search (:mod:`lorakit.lora.lorahub`) — on a base model and a library of adapters.

``RouteConfig`` holds the options (``route`` builds it; ``eval --route`` through
``EvalConfig.route_config``), the routing ones in a ``RoutingOptions`` part checked by
``routing_problems``; ``run_route`` reads the data and splits it across processes
(``lorakit.shard``), and every prediction carries a ``routing`` record (``routing_record``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lorakit.errors import IncompatibleError, UsageError
from lorakit.lora.adapters import Adapter, check_mergeable, module_union, open_adapter
from lorakit.lora.lorahub import SEARCH_NAMES
from lorakit.lora.route_methods import METHODS, RoutingOptions, Run, Stats, uniform_record
from lorakit.lora.per_example import SPANS
from lorakit.models.generate import generation_problems
from lorakit.runtime import ProgressFn, finite_problems, no_progress

if TYPE_CHECKING:
    from lorakit.shard import ShardRun


FITTED = "|".join(name for name, m in METHODS.items() if m.shots)
"""The methods fitted on --shots (which may --save-merged)."""


def routing_problems(method_name: str, adapters: list[str], routing: RoutingOptions, inputs: Sequence[str]) -> list[str]:
    """Every problem with ``--method`` (``eval --route``), its library and its routing options; ``inputs``:
    the data files (for the stdin clash with --shots)."""
    from lorakit.io import STDIO

    problems = []
    method = METHODS.get(method_name)
    if method is None:
        problems.append(f"--method must be one of {'|'.join(METHODS)}, not {method_name!r}")
    if not adapters:
        problems.append("the adapter library is empty: give at least one --adapter")
    if routing.top_k < 1:
        problems.append(f"--top-k must be at least 1, not {routing.top_k}")
    elif method and method.top_k and adapters and routing.top_k > len(adapters):
        problems.append(f"--top-k {routing.top_k} is larger than the library ({len(adapters)} adapter(s))")
    if not routing.temperature > 0:
        problems.append(f"--temperature must be positive, not {routing.temperature}")
    if routing.span not in SPANS:
        problems.append(f"--span must be one of {'|'.join(SPANS)}, not {routing.span!r}")
    if len(set(map(os.path.realpath, adapters))) < len(adapters):
        problems.append("an adapter is given twice")
    if method and method.shots:
        if not routing.shots:
            problems.append(f"--method {method_name} needs --shots FILE (few-shot prompt/completion JSONL)")
        elif routing.shots == STDIO and STDIO in inputs:
            problems.append("--shots and DATA cannot both be '-' (stdin)")
        if routing.lorahub_steps < 1:
            problems.append(f"--lorahub-steps must be at least 1, not {routing.lorahub_steps}")
        if routing.lorahub_search not in SEARCH_NAMES:
            problems.append(f"--lorahub-search must be one of {'|'.join(SEARCH_NAMES)}, not {routing.lorahub_search!r}")
    elif routing.shots:
        problems.append(f"--shots applies to --method {FITTED} only")
    return problems


@dataclass
class RouteConfig:
    model: str
    """Base model folder (HF causal LM)."""
    data: str
    """Prompt records (a completion is optional), chat ('messages') records, a JSON array, a datasets folder or a Parquet file ('-': JSONL on stdin)."""
    adapters: list[str] = field(default_factory=list)
    """A PEFT adapter folder of the library (repeat)."""
    method: str = "arrow"
    """arrow: per-token top-k routing on prototypes; output-average: every adapter, LoRA outputs averaged;
    min-entropy / centroid: per example, the adapter with the lowest prompt entropy / the prompt nearest its
    Arrow prototypes (mixed-adapter batches); lorahub: weights searched on --shots, then merged."""
    routing: RoutingOptions = field(default_factory=RoutingOptions)
    save_merged: str | None = None
    """lorahub: also write the merged adapter (factor-space linear, the found weights) to this folder."""
    out: str | None = None
    force: bool = False  # also replaces an existing --save-merged folder
    batch_size: int = 64
    max_new_tokens: int = 16
    limit: int | None = None
    """Only the first N records."""
    shard: str | None = None
    device: str = "auto"
    threads: int | None = None

    def validate(self) -> None:
        """Every option problem as one UsageError; then an existing --out without --force."""
        from lorakit.distributed import world_size
        from lorakit.io import check_output, path_problems
        from lorakit.shard import shard_problems

        problems = shard_problems(self.shard, self.out, [self.data])
        if self.save_merged and (self.shard or world_size() > 1):
            problems.append("--save-merged writes one adapter: use it in a one-process run, without --shard")
        problems += path_problems({"--out": self.out, "--save-merged": self.save_merged},
                                  {"MODEL": self.model, "DATA": self.data, "--adapter": self.adapters,
                                   "--shots": self.routing.shots, "--library": self.routing.library})
        problems += finite_problems(self) + routing_problems(self.method, self.adapters, self.routing, [self.data])
        if self.save_merged and not (self.method in METHODS and METHODS[self.method].shots):
            problems.append(f"--save-merged applies to --method {FITTED} only")
        if problems := problems + generation_problems(self):
            raise UsageError("; ".join(problems))
        check_output(self.out, self.force, stdio=True)


def open_library(cfg: RouteConfig) -> list[Adapter]:
    """Open and cross-check the adapters against each other and the base folder (no weights read)."""
    from lorakit.models.fingerprint import check_base
    from lorakit.models.load import check_model_dir

    base = check_model_dir(cfg.model)
    adapters = [open_adapter(p) for p in cfg.adapters]
    check_mergeable(adapters, cfg.routing.allow_different_base)
    for a in adapters:
        check_base(a.path, a.base_record, base, cfg.routing.allow_different_base)
        if kinds := sorted({m.name for m in a.modules.values() if m.kind != "linear"}):
            raise IncompatibleError(f"{a.path}: embedding LoRA on {kinds[0]}; route mixes linear-layer LoRAs only")
    return adapters


def read_shots(cfg: RouteConfig) -> list[dict[str, Any]]:
    """The few-shot records of a method fitted on them (prompt/completion or chat records, as
    ``train-lora`` reads them; chats rendered once the model is loaded); else []."""
    from lorakit.records import read_records

    shots = cfg.routing.shots
    return read_records(shots) if METHODS[cfg.method].shots and shots else []


def routing_record(cfg: RouteConfig, names: list[str], stats: Stats) -> dict[str, Any]:
    """The ``routing`` field of one prediction: ``method``, ``adapters``, then the method's record
    (``route_methods``; every adapter at 1/N where a prediction has no stats)."""
    record = uniform_record if stats is None else METHODS[cfg.method].record
    return {"method": cfg.method, "adapters": names, **record(cfg.routing, names, stats)}


def save_merged(cfg: RouteConfig, adapters: list[Adapter], weights: list[float]) -> None:
    """``--save-merged``: the found combination as merge's ``linear`` adapter, from the adapters already open."""
    from lorakit.lora.merge import MergeConfig, merge_adapters

    merge_adapters(MergeConfig(adapters=[Path(a) for a in cfg.adapters], out=Path(cfg.save_merged), method="linear",
                               weights=weights, seed=cfg.routing.seed, force=cfg.force,
                               allow_different_bases=cfg.routing.allow_different_base), opened=adapters)


def route_records(cfg: RouteConfig, records: list[dict[str, Any]], progress: ProgressFn = no_progress
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Route and generate for ``records`` (each with a ``prompt``): (records + prediction + routing, summary).

    ``cfg`` is validated by the caller; ``cfg.data`` and ``cfg.limit`` are not used here (eval shares this).
    """
    from lorakit.io import check_output
    from lorakit.lora.hooks import check_fits
    from lorakit.lora.prototypes import load_prototypes
    from lorakit.models.load import load_causal_lm
    from lorakit.records import render_chats
    from lorakit.runtime import quiet_libraries, resolve_device, set_threads

    start = time.perf_counter()
    method = METHODS[cfg.method]
    shots = read_shots(cfg)
    adapters = open_library(cfg)
    if cfg.save_merged:
        check_output(cfg.save_merged, cfg.force, option="--save-merged")
    device = resolve_device(cfg.device)
    set_threads(cfg.threads)
    quiet_libraries()
    model, tok = load_causal_lm(cfg.model, device)
    render_chats(shots, tok, cfg.routing.shots, cfg.model)
    check_fits(model, adapters)
    names = list(cfg.adapters)
    protos = [load_prototypes(a, cfg.routing.library) for a in adapters] if method.prototypes else None
    gen = dict(batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens, progress=progress)
    preds, stats = method.predict(cfg.routing, Run(model, tok, adapters, [r["prompt"] for r in records], gen, protos, shots))
    if cfg.save_merged:
        save_merged(cfg, adapters, stats[0]["weights"])
    out = [{**r, "prediction": p, "routing": routing_record(cfg, names, st)} for r, p, st in zip(records, preds, stats)]
    summary = {"method": cfg.method, "adapters": names, "examples": len(out), "modules": len(module_union(adapters)),
               "device": str(device), "seconds": round(time.perf_counter() - start, 3)}
    if method.shots:
        summary[cfg.method] = stats[0] if stats else None
        summary["merged"] = cfg.save_merged
    return out, summary


def run_route(cfg: RouteConfig, progress: ProgressFn = no_progress
              ) -> tuple[list[dict[str, Any]] | None, dict[str, Any], ShardRun]:
    """Validate, read, route and generate this process's part (see lorakit.shard).

    Returns (prediction records — all of them on rank 0 under a launcher, None on the other
    ranks — summary of this process's part, the shard plan).
    """
    from lorakit.models.generate import WINDOW_BATCHES
    from lorakit.records import has_chats, read_records, render_chats
    from lorakit.shard import plan

    cfg.validate()
    records = read_records(cfg.data, completion=False)[: cfg.limit]
    if has_chats(records):
        from lorakit.models.load import check_model_dir, load_tokenizer

        render_chats(records, load_tokenizer(check_model_dir(cfg.model)), cfg.data, cfg.model)
    run = plan(cfg.shard, len(records), cfg.batch_size * WINDOW_BATCHES)
    lo, hi = run.span
    if hi > lo:
        part, summary = route_records(cfg, records[lo:hi], progress)
    else:  # more shards than windows: this one has nothing to do
        part, summary = [], {"method": cfg.method, "adapters": list(cfg.adapters), "examples": 0, "modules": 0, "seconds": 0.0}
    return run.collect(part), summary, run
