"""LoraHub (Huang et al. 2023): gradient-free search for the weights of a combination of adapters.

The candidate for weights w is the factor-space ``linear`` combination of ``merge_math``
(B' = Σ wᵢ √sᵢ Bᵢ, A' = Σ wᵢ √sᵢ Aᵢ, cross-terms included — LoraHub's own composition), applied
to the base model by ``LoraHooks`` (y = W x + B' A' x, no PEFT re-wrapping per step). The
objective is LoraHub's: training's loss on the few-shot examples (completion tokens + EOS,
encoded and padded exactly as in training; token mean over all shots) plus 0.05 · Σ|wᵢ|, with
wᵢ ∈ [−1.5, 1.5] and w = 0 as the start.

The search is LoraHub's own, nevergrad's ``NGOpt`` (the ``lorahub`` extra; the best evaluated point
is kept), or with ``es`` a small seeded (1+λ)-evolution strategy without the extra: λ Gaussian
children of the best point so far, clipped to the bounds, the best child replaces the parent when
it is better; the step size grows by 1.5 after a success and shrinks by 0.7 after a failure. NGOpt
is the default because it found the lower objective in every run of ``bench/lorahub_search.py``
(README, Benchmarks).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lorakit.errors import IncompatibleError
from lorakit.lora.adapters import Adapter, module_union
from lorakit.lora.hooks import Fixed, LoraHooks
from lorakit.runtime import ProgressEvent, ProgressFn, no_progress

if TYPE_CHECKING:
    import torch

SEARCH_NAMES = ("ngopt", "es")
L1 = 0.05
"""LoraHub's penalty on Σ|wᵢ|."""
BOUND = 1.5
"""Each weight stays in [−BOUND, BOUND]."""


def es_minimise(f: Callable[[list[float]], float], dim: int, budget: int, seed: int = 0, bound: float = BOUND,
                sigma: float = 0.5, offspring: int = 4, start: Sequence[float] | None = None) -> tuple[list[float], float, int]:
    """Minimise ``f`` over [−bound, bound]^dim from ``start`` (default 0) with a seeded (1+λ)-ES;
    (best x, f(best), evaluations ≤ budget)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    best = torch.zeros(dim, dtype=torch.float64) if start is None else torch.tensor(list(start), dtype=torch.float64)
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


def ngopt_minimise(f: Callable[[list[float]], float], dim: int, budget: int, seed: int = 0, bound: float = BOUND
                   ) -> tuple[list[float], float, int]:
    """Minimise ``f`` over [−bound, bound]^dim from 0 with nevergrad's ``NGOpt`` (LoraHub's optimiser,
    seeded); (best evaluated x, f(best), evaluations ≤ budget). Needs the ``lorahub`` extra.

    Where nevergrad's chosen optimiser itself fails (nevergrad 1.0's meta-model under NumPy 2 at
    budgets of ~150–400 and more, in few dimensions), the rest of the budget goes to ``es_minimise``
    from the best point so far; an error raised by ``f`` (or Ctrl-C) propagates as it is.
    """
    try:
        import nevergrad as ng
    except ImportError:
        raise IncompatibleError("the ngopt search needs nevergrad: pip install 'lorakit[lorahub]' "
                                "(or --lorahub-search es)") from None
    import numpy as np

    param = ng.p.Array(init=np.zeros(dim), lower=-bound, upper=bound)
    param.random_state = np.random.RandomState(seed)
    best: dict[str, Any] = {"f": float("inf"), "x": [0.0] * dim, "evals": 0, "in_f": False}

    def tracked(x: Any) -> float:
        x = [float(v) for v in x]
        best["in_f"] = True
        value = f(x)
        best["in_f"] = False
        best["evals"] += 1
        if value < best["f"]:
            best.update(f=value, x=x)
        return value

    try:
        with warnings.catch_warnings():  # NGOpt's inner solvers warn about their own defaults
            warnings.simplefilter("ignore")
            ng.optimizers.NGOpt(parametrization=param, budget=budget).minimize(tracked)
    except Exception:
        if best["in_f"]:
            raise
        left = budget - best["evals"]
        if left > 0:
            x, fx, evals = es_minimise(f, dim, left, seed, bound, start=best["x"])
            if fx < best["f"]:
                best.update(f=fx, x=x)
            best["evals"] += evals
    return best["x"], best["f"], best["evals"]


SEARCHES = {"ngopt": ngopt_minimise, "es": es_minimise}
"""``--lorahub-search``: nevergrad's NGOpt (LoraHub's own) or lorakit's (1+λ)-ES (no extra dependency)."""


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
    from lorakit.models.encode import collate_examples, encode_example

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
           seed: int = 0, batch_size: int = 64, progress: ProgressFn = no_progress, method: str = "ngopt"
           ) -> tuple[Combination, dict[str, Any]]:
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
        weights, value, evals = SEARCHES[method](objective, len(adapters), steps, seed)
        combo.apply(weights)
    except BaseException:
        combo.remove()
        raise
    return combo, {"weights": weights, "loss": round(seen["loss"][tuple(weights)], 6), "objective": round(value, 6),
                   "evaluations": evals, "l1": L1, "search": method}
