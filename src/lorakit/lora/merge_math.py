"""Merging LoRA adapters in adapter space: the maths, small pure functions over factors (no I/O).

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

The factor-space and exact methods (``uniform``, ``linear``, ``cat``, ``task-arithmetic``) take
NumPy arrays or torch tensors alike and return the same kind, importing torch only for tensors
(``lorakit.lora.merge`` runs them on NumPy, without torch). The elementwise methods and
``peft_compat`` run on torch (DARE's masks come from a torch generator; PEFT's functions are
torch). ``lowrank_svd`` is shared: ``inspect`` reads singular values through it, and an Arrow
prototype (``lorakit.lora.prototypes``) is its top right singular vector.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lorakit.errors import IncompatibleError

if TYPE_CHECKING:
    from torch import Tensor

METHODS: tuple[str, ...] = ("uniform", "linear", "cat", "task-arithmetic", "svd", "ties", "dare-linear", "dare-ties", "magnitude-prune")
FACTOR_METHODS = ("uniform", "linear")
EXACT_METHODS = ("cat", "task-arithmetic", "svd")
RECOMPRESS_METHODS = ("task-arithmetic", "svd")
DENSE_METHODS = ("ties", "dare-linear", "dare-ties", "magnitude-prune")

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


def concat(parts: Sequence[Factors], wide: bool = False) -> Factors:
    """[B₁ | B₂ | …] · [A₁; A₂; …] = Σ Bᵢ Aᵢ, exactly; ``wide``: as float64, widened as they are copied."""
    m = xp(parts[0][0])
    if wide and m.__name__ == "numpy":
        return m.concatenate([b for b, _ in parts], 1, dtype=m.float64), m.concatenate([a for _, a in parts], 0, dtype=m.float64)
    B, A = m.concat([b for b, _ in parts], 1), m.concat([a for _, a in parts], 0)
    return (B.double(), A.double()) if wide else (B, A)


def column_scale(ranks: Sequence[int], coefs: Sequence[float], like: "Tensor") -> "Tensor":
    """The coefficient of each rank column of a concatenation: cᵢ repeated rᵢ times."""
    m = xp(like)
    values = [c for r, c in zip(ranks, coefs) for _ in range(r)]
    return m.asarray(values, dtype=like.dtype) if m.__name__ == "numpy" else m.tensor(values, dtype=like.dtype, device=like.device)


def lowrank_svd(B: "Tensor", A: "Tensor") -> tuple["Tensor", "Tensor", "Tensor"]:
    """U, S, Vh with B @ A = U diag(S) Vh, via QR of B and Aᵀ and an SVD of the small core."""
    m = xp(B)
    qb, rb = m.linalg.qr(B)
    qa, ra = m.linalg.qr(A.T)
    u, s, vh = m.linalg.svd(rb @ ra.T, full_matrices=False)
    return qb @ u, s, vh @ qa.T


GRAM_MAX_COND = 1e4
"""``gram_svd`` serves factors up to this condition number: its Gram matrices square it, so its
errors stay near ε·κ² ≈ 1e-8 (float64), below the float32 the factors are written in."""


def _cholesky(gram: "Tensor") -> "tuple[Tensor, Tensor] | None":
    """(L, L⁻¹) with gram = L Lᵀ, or None when gram's condition number (the factor's, squared)
    exceeds ``GRAM_MAX_COND``² or it is not positive definite."""
    m = xp(gram)
    smallest, largest = (float(x) for x in m.linalg.eigvalsh(gram)[[0, -1]])
    if not smallest > 0 or smallest / largest < GRAM_MAX_COND**-2:
        return None
    factor = m.linalg.cholesky(gram)
    return factor, m.linalg.inv(factor)


def gram_svd(B: "Tensor", A: "Tensor", rank: int | None = None, scale: "Tensor | None" = None
             ) -> "tuple[Tensor, Tensor, Tensor] | None":
    """``lowrank_svd`` from the small Gram matrices Bᵀ B = L_b L_bᵀ and A Aᵀ = L_a L_aᵀ (matrix
    products and two Cholesky factorisations, ~10× faster than QR of tall factors): B = Q_b L_bᵀ and
    A = L_a Q_aᵀ with orthonormal Q_b = B L_b⁻ᵀ, Q_aᵀ = L_a⁻¹ A, so B A = Q_b (L_bᵀ L_a) Q_aᵀ and the
    SVD of the Σr × Σr core gives the rest. ``rank``: only the top ``rank`` singular vectors (all
    the singular values). ``scale``: of B · diag(scale), applied to the small matrices only. None
    when a factor is rank-deficient or too ill-conditioned (``GRAM_MAX_COND``): QR is then the
    accurate way."""
    m = xp(B)
    gb = B.T @ B
    if scale is not None:
        gb = gb * scale[:, None] * scale[None, :]
    fb = _cholesky(gb)
    fa = _cholesky(A @ A.T) if fb is not None else None
    if fa is None:
        return None
    (lb, ib), (la, ia) = fb, fa
    u, s, vh = m.linalg.svd(lb.T @ la, full_matrices=False)
    left = ib.T @ u[:, :rank]
    return B @ (left if scale is None else scale[:, None] * left), s, (vh[:rank] @ ia) @ A


def split(U: "Tensor", S: "Tensor", Vh: "Tensor", rank: int) -> tuple["Tensor", "Tensor", float]:
    """Keep the top ``rank`` singular triplets as balanced factors; the relative Frobenius error."""
    m = xp(S)
    root = m.sqrt(S[:rank])
    total = float(m.square(S).sum())
    err = (float(m.square(S[rank:]).sum()) / total) ** 0.5 if total > 0 else 0.0
    return U[:, :rank] * root, root[:, None] * Vh[:rank], err


def recompress(B: "Tensor", A: "Tensor", rank: int, scale: "Tensor | None" = None) -> tuple["Tensor", "Tensor", float]:
    """Best rank-``rank`` factors of B · diag(``scale``) · A (Eckart–Young) without forming it;
    relative error. Well-conditioned factors take ``gram_svd``, others ``lowrank_svd``'s QR."""
    fast = gram_svd(B, A, rank, scale)
    return split(*(fast or lowrank_svd(B if scale is None else B * scale[None, :], A)), rank)


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
    if method == "cat":
        B, A = concat([(b * (w * s), a) for (b, a, s), w in zip(parts, weights)])
        return ModuleResult(B, A, B.shape[1])
    target = rank or max(b.shape[1] for b, _, _ in parts)
    if method in RECOMPRESS_METHODS:  # the coefficients go to the small matrices, not the factors
        B, A = concat([(b, a) for b, a, _ in parts], wide=True)
        target = min(target, B.shape[1], B.shape[0], A.shape[1])
        scale = column_scale([b.shape[1] for b, _, _ in parts], [w * s for (_, _, s), w in zip(parts, weights)], B)
        B, A, err = recompress(B, A, target, scale)
        return ModuleResult(B, A, target, err)
    import torch

    gen = torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(name.encode())) % 2**63)
    deltas = [(b * s) @ a for b, a, s in parts]
    merged = combine_dense(method, deltas, weights, density or 1.0, gen)
    target = min(target, *merged.shape)
    B, A, err = truncate_dense(merged, target)
    return ModuleResult(B, A, target, err)

