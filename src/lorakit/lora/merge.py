"""Merging LoRA adapters in adapter space: small pure functions over factors, and a streaming driver.

Notation: each input i contributes, per module, ΔWᵢ = sᵢ Bᵢ Aᵢ (B out × r, A r × in) and a weight
wᵢ. Factor pairs below have their scaling folded in, so ΔW = B @ A and the output is written
with r == lora_alpha (scaling 1).

- ``uniform`` / ``linear``: A' = Σ wᵢ √sᵢ Aᵢ, B' = Σ wᵢ √sᵢ Bᵢ (ranks zero-padded to the largest);
  the product has cross-terms Bᵢ Aⱼ by design (mttl's uniform, LoraHub). ``uniform`` = weights 1/N.
- ``cat``: [w₁s₁B₁ | …] · [A₁; …], exactly Σ wᵢ ΔWᵢ at rank Σ rᵢ.
- ``task-arithmetic`` (``svd``): the same exact sum re-compressed to ``rank`` by QR of the stacked
  factors and an SVD of the small core; no dense out × in matrix.
- ``ties`` / ``dare-linear`` / ``dare-ties`` / ``magnitude-prune``: elementwise on the dense ΔWᵢ of
  one module, then a truncated SVD back to ``rank``. TIES elects signs on the weighted vectors and
  takes the disjoint mean weighted by |wᵢ| (mergekit's convention; PEFT elects before weighting
  and divides by the count). DARE drops with probability 1 − density, rescales by 1/density, with
  a generator seeded by (seed, module name).
- ``peft_compat``: PEFT's ``add_weighted_adapter`` factor-space arithmetic (A and B merged
  separately with √|wᵢ sᵢ|, sign on A), for ``linear``/``uniform``/``ties``/``dare-*``/``magnitude-prune``.
  DARE there drops entries of A and of B independently (each kept with probability d, times
  1/d) from torch's global RNG, seeded here by ``seed`` and consumed module by module in the
  file's (sorted) order, A before B. PEFT consumes the same RNG initialising the new adapter and
  walks modules in model order, so at density < 1 the masks (not their statistics) differ from
  a given PEFT run; at density 1 the results are equal.

The factor-space and exact methods (``uniform``, ``linear``, ``cat``, ``task-arithmetic``) run on
float64 NumPy arrays without importing torch (its import alone is ~280 MiB of RSS, more than the
adapters of a 7B model); the functions below take NumPy arrays or torch tensors alike and return
the same kind. The elementwise methods and ``--peft-compat`` run on torch (DARE's masks come from
a torch generator; PEFT's functions are torch). Inputs are read and the output written one module
at a time, so peak memory is about the interpreter, one module's work and the output file's
header, whatever the number of modules.
"""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lorakit.errors import IncompatibleError, UsageError
from lorakit.io import atomic_dir, check_output, path_problems, write_json, provenance
from lorakit.runtime import ProgressEvent, ProgressFn, finite_problems, jsonable, no_progress

if TYPE_CHECKING:
    from torch import Tensor

    from lorakit.lora.adapters import Adapter

Method = Literal["uniform", "linear", "cat", "task-arithmetic", "svd", "ties", "dare-linear", "dare-ties", "magnitude-prune"]
METHODS: tuple[str, ...] = ("uniform", "linear", "cat", "task-arithmetic", "svd", "ties", "dare-linear", "dare-ties", "magnitude-prune")
FACTOR_METHODS = ("uniform", "linear")
EXACT_METHODS = ("cat", "task-arithmetic", "svd")
DENSE_METHODS = ("ties", "dare-linear", "dare-ties", "magnitude-prune")
DTYPES = ("auto", "float32", "bfloat16", "float16")
COMMAND = "merge"

Factors = tuple["Tensor", "Tensor"]
"""(B, A) with ΔW = B @ A."""


# exact sums ------------------------------------------------------------------------------------


def xp(t: Any) -> Any:
    """The array module of ``t``: numpy for NumPy arrays, else torch (imported only then)."""
    import numpy as np

    if isinstance(t, np.ndarray):
        return np
    import torch

    return torch


def concat(parts: Sequence[Factors]) -> Factors:
    """[B₁ | B₂ | …] · [A₁; A₂; …] = Σ Bᵢ Aᵢ, exactly."""
    m = xp(parts[0][0])
    return m.concat([b for b, _ in parts], 1), m.concat([a for _, a in parts], 0)


def lowrank_svd(B: "Tensor", A: "Tensor") -> tuple["Tensor", "Tensor", "Tensor"]:
    """U, S, Vh with B @ A = U diag(S) Vh, via QR of B and Aᵀ and an SVD of the small core."""
    m = xp(B)
    qb, rb = m.linalg.qr(B)
    qa, ra = m.linalg.qr(A.T)
    u, s, vh = m.linalg.svd(rb @ ra.T, full_matrices=False)
    return qb @ u, s, vh @ qa.T


def split(U: "Tensor", S: "Tensor", Vh: "Tensor", rank: int) -> tuple["Tensor", "Tensor", float]:
    """Keep the top ``rank`` singular triplets as balanced factors; the relative Frobenius error."""
    m = xp(S)
    root = m.sqrt(S[:rank])
    total = float(m.square(S).sum())
    err = (float(m.square(S[rank:]).sum()) / total) ** 0.5 if total > 0 else 0.0
    return U[:, :rank] * root, root[:, None] * Vh[:rank], err


def recompress(B: "Tensor", A: "Tensor", rank: int) -> tuple["Tensor", "Tensor", float]:
    """Best rank-``rank`` factors of B @ A (Eckart–Young) without forming it; relative error."""
    return split(*lowrank_svd(B, A), rank)


def truncate_dense(delta: "Tensor", rank: int) -> tuple["Tensor", "Tensor", float]:
    """Best rank-``rank`` factors of a dense ΔW (thin SVD); relative error."""
    import torch

    U, S, Vh = torch.linalg.svd(delta, full_matrices=False)
    return split(U, S, Vh, rank)


# factor averaging ------------------------------------------------------------------------------


def pad_rank(t: "Tensor", r: int, dim: int) -> "Tensor":
    """Zero-pad the rank dimension of a factor to ``r``."""
    extra = r - t.shape[dim]
    if extra == 0:
        return t
    shape = list(t.shape)
    shape[dim] = extra
    m = xp(t)
    return m.concat([t, m.zeros(shape, dtype=t.dtype, device=t.device)], dim)


def average(parts: Sequence[Factors], weights: Sequence[float]) -> Factors:
    """B' = Σ wᵢ Bᵢ, A' = Σ wᵢ Aᵢ over factors with √sᵢ folded into each (ranks padded)."""
    r = max(b.shape[1] for b, _ in parts)
    B = sum(w * pad_rank(b, r, 1) for (b, _), w in zip(parts, weights))
    A = sum(w * pad_rank(a, r, 0) for (_, a), w in zip(parts, weights))
    return B, A


def peft_linear_factors(parts: Sequence[Factors], coefs: Sequence[float]) -> tuple[list[float], list[float]]:
    """PEFT's per-factor weights for wᵢ sᵢ: √|wᵢ sᵢ| on B, the same with its sign on A."""
    roots = [abs(c) ** 0.5 for c in coefs]
    return [r if c >= 0 else -r for r, c in zip(roots, coefs)], roots


# elementwise (dense, one module at a time) ------------------------------------------------------


def trim(t: "Tensor", density: float) -> "Tensor":
    """Keep the ``density`` fraction of entries with the largest magnitude (PEFT's magnitude prune)."""
    import torch

    k = int(density * t.numel())
    if k >= t.numel():
        return t
    mask = torch.zeros(t.numel(), dtype=torch.bool, device=t.device)
    mask[torch.topk(t.abs().reshape(-1), k=k).indices] = True
    return t * mask.reshape(t.shape)


def dare(t: "Tensor", density: float, generator: "Any") -> "Tensor":
    """Drop each entry with probability 1 − density, rescale the survivors by 1/density."""
    import torch

    if density >= 1:
        return t
    keep = torch.rand(t.shape, generator=generator, device=t.device) < density
    return t * keep / density


def disjoint_mean(weighted: "Tensor", weights: "Tensor") -> "Tensor":
    """TIES: elect each entry's sign from Σ wᵢτᵢ, average the agreeing entries weighted by |wᵢ|."""
    import torch

    sign = torch.where(weighted.sum(dim=0) >= 0, 1.0, -1.0)
    agree = weighted.sign() == sign
    w = weights.abs().reshape(-1, *[1] * (weighted.dim() - 1)) * agree
    return (weighted * agree).sum(dim=0) / w.sum(dim=0).clamp_min(1e-12)


def combine_dense(method: str, deltas: Sequence["Tensor"], weights: Sequence[float], density: float,
                  generator: "Any" = None) -> "Tensor":
    """One module's merged ΔW for an elementwise method."""
    import torch

    if method in ("dare-linear", "dare-ties"):
        deltas = [dare(d, density, generator) for d in deltas]
    else:
        deltas = [trim(d, density) for d in deltas]
    w = torch.tensor(list(weights), dtype=deltas[0].dtype, device=deltas[0].device)
    weighted = torch.stack(deltas) * w.reshape(-1, 1, 1)
    if method in ("ties", "dare-ties"):
        return disjoint_mean(weighted, w)
    if method in ("dare-linear", "magnitude-prune"):
        return weighted.sum(dim=0)
    raise ValueError(f"not an elementwise method: {method!r}")


def peft_factor_merge(method: str, parts: Sequence[tuple["Tensor", "Tensor", float]], weights: Sequence[float],
                      density: float | None) -> Factors:
    """PEFT ``add_weighted_adapter`` for linear/ties/dare_*/magnitude_prune: A and B merged separately.

    ``parts`` are (B, A, scaling) of the inputs present at this module (unscaled factors).
    """
    import torch
    from peft.utils import merge_utils

    ranks = {b.shape[1] for b, _, _ in parts}
    if len(ranks) > 1:
        raise IncompatibleError(f"--peft-compat {method}: PEFT needs equal ranks, got {sorted(ranks)}")
    wa, wb = peft_linear_factors([(b, a) for b, a, _ in parts], [w * s for (_, _, s), w in zip(parts, weights)])
    fn = {"linear": "task_arithmetic", "uniform": "task_arithmetic", "ties": "ties", "dare-linear": "dare_linear",
          "dare-ties": "dare_ties", "magnitude-prune": "magnitude_prune"}[method]
    merged = []
    for tensors, w in (([a for _, a, _ in parts], wa), ([b for b, _, _ in parts], wb)):
        args: tuple[Any, ...] = (tensors, torch.tensor(w, dtype=tensors[0].dtype))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PEFT warns that density 1 prunes nothing
            merged.append(getattr(merge_utils, fn)(*args) if fn == "task_arithmetic" else getattr(merge_utils, fn)(*args, density))
    A, B = merged
    return B, A


# one module ------------------------------------------------------------------------------------


@dataclass
class ModuleResult:
    B: "Tensor"
    A: "Tensor"
    rank: int
    truncation_error: float | None = None
    """Relative Frobenius error ‖ΔW − ΔW_r‖ / ‖ΔW‖ of a rank reduction (None: none was made)."""


def merge_module(method: str, name: str, parts: Sequence[tuple["Tensor", "Tensor", float]], weights: Sequence[float],
                 rank: int | None = None, density: float | None = None, seed: int = 0,
                 peft_compat: bool = False) -> ModuleResult:
    """Merge one module. ``parts``: (B, A, scaling) per input present (absent inputs are zero).

    Factors may be NumPy arrays for ``uniform``/``linear``/``cat``/``task-arithmetic`` (the result is
    then NumPy too); the other methods and ``peft_compat`` need torch tensors.
    """
    if peft_compat:
        B, A = peft_factor_merge(method, parts, weights, density)
        return ModuleResult(B, A, B.shape[1])
    if method in FACTOR_METHODS:
        B, A = average([(b * s ** 0.5, a * s ** 0.5) for b, a, s in parts], weights)
        return ModuleResult(B, A, B.shape[1])
    scaled = [(b * (w * s), a) for (b, a, s), w in zip(parts, weights)]
    if method == "cat":
        B, A = concat(scaled)
        return ModuleResult(B, A, B.shape[1])
    target = rank or max(b.shape[1] for b, _, _ in parts)
    if method in ("task-arithmetic", "svd"):
        B, A = concat(scaled)
        target = min(target, B.shape[1], B.shape[0], A.shape[1])
        B, A, err = recompress(B, A, target)
        return ModuleResult(B, A, target, err)
    import torch

    gen = torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(name.encode())) % 2**63)
    deltas = [(b * s) @ a for b, a, s in parts]
    merged = combine_dense(method, deltas, weights, density or 1.0, gen)
    target = min(target, *merged.shape)
    B, A, err = truncate_dense(merged, target)
    return ModuleResult(B, A, target, err)


# the streaming driver ----------------------------------------------------------------------------


@dataclass
class MergeConfig:
    adapters: list[Path]
    """Input PEFT adapter folders."""
    out: Path
    """Output adapter folder."""
    method: str = "uniform"
    weights: list[float] | None = None
    """Per-input weights (default: 1/N for uniform/linear, 1 for the others)."""
    rank: int | None = None
    """Target rank where a method re-factorises (default: the largest input rank)."""
    density: float | None = None
    """Fraction kept by ties / dare-* / magnitude-prune."""
    seed: int = 0
    dtype: str = "auto"
    """Output dtype: auto (the inputs' if they agree, else float32), float32, bfloat16, float16."""
    peft_compat: bool = False
    allow_different_bases: bool = False
    into_base: Path | None = None
    """Write a full model folder (this base + the merged ΔW) instead of an adapter folder."""
    force: bool = False

    def validate(self) -> None:
        problems = finite_problems(self)
        if self.method not in METHODS:
            problems.append(f"--method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if not self.adapters:
            problems.append("give at least one ADAPTER folder")
        if self.weights is not None:
            if len(self.weights) != len(self.adapters):
                problems.append(f"--weights has {len(self.weights)} value(s) for {len(self.adapters)} adapter(s)")
            if self.method == "uniform":
                problems.append("--method uniform takes no --weights (use --method linear)")
        if self.rank is not None and self.rank < 1:
            problems.append(f"--rank must be at least 1, not {self.rank}")
        if self.method in DENSE_METHODS:
            if self.density is None:
                problems.append(f"--method {self.method} needs --density (the fraction of entries kept)")
            elif not 0 < self.density <= 1:
                problems.append(f"--density must be in (0, 1], not {self.density}")
        elif self.density is not None:
            problems.append(f"--density applies to {', '.join(DENSE_METHODS)} only")
        if self.peft_compat and self.method in EXACT_METHODS:
            problems.append(f"--peft-compat applies to {', '.join(FACTOR_METHODS + DENSE_METHODS)} (PEFT's {self.method} is already exact)")
        if self.rank is not None and (self.method in FACTOR_METHODS + ("cat",) or self.peft_compat):
            problems.append(f"--rank does not apply to --method {self.method}{' --peft-compat' if self.peft_compat else ''} (the rank is the inputs')")
        if self.dtype not in DTYPES:
            problems.append(f"--dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        problems += path_problems({"--out": self.out}, {"ADAPTERS": list(self.adapters), "--into-base": self.into_base})
        if problems:
            raise UsageError("; ".join(problems))

    def resolved_weights(self) -> list[float]:
        if self.weights is not None:
            return list(self.weights)
        n = len(self.adapters)
        return [1.0 / n] * n if self.method in FACTOR_METHODS else [1.0] * n


@dataclass
class MergeResult:
    out: Path
    method: str
    weights: list[float]
    modules: int
    ranks: dict[str, int]
    truncation_errors: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    input_bytes: int = 0
    left_out: list[str] = field(default_factory=list)
    """``--into-base``: the base's files not copied into the model folder (see ``merge_base.MODEL_FILES``)."""

    def summary(self) -> dict[str, Any]:
        errs = list(self.truncation_errors.values())
        return {"out": str(self.out), "method": self.method, "weights": self.weights, "modules": self.modules,
                "rank": max(self.ranks.values()), "max_truncation_error": max(errs) if errs else None,
                "left_out": self.left_out, "seconds": round(self.seconds, 3)}


def _dtype(name: str, adapters: Sequence["Adapter"]) -> str:
    """The output dtype's name: ``auto`` is the inputs' when they agree, else float32."""
    if name == "auto":
        found = {a.dtype for a in adapters}
        name = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}.get(found.pop(), "float32") if len(found) == 1 else "float32"
    return name


def needs_torch(cfg: MergeConfig) -> bool:
    """Whether this merge computes with torch (elementwise methods, --peft-compat) or NumPy (the rest)."""
    return cfg.peft_compat or cfg.method in DENSE_METHODS


def merge_adapters(cfg: MergeConfig, progress: ProgressFn = no_progress) -> MergeResult:
    """Merge ``cfg.adapters`` module by module and write a PEFT folder with lorakit.json to ``cfg.out``.

    Each module's factors are read, merged and written (appended to the output file, or kept as
    float32 factors for ``--into-base``) before the next module is read. The NumPy methods use
    NumPy's BLAS threads, which follow ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` when NumPy is
    first imported (the CLI sets them from ``--threads``).
    """
    import numpy as np

    from lorakit.lora.adapters import WEIGHTS, TensorWriter, adapter_config, check_mergeable, module_union, open_adapter, write_config
    from lorakit.lora.merge_base import Update, merge_into_base
    from lorakit.models.fingerprint import check_base
    from lorakit.models.load import check_model_dir

    # 1) checks before any work
    start = time.perf_counter()
    cfg.validate()
    check_output(cfg.out, cfg.force)
    if cfg.into_base is not None:
        check_model_dir(cfg.into_base, "base model")
    adapters = [open_adapter(p) for p in cfg.adapters]
    base = check_mergeable(adapters, cfg.allow_different_bases)
    if cfg.into_base is not None:
        for a in adapters:
            check_base(a.path, a.base_record, cfg.into_base, cfg.allow_different_bases)
    weights = cfg.resolved_weights()
    names = module_union(adapters)
    out_dtype = _dtype(cfg.dtype, adapters)
    if needs_torch(cfg):
        import torch

        def read(a: "Adapter", name: str) -> Factors:
            return a.factors(name, torch.float32)

        if cfg.peft_compat:
            torch.manual_seed(cfg.seed)
    else:
        def read(a: "Adapter", name: str) -> Factors:
            return a.arrays(name)  # float64, exact

    # 2) stream: one module of every input at a time, written before the next is read
    ranks: dict[str, int] = {}
    errors: dict[str, float] = {}
    updates: dict[str, Update] = {}
    result = MergeResult(Path(cfg.out), cfg.method, weights, len(names), ranks, errors,
                         input_bytes=sum(a.nbytes for a in adapters))
    with atomic_dir(cfg.out, force=cfg.force) as tmp:
        writer = TensorWriter(tmp / WEIGHTS, out_dtype) if cfg.into_base is None else None
        for step, name in enumerate(names, start=1):
            present = [(a, w) for a, w in zip(adapters, weights) if name in a.modules]
            parts = [(*read(a, name), a.modules[name].scaling) for a, _ in present]
            mod_weights = [w for _, w in present]
            if cfg.method in FACTOR_METHODS and not cfg.peft_compat and len(present) < len(adapters):
                m = present[0][0].modules[name]
                absent = [w for a, w in zip(adapters, weights) if name not in a.modules]
                zero = (np.zeros((m.out_features, 1)), np.zeros((1, m.in_features)), 1.0)
                parts, mod_weights = parts + [zero] * len(absent), mod_weights + absent
            res = merge_module(cfg.method, name, parts, mod_weights, cfg.rank, cfg.density, cfg.seed, cfg.peft_compat)
            del parts
            first = present[0][0]
            if writer is not None:
                for tensor_name, t in zip(first.modules[name].tensor_names(), (res.B, res.A)):
                    writer.add(tensor_name, t)
            else:
                transposed = first.modules[name].kind == "embedding" or first.fan_in_fan_out
                updates[name] = Update(_float32(res.B), _float32(res.A), transposed)
            ranks[name] = res.rank
            if res.truncation_error is not None:
                errors[name] = res.truncation_error
            del res
            progress(ProgressEvent("merge", step, len(names)))

        # 3) save: PEFT folder (r == lora_alpha) or the full model, + lorakit.json
        if writer is not None:
            writer.close()
            write_config(tmp, adapter_config(adapters[0].config, ranks, base, any(a.fan_in_fan_out for a in adapters)))
        else:
            result.left_out = merge_into_base(Path(cfg.into_base), tmp, updates, progress).left_out
        result.seconds = time.perf_counter() - start
        record = provenance(COMMAND, jsonable(asdict(cfg)), cfg.adapters, cfg.seed)
        record["merge"] = {"method": cfg.method, "weights": weights, "peft_compat": cfg.peft_compat,
                           "into_base": str(cfg.into_base) if cfg.into_base else None, "left_out": result.left_out,
                           "base_model_name_or_path": base, "dtype": out_dtype,
                           "modules": {n: {"rank": ranks[n], **({"truncation_error": errors[n]} if n in errors else {})}
                                       for n in names}}
        record["result"] = result.summary()
        write_json(tmp / "lorakit.json", record)
    return result


def _float32(t: Any) -> "Tensor":
    """A merged factor as a float32 torch tensor (for ``--into-base``)."""
    import numpy as np
    import torch

    return torch.from_numpy(t.astype(np.float32)) if isinstance(t, np.ndarray) else t.float()
