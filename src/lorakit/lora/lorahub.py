"""LoraHub (Huang et al. 2023): gradient-free search for the weights of a combination of adapters.

The candidate for weights w is the factor-space ``linear`` combination of ``merge_math``
(B' = Σ wᵢ √sᵢ Bᵢ, A' = Σ wᵢ √sᵢ Aᵢ, cross-terms included — LoraHub's own composition), applied
to the base model by ``LoraHooks`` (y = W x + B' A' x, no PEFT re-wrapping per step). The
objective is LoraHub's: training's loss on the few-shot examples (completion tokens + EOS,
encoded and padded exactly as in training; token mean over all shots) plus 0.05 · Σ|wᵢ|, with
wᵢ ∈ [−1.5, 1.5] and w = 0 as the start.

LoraHub uses nevergrad's ``NGOpt``; lorakit has a small seeded (1+λ)-evolution strategy instead
(no extra dependency, same result for the same seed): λ Gaussian children of the best point so
far, clipped to the bounds, the best child replaces the parent when it is better; the step size
grows by 1.5 after a success and shrinks by 0.7 after a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lorakit.lora.adapters import Adapter, module_union
from lorakit.lora.hooks import Fixed, LoraHooks
from lorakit.runtime import ProgressEvent, ProgressFn, no_progress

if TYPE_CHECKING:
    import torch

L1 = 0.05
"""LoraHub's penalty on Σ|wᵢ|."""
BOUND = 1.5
"""Each weight stays in [−BOUND, BOUND]."""


def es_minimise(f: Callable[[list[float]], float], dim: int, budget: int, seed: int = 0, bound: float = BOUND,
                sigma: float = 0.5, offspring: int = 4) -> tuple[list[float], float, int]:
    """Minimise ``f`` over [−bound, bound]^dim from 0 with a seeded (1+λ)-ES; (best x, f(best), evaluations ≤ budget)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    best = torch.zeros(dim, dtype=torch.float64)
    best_f, evals = f(best.tolist()), 1
    while evals < budget:
        # generation: λ children of the parent, the best replaces it when better
        children = []
        for _ in range(min(offspring, budget - evals)):
            child = (best + sigma * torch.randn(dim, generator=gen, dtype=torch.float64)).clamp(-bound, bound)
            children.append((f(child.tolist()), child))
            evals += 1
        child_f, child = min(children, key=lambda c: c[0])
        if child_f < best_f:
            best, best_f, sigma = child, child_f, min(bound, sigma * 1.5)
        else:
            sigma = max(1e-3, sigma * 0.7)
    return best.tolist(), best_f, evals


class Combination:
    """The library's factors read once (float64); ``apply(w)`` installs merge's ``linear`` candidate for w
    (one factor pair per layer on ``LoraHooks``, coefficient 1)."""

    def __init__(self, model: Any, adapters: list[Adapter]) -> None:
        import torch

        self.n = len(adapters)
        self.parts = {name: [(i, *a.factors(name, torch.float64), a.modules[name].scaling)
                             for i, a in enumerate(adapters) if name in a.modules] for name in module_union(adapters)}
        self.hooks = LoraHooks(model, adapters, Fixed(1.0), factors=False)

    def apply(self, weights: Sequence[float]) -> None:
        from lorakit.lora.merge_math import merge_module

        for name, parts in self.parts.items():
            res = merge_module("linear", name, [(b, a, s) for _, b, a, s in parts], [weights[i] for i, *_ in parts])
            self.hooks.set_factors(name, res.B, res.A)

    def remove(self) -> None:
        self.hooks.remove()


def shot_batches(tokenizer: Any, shots: Sequence[dict[str, Any]], batch_size: int) -> list[dict[str, "torch.Tensor"]]:
    """The few-shot examples as right-padded training batches (prompt + completion + EOS, loss on the completion)."""
    from lorakit.models.tokens import collate_examples, encode_example

    examples = [encode_example(tokenizer, s["prompt"], s["completion"]) for s in shots]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return [collate_examples(examples[i : i + batch_size], pad_id) for i in range(0, len(examples), batch_size)]


def shot_loss(model: Any, batches: Sequence[dict[str, "torch.Tensor"]]) -> float:
    """Training's loss (``summed_lm_loss``) over every labelled token of ``batches``: one mean over all shots."""
    import torch

    from lorakit.training import labelled_tokens, summed_lm_loss

    device = next(model.parameters()).device
    total, count = 0.0, 0
    with torch.inference_mode():
        for b in batches:
            total += float(summed_lm_loss(model, {k: v.to(device) for k, v in b.items()}))
            count += labelled_tokens(b)
    return total / max(count, 1)


def search(model: Any, tokenizer: Any, adapters: list[Adapter], shots: Sequence[dict[str, Any]], steps: int,
           seed: int = 0, batch_size: int = 64, progress: ProgressFn = no_progress) -> tuple[Combination, dict[str, Any]]:
    """Find the weights; returns the hooked combination (set to them) and ``{weights, loss, objective, evaluations}``."""
    combo = Combination(model, adapters)
    batches = shot_batches(tokenizer, shots, batch_size)
    seen: dict[str, Any] = {"evals": 0, "best": float("inf"), "loss": {}}

    def objective(w: list[float]) -> float:
        combo.apply(w)
        loss = shot_loss(model, batches)
        value = loss + L1 * sum(abs(x) for x in w)
        seen["evals"] += 1
        seen["best"] = min(seen["best"], value)
        seen["loss"][tuple(w)] = loss
        progress(ProgressEvent("lorahub", seen["evals"], steps, {"objective": seen["best"]}))
        return value

    try:
        weights, value, evals = es_minimise(objective, len(adapters), steps, seed)
        combo.apply(weights)
    except BaseException:
        combo.remove()
        raise
    return combo, {"weights": weights, "loss": round(seen["loss"][tuple(weights)], 6), "objective": round(value, 6),
                   "evaluations": evals, "l1": L1}
