"""Dynamic adapter selection at inference time: Arrow per-token routing and output averaging here;
per-example selection (``min-entropy``, ``centroid``) in :mod:`lorakit.lora.select`; few-shot
weight search (``lorahub``) in :mod:`lorakit.lora.lorahub`. ``route_records`` runs any of them.

Arrow and output-average keep the base model untouched and add, on every adapted linear layer, a forward
hook that adds a mixture of the adapters' LoRA outputs::

    y = W x + Σₑ cₑ(x) · sₑ · Bₑ (Aₑ x)

- ``arrow`` (Ostapenko et al. 2024): per token and layer, each adapter's prototype vₑ is the top
  right singular vector of ΔWₑ = sₑ Bₑ Aₑ (computed from the factors: QR of B, SVD of the small
  r × in matrix R A, never the dense ΔW); the token scores each adapter by |⟨x, vₑ⟩|, the top-k
  get a softmax over their scores / temperature, the others weight 0. Same maths as PEFT's
  ``ArrowLoraLinearLayer`` (with ``use_gks=False``), which the tests use as the oracle.
- ``output-average``: every adapter active with cₑ = 1/N (a mixture of the LoRA outputs, with no
  Bᵢ Aⱼ cross-terms — the contrast to factor averaging).

lorakit's own hooks rather than PEFT's ``create_arrow_model``, because PEFT's requires one rank
and one set of target modules for all adapters, recomputes its prototypes by 15 power
iterations from a random start on every load (no cache), and does not expose the routing
decisions, which lorakit writes into every prediction. The concatenated factors
[A₁; …; A_N] let adapters of different ranks mix in two matmuls per layer. GPT-2 ``Conv1D``
layers take the same hook (the factors are in the ``nn.Linear`` layout either way).

Prototypes are cached as safetensors (``arrow_prototypes.safetensors`` beside each adapter, or
``<library>/<sha256 of the weights>.safetensors``) keyed by the weights' sha256, and reused.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorakit.errors import IncompatibleError, UsageError
from lorakit.lora.adapters import WEIGHTS, Adapter, check_mergeable, module_union, open_adapter
from lorakit.lora.select import SPANS
from lorakit.models.generate import generation_problems
from lorakit.runtime import ProgressFn, finite_problems, no_progress

if TYPE_CHECKING:
    import torch

    from lorakit.shard import ShardRun

METHODS = ("arrow", "output-average", "min-entropy", "centroid", "lorahub")
PER_EXAMPLE = ("min-entropy", "centroid")
PROTOTYPES = "arrow_prototypes.safetensors"


@dataclass(kw_only=True)
class RoutingOptions:
    """The per-method routing options ``route`` and ``eval --route`` share (keyword-only)."""

    top_k: int = 1
    """Arrow: adapters mixed per token and layer."""
    temperature: float = 1.0
    """Arrow: softmax temperature over the chosen adapters' scores."""
    library: str | None = None
    """Folder for cached Arrow prototypes (default: beside each adapter)."""
    span: str = "last"
    """min-entropy / centroid: score the prompt's last position, or ``prompt``: the mean over all its positions."""
    shots: str | None = None
    """lorahub: few-shot prompt/completion JSONL the weights are fitted on."""
    lorahub_steps: int = 40
    """lorahub: objective evaluations (the search budget, the start w = 0 included)."""
    seed: int = 0
    """lorahub: seed of the search."""
    allow_different_base: bool = False
    """Apply adapters whose lorakit.json records another base (their shapes must still fit)."""


ROUTING_OPTIONS = tuple(RoutingOptions.__dataclass_fields__)


@dataclass
class RouteConfig(RoutingOptions):
    model: str
    """Base model folder (HF causal LM)."""
    data: str
    """Prompt/completion JSONL ('-' = stdin)."""
    adapters: list[str] = field(default_factory=list)
    """The library: PEFT adapter folders."""
    method: str = "arrow"
    save_merged: str | None = None
    """lorahub: also write the merged adapter (factor-space linear, the found weights) to this folder."""
    force: bool = False
    """Replace an existing --save-merged folder."""
    batch_size: int = 64
    max_new_tokens: int = 16
    limit: int | None = None
    device: str = "auto"
    threads: int | None = None

    def problems(self) -> list[str]:
        """Every problem with the routing options (not the generation ones)."""
        from lorakit.io import STDIO

        problems = []
        if self.method not in METHODS:
            problems.append(f"--method must be one of {'|'.join(METHODS)}, not {self.method!r}")
        if not self.adapters:
            problems.append("the adapter library is empty: give at least one --adapter")
        if self.top_k < 1:
            problems.append("--top-k must be ≥ 1")
        elif self.method == "arrow" and self.adapters and self.top_k > len(self.adapters):
            problems.append(f"--top-k {self.top_k} is larger than the library ({len(self.adapters)} adapter(s))")
        if not self.temperature > 0:
            problems.append("--temperature must be > 0")
        if self.span not in SPANS:
            problems.append(f"--span must be one of {'|'.join(SPANS)}, not {self.span!r}")
        if len(set(map(os.path.realpath, self.adapters))) < len(self.adapters):
            problems.append("an adapter is given twice")
        if self.method == "lorahub":
            if not self.shots:
                problems.append("--method lorahub needs --shots FILE (few-shot prompt/completion JSONL)")
            elif self.shots == STDIO and self.data == STDIO:
                problems.append("--shots and DATA cannot both be '-' (stdin)")
            if self.lorahub_steps < 1:
                problems.append("--lorahub-steps must be ≥ 1")
        else:
            problems += [f"{opt} applies to --method lorahub only" for opt, v in
                         (("--shots", self.shots), ("--save-merged", self.save_merged)) if v]
        return problems

    def validate(self) -> None:
        if problems := finite_problems(self) + self.problems() + generation_problems(self):
            raise UsageError("; ".join(problems))


# maths --------------------------------------------------------------------------------------------


def arrow_prototype(B: "torch.Tensor", A: "torch.Tensor") -> "torch.Tensor":
    """Top right singular vector of B A (in,) from the factors: B = Q R, SVD of the r × in R A.

    Sign fixed so the largest-magnitude entry is positive (routing uses |⟨x, v⟩| anyway).
    """
    import torch

    _, R = torch.linalg.qr(B.double())
    v = torch.linalg.svd(R @ A.double(), full_matrices=False).Vh[0]
    v = v * torch.sign(v[v.abs().argmax()])
    return v.float()


def arrow_coefficients(x: "torch.Tensor", prototypes: "torch.Tensor", top_k: int, temperature: float) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Per-token mixing weights (t, E) and the chosen indices (t, k): softmax of the top-k |⟨x, v⟩| / T."""
    import torch

    sim = (x @ prototypes.T).abs()
    top, idx = torch.topk(sim, top_k, dim=-1)
    coeff = torch.zeros_like(sim).scatter_(-1, idx, torch.softmax(top / temperature, dim=-1))
    return coeff, idx


# prototype cache ----------------------------------------------------------------------------------


def _cache_path(adapter: Adapter, library: str | None, digest: str) -> Path:
    return Path(library) / f"{digest[:32]}.safetensors" if library else adapter.path / PROTOTYPES


def load_prototypes(adapter: Adapter, library: str | None = None) -> dict[str, "torch.Tensor"]:
    """Each linear module's Arrow prototype, read from the cache when it matches the weights, else computed and cached."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import save_file

    from lorakit.io import atomic_file, sha256_path

    digest = sha256_path(adapter.path / WEIGHTS)
    path = _cache_path(adapter, library, digest)
    if path.is_file():
        try:
            with safe_open(str(path), framework="pt") as fh:
                if (fh.metadata() or {}).get("weights_sha256") == digest and set(fh.keys()) == set(adapter.modules):
                    return {k: fh.get_tensor(k) for k in adapter.modules}
        except (SafetensorError, OSError):
            pass  # a stale or broken cache is recomputed
    protos = {name: arrow_prototype(*adapter.factors(name)) for name in adapter.modules}
    try:
        with atomic_file(path, force=True) as tmp:
            save_file(protos, str(tmp), metadata={"weights_sha256": digest, "format": "pt"})
    except OSError:  # a read-only adapter folder: use the prototypes without caching them
        pass
    return protos


# hooks --------------------------------------------------------------------------------------------


def _layer_of(name: str) -> str:
    m = re.search(r"\.(\d+)\.", name)
    return m.group(1) if m else name


@dataclass
class _Module:
    name: str
    experts: list[int]
    """Indices into the library of the adapters present on this module."""
    A: "torch.Tensor"
    """(Σr, in) concatenated A factors."""
    B: "torch.Tensor"
    """(out, Σr) concatenated B factors, each scaled by its sₑ."""
    ranks: "torch.Tensor"
    """(E_here,) rank of each expert, for repeat_interleave."""
    prototypes: "torch.Tensor | None"


class Router:
    """Forward hooks on the adapted layers of ``model`` and per-row routing statistics."""

    def __init__(self, model: Any, adapters: list[Adapter], method: str, top_k: int = 1, temperature: float = 1.0,
                 prototypes: list[dict[str, "torch.Tensor"]] | None = None, stop_ids: Sequence[int] = ()) -> None:
        import torch

        self.method, self.top_k, self.temperature, self.n = method, top_k, temperature, len(adapters)
        self.stop_ids = set(stop_ids)
        self.modules: dict[str, _Module] = {}
        self.handles: list[Any] = []
        weight = next(model.parameters())
        for name in module_union(adapters):
            target = _target(model, name, adapters)
            experts = [i for i, a in enumerate(adapters) if name in a.modules]
            pairs = [adapters[i].factors(name) for i in experts]
            scales = [adapters[i].modules[name].scaling for i in experts]
            A = torch.cat([a for _, a in pairs]).to(weight)
            B = torch.cat([b * s for (b, _), s in zip(pairs, scales)], dim=1).to(weight)
            ranks = torch.tensor([a.shape[0] for _, a in pairs], device=weight.device)
            protos = torch.stack([prototypes[i][name] for i in experts]).to(weight) if prototypes else None
            self.modules[name] = _Module(name, experts, A, B, ranks, protos)
            self.handles.append(target.register_forward_hook(self._hook(self.modules[name])))
        self.handles.append(model.register_forward_pre_hook(self._pre, with_kwargs=True))
        self._rows: list[tuple[int, ...]] = []
        self._mask: "torch.Tensor | None" = None
        self._live: "torch.Tensor | None" = None
        self._w: "torch.Tensor | None" = None
        self._layers: dict[str, "torch.Tensor"] = {}
        self.by_prompt: dict[tuple[int, ...], dict[str, Any]] = {}

    def remove(self) -> None:
        self._flush()
        for h in self.handles:
            h.remove()

    # batch bookkeeping: which rows are real tokens of which prompt
    def _pre(self, module: Any, args: tuple, kwargs: dict) -> None:
        import torch

        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            return
        mask = kwargs.get("attention_mask")
        mask = torch.ones_like(ids) if mask is None else mask
        if ids.shape[1] == mask.shape[1]:  # a new batch (no cache yet)
            self._flush()
            self._rows = [tuple(r[m.bool()].tolist()) for r, m in zip(ids, mask)]
            self._live = torch.ones(ids.shape[0], dtype=torch.bool, device=ids.device)
        elif self._live is not None and self.stop_ids:  # decoding: a row that fed EOS/pad is finished
            fed = ids[:, -1]
            self._live &= ~torch.isin(fed, torch.tensor(sorted(self.stop_ids), device=ids.device))
        self._mask = mask[:, -ids.shape[1]:].bool() & self._live[:, None]

    def _flush(self) -> None:
        if self._w is not None:
            w, layers = self._w.tolist(), {k: v.tolist() for k, v in self._layers.items()}
            for row, key in enumerate(self._rows):
                self.by_prompt[key] = {"weights": w[row], "layers": {k: v[row] for k, v in layers.items()}}
        self._rows, self._w, self._layers = [], None, {}

    def _hook(self, m: _Module) -> Any:
        def hook(module: Any, args: tuple, output: "torch.Tensor") -> "torch.Tensor":
            x = args[0]
            flat = x.reshape(-1, x.shape[-1]).to(m.A.dtype)
            if self.method == "arrow":
                coeff, idx = arrow_coefficients(flat, m.prototypes, min(self.top_k, len(m.experts)), self.temperature)
                self._record(m, x.shape[:-1], coeff, idx)
            else:
                coeff = flat.new_full((flat.shape[0], len(m.experts)), 1.0 / self.n)
            z = (flat @ m.A.T) * coeff.repeat_interleave(m.ranks, dim=1)
            delta = (z @ m.B.T).reshape(*x.shape[:-1], -1)
            return output + delta.to(output.dtype)

        return hook

    def _record(self, m: _Module, shape: Any, coeff: "torch.Tensor", idx: "torch.Tensor") -> None:
        """Add this call's real tokens' weights and top-k choices to each row's totals."""
        import torch

        if self._mask is None or tuple(self._mask.shape) != tuple(shape):
            return
        b, mask = shape[0], self._mask.reshape(-1, 1).to(coeff.dtype)
        chosen = torch.zeros_like(coeff).scatter_(1, idx, 1.0) * mask
        if self._w is None:
            self._w = coeff.new_zeros(b, self.n)
        layer = self._layers.setdefault(_layer_of(m.name), coeff.new_zeros(b, self.n))
        self._w[:, m.experts] += (coeff * mask).reshape(b, -1, coeff.shape[1]).sum(1)
        layer[:, m.experts] += chosen.reshape(b, -1, coeff.shape[1]).sum(1)


def check_fits(model: Any, adapters: list[Adapter]) -> None:
    """Every adapted module is a linear layer of the base model with the adapter's shape."""
    for name in module_union(adapters):
        _target(model, name, adapters)


def _target(model: Any, name: str, adapters: list[Adapter]) -> Any:
    """The base layer an adapter module names, checked to be a linear layer of matching shape."""
    owner = next(a for a in adapters if name in a.modules)
    lm = owner.modules[name]
    if lm.kind != "linear":
        raise IncompatibleError(f"{owner.path}: {name} is an embedding LoRA; route mixes linear-layer LoRAs only")
    try:
        target = model.get_submodule(name)
    except AttributeError:
        raise IncompatibleError(f"{owner.path}: {name} is not a module of this base model (adapter of another model)") from None
    w = getattr(target, "weight", None)
    if w is None or w.dim() != 2:
        raise IncompatibleError(f"{owner.path}: {name} is a {type(target).__name__}, not a linear layer")
    shape = tuple(w.shape) if type(target).__name__ != "Conv1D" else tuple(w.shape[::-1])
    if shape != (lm.out_features, lm.in_features):
        raise IncompatibleError(f"{owner.path}: {name} is {lm.out_features}x{lm.in_features} in the adapter but "
                                f"{shape[0]}x{shape[1]} in the base model (adapter of another model)")
    return target


# the whole run ------------------------------------------------------------------------------------


def open_library(cfg: RouteConfig) -> list[Adapter]:
    """Open and cross-check the adapters against each other and the base folder (no weights read)."""
    from lorakit.models.fingerprint import check_base
    from lorakit.models.load import check_model_dir

    base = check_model_dir(cfg.model)
    adapters = [open_adapter(p) for p in cfg.adapters]
    check_mergeable(adapters, cfg.allow_different_base)
    for a in adapters:
        check_base(a.path, a.base_record, base, cfg.allow_different_base)
        if kinds := sorted({m.name for m in a.modules.values() if m.kind != "linear"}):
            raise IncompatibleError(f"{a.path}: embedding LoRA on {kinds[0]}; route mixes linear-layer LoRAs only")
    return adapters


def routing_record(cfg: RouteConfig, names: list[str], stats: dict[str, Any] | None) -> dict[str, Any]:
    """The ``routing`` field of one prediction.

    arrow: ``weights`` = each adapter's share of the mixing weight over the example's tokens and
    modules; ``layers`` = per transformer layer, each adapter's share of the top-k choices.
    min-entropy / centroid: ``chosen`` and a one-hot ``weights``, with each adapter's prompt
    ``entropy`` (nats) / centroid ``score`` (mean |cos|), and the ``span`` scored. lorahub: the
    found ``weights`` (the same for every example), the few-shot ``loss``, ``objective``
    (loss + l1 · Σ|w|) and ``evaluations``.
    """
    n = len(names)
    if cfg.method in PER_EXAMPLE and stats is not None:
        c, key = stats["chosen"], "entropy" if "entropy" in stats else "score"
        return {"method": cfg.method, "adapters": names, "chosen": names[c], "span": cfg.span,
                "weights": [1.0 if i == c else 0.0 for i in range(n)], key: [round(e, 6) for e in stats[key]]}
    if cfg.method == "lorahub" and stats is not None:
        return {"method": cfg.method, "adapters": names, **stats}
    if cfg.method == "output-average" or stats is None:
        return {"method": cfg.method, "adapters": names, "weights": [1.0 / n] * n}
    def shares(v: list[float]) -> list[float]:
        total = sum(v) or 1.0
        return [round(x / total, 4) for x in v]

    layers = sorted(stats["layers"], key=lambda s: (len(s), s))
    return {"method": "arrow", "adapters": names, "top_k": cfg.top_k, "temperature": cfg.temperature,
            "weights": shares(stats["weights"]), "layers": {k: shares(stats["layers"][k]) for k in layers}}


def _predict_mixed(cfg: RouteConfig, model: Any, tok: Any, adapters: list[Adapter], prompts: list[str],
                   gen: dict[str, Any]) -> tuple[list[str], list[dict[str, Any] | None]]:
    """arrow / output-average: hooks on the base model's adapted layers during generation."""
    from lorakit.models.generate import generate
    from lorakit.models.tokens import encode_prompt

    protos = [load_prototypes(a, cfg.library) for a in adapters] if cfg.method == "arrow" else None
    stop = {i for i in (tok.eos_token_id, tok.pad_token_id) if i is not None}
    router = Router(model, adapters, cfg.method, cfg.top_k, cfg.temperature, protos, stop)
    try:
        preds = generate(model, tok, prompts, **gen)
    finally:
        router.remove()
    return preds, [router.by_prompt.get(tuple(encode_prompt(tok, p))) for p in prompts]


def _predict_lorahub(cfg: RouteConfig, model: Any, tok: Any, adapters: list[Adapter], prompts: list[str],
                     gen: dict[str, Any], shots: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """lorahub: search the weights on the shots, generate with the combination, optionally save it (via merge)."""
    from pathlib import Path

    from lorakit.lora import lorahub
    from lorakit.lora.merge import MergeConfig, merge_adapters
    from lorakit.models.generate import generate

    combo, found = lorahub.search(model, tok, adapters, shots, cfg.lorahub_steps, cfg.seed, cfg.batch_size, gen["progress"])
    try:
        preds = generate(model, tok, prompts, **gen)
    finally:
        combo.remove()
    if cfg.save_merged:
        merge_adapters(MergeConfig(adapters=[Path(a) for a in cfg.adapters], out=Path(cfg.save_merged), method="linear",
                                   weights=found["weights"], seed=cfg.seed, force=cfg.force,
                                   allow_different_bases=cfg.allow_different_base))
    return preds, [found] * len(prompts)


def read_shots(cfg: RouteConfig) -> list[dict[str, Any]]:
    """lorahub's few-shot records (prompt and completion strings; FILE:LINE errors); [] for other methods."""
    from lorakit.io import read_jsonl

    return read_jsonl(cfg.shots, required=("prompt", "completion")) if cfg.method == "lorahub" and cfg.shots else []


def route_records(cfg: RouteConfig, records: list[dict[str, Any]], progress: ProgressFn = no_progress
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Route and generate for ``records`` (each with a ``prompt``): (records + prediction + routing, summary).

    ``cfg`` is validated by the caller; ``cfg.data`` and ``cfg.limit`` are not used here (eval shares this).
    """
    from lorakit.io import check_output
    from lorakit.lora.select import predict_per_example
    from lorakit.models.load import load_causal_lm
    from lorakit.runtime import quiet_libraries, resolve_device, set_threads

    start = time.perf_counter()
    shots = read_shots(cfg)
    adapters = open_library(cfg)
    if cfg.save_merged:
        check_output(cfg.save_merged, cfg.force, option="--save-merged")
    device = resolve_device(cfg.device)
    set_threads(cfg.threads)
    quiet_libraries()
    model, tok = load_causal_lm(cfg.model, device)
    check_fits(model, adapters)
    prompts = [r["prompt"] for r in records]
    names = list(cfg.adapters)
    gen = dict(batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens, progress=progress)
    if cfg.method in PER_EXAMPLE:
        preds, stats = predict_per_example(cfg.method, model, tok, adapters, prompts, gen, cfg.library, cfg.span)
    elif cfg.method == "lorahub":
        preds, stats = _predict_lorahub(cfg, model, tok, adapters, prompts, gen, shots)
    else:
        preds, stats = _predict_mixed(cfg, model, tok, adapters, prompts, gen)
    out = [{**r, "prediction": p, "routing": routing_record(cfg, names, st)} for r, p, st in zip(records, preds, stats)]
    summary = {"method": cfg.method, "adapters": names, "examples": len(out), "modules": len(module_union(adapters)),
               "device": str(device), "seconds": round(time.perf_counter() - start, 3)}
    if cfg.method == "lorahub":
        summary["lorahub"] = stats[0] if stats else None
        summary["merged"] = cfg.save_merged
    return out, summary


def run_route(cfg: RouteConfig, progress: ProgressFn = no_progress, shard: str | None = None
              ) -> tuple[list[dict[str, Any]] | None, dict[str, Any], ShardRun]:
    """Validate, read, route and generate this process's part (see lorakit.shard).

    Returns (prediction records — all of them on rank 0 under a launcher, None on the other
    ranks — summary of this process's part, the shard plan).
    """
    from lorakit.io import read_jsonl
    from lorakit.models.generate import WINDOW_BATCHES
    from lorakit.shard import plan

    cfg.validate()
    records = read_jsonl(cfg.data, required=("prompt",))[: cfg.limit]
    run = plan(shard, len(records), cfg.batch_size * WINDOW_BATCHES)
    lo, hi = run.span
    if hi > lo:
        part, summary = route_records(cfg, records[lo:hi], progress)
    else:  # more shards than windows: this one has nothing to do
        part, summary = [], {"method": cfg.method, "adapters": list(cfg.adapters), "examples": 0, "modules": 0, "seconds": 0.0}
    return run.collect(part), summary, run
