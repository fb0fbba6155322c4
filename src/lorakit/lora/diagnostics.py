"""Per-module diagnostics of LoRA adapters, computed from the factors (no dense ΔW is formed).

- Per adapter and module: rank r, scaling s, ‖ΔW‖_F, the singular values of ΔW = s B A (QR of B
  and Aᵀ, SVD of the r × r core), effective rank (Roy & Vetterli: exp of the entropy of σ/Σσ) and
  the number of singular values holding 90 % of the energy.
- Per pair of adapters and shared module: principal angles between the column spaces (outputs
  written) and the row spaces (inputs read) of their ΔW; overlap = Σ cos²θ / min(r₁, r₂) is 1 for
  the same subspace and about max(r₁, r₂) / dim for random ones (reported as ``random``).
- Uniform averaging of all inputs (weights 1/N, absent = zero): the cross-term share
  ‖Σ_{i≠j} Bᵢ Aⱼ‖_F / ‖merged‖_F, with √sᵢ folded into each factor as ``merge --method uniform`` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorakit.errors import UsageError
from lorakit.runtime import ProgressEvent, ProgressFn, finite_problems, no_progress

if TYPE_CHECKING:
    from torch import Tensor

RANK_TOL = 1e-6
"""Singular values below RANK_TOL · σ_max do not span the subspaces compared."""


# pure maths ------------------------------------------------------------------------------------


def frobenius(B: "Tensor", A: "Tensor") -> float:
    """‖B A‖_F from the QR cores of B and Aᵀ."""
    import torch

    rb = torch.linalg.qr(B, mode="r").R
    ra = torch.linalg.qr(A.T, mode="r").R
    return float(torch.linalg.matrix_norm(rb @ ra.T))


def effective_rank(S: "Tensor") -> float:
    """exp(entropy of σ / Σσ) (Roy & Vetterli 2007); 0 for a zero matrix."""
    total = float(S.sum())
    if total <= 0:
        return 0.0
    p = S[S > 0] / total
    return math.exp(float(-(p * p.log()).sum()))


def energy_rank(S: "Tensor", fraction: float = 0.9) -> int:
    """How many singular values hold ``fraction`` of ‖ΔW‖_F²."""
    energy = S.square().cumsum(0)
    if float(energy[-1]) <= 0:
        return 0
    return int((energy < fraction * energy[-1]).sum()) + 1


def basis(U: "Tensor", S: "Tensor") -> "Tensor":
    """The columns of U with non-negligible singular values."""
    if len(S) == 0 or float(S[0]) <= 0:
        return U[:, :0]
    return U[:, : int((S > RANK_TOL * S[0]).sum())]


def principal_angles(U1: "Tensor", U2: "Tensor") -> dict[str, Any]:
    """Cosines of the principal angles between span(U1) and span(U2) (orthonormal columns)."""
    import torch

    k = min(U1.shape[1], U2.shape[1])
    if k == 0:
        return {"overlap": None, "max_cos": None, "min_angle_deg": None, "random": None}
    cos = torch.linalg.svdvals(U1.T @ U2).clamp(0, 1)
    return {"overlap": float(cos.square().sum()) / k, "max_cos": float(cos[0]),
            "min_angle_deg": math.degrees(math.acos(float(cos[0]))),
            "random": max(U1.shape[1], U2.shape[1]) / U1.shape[0]}


def cross_terms(parts: Sequence[tuple["Tensor", "Tensor"]]) -> tuple[float, float]:
    """(‖cross‖_F, ‖merged‖_F) of the uniform factor average of ``parts`` (√s folded in)."""
    from lorakit.lora.merge_math import average, concat

    n = len(parts)
    B, A = average(parts, [1.0 / n] * n)
    cross = concat([(B, A), *[(-b / n**2, a) for b, a in parts]])
    return frobenius(*cross), frobenius(B, A) if B.abs().sum() > 0 else 0.0


# over adapter folders -------------------------------------------------------------------------


@dataclass
class InspectConfig:
    adapters: list[Path]
    """PEFT adapter folders (safetensors)."""
    top: int = 8
    """Leading singular values listed per module in the JSON."""

    def validate(self) -> None:
        problems = finite_problems(self)
        if not self.adapters:
            problems.append("give at least one ADAPTER folder")
        if self.top < 0:
            problems.append(f"--top must not be negative, not {self.top}")
        if problems:
            raise UsageError("; ".join(problems))


def _rss(values: Sequence[float]) -> float:
    return math.sqrt(sum(v * v for v in values))


def inspect_adapters(cfg: InspectConfig, progress: ProgressFn = no_progress) -> dict[str, Any]:
    """The diagnostics report (a JSON-able dict), module by module."""
    import torch

    from lorakit.lora.adapters import check_mergeable, module_union, open_adapter
    from lorakit.lora.merge_math import lowrank_svd

    cfg.validate()
    adapters = [open_adapter(p) for p in cfg.adapters]
    check_mergeable(adapters, allow_different_bases=True)
    names = module_union(adapters)
    n = len(adapters)
    per_adapter: list[dict[str, Any]] = [{"path": str(a.path), "base_model_name_or_path": a.base, "modules": {}} for a in adapters]
    pairs = [{"a": i, "b": j, "modules": {}} for i in range(n) for j in range(i + 1, n)]
    cross: dict[str, dict[str, float | None]] = {}
    for step, name in enumerate(names, start=1):
        spaces: dict[int, tuple[Tensor, Tensor]] = {}
        folded = []
        for i, a in enumerate(adapters):
            if name not in a.modules:
                continue
            m = a.modules[name]
            B, A = a.factors(name, torch.float64)
            U, S, Vh = lowrank_svd(B * m.scaling, A)
            spaces[i] = (basis(U, S), basis(Vh.T, S))
            folded.append((B * m.scaling**0.5, A * m.scaling**0.5))
            per_adapter[i]["modules"][name] = {
                "r": m.r, "scaling": m.scaling, "norm": float(S.square().sum().sqrt()),
                "effective_rank": effective_rank(S), "energy90_rank": energy_rank(S),
                "singular_values": [float(s) for s in S[: cfg.top]],
            }
        for pair in pairs:
            i, j = pair["a"], pair["b"]
            if i in spaces and j in spaces:
                pair["modules"][name] = {"column": principal_angles(spaces[i][0], spaces[j][0]),
                                         "row": principal_angles(spaces[i][1], spaces[j][1])}
        if n > 1:
            m0 = next(iter(a.modules[name] for a in adapters if name in a.modules))
            zeros = [(torch.zeros(m0.out_features, 1, dtype=torch.float64), torch.zeros(1, m0.in_features, dtype=torch.float64))]
            c, total = cross_terms(folded + zeros * (n - len(folded)))
            cross[name] = {"cross": c, "merged": total, "share": c / total if total > 0 else None}
        progress(ProgressEvent("inspect", step, len(names)))
    return _summarise(per_adapter, pairs, cross, names)


def _summarise(per_adapter: list[dict[str, Any]], pairs: list[dict[str, Any]], cross: dict[str, dict[str, Any]],
               names: list[str]) -> dict[str, Any]:
    for a in per_adapter:
        mods = a["modules"].values()
        a["norm"] = _rss([m["norm"] for m in mods])
        a["mean_effective_rank"] = sum(m["effective_rank"] for m in mods) / max(1, len(mods))
    for p in pairs:
        for side in ("column", "row"):
            vals = [m[side]["overlap"] for m in p["modules"].values() if m[side]["overlap"] is not None]
            rand = [m[side]["random"] for m in p["modules"].values() if m[side]["random"] is not None]
            p[f"mean_{side}_overlap"] = sum(vals) / len(vals) if vals else None
            p[f"mean_{side}_random"] = sum(rand) / len(rand) if rand else None
    uniform = None
    if cross:
        total = _rss([c["merged"] for c in cross.values()])
        uniform = {"cross_share": _rss([c["cross"] for c in cross.values()]) / total if total > 0 else None,
                   "modules": cross}
    return {"modules": names, "adapters": per_adapter, "pairs": pairs, "uniform": uniform}
