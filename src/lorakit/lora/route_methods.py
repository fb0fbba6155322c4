"""The routing methods in one table: for each ``--method``, what it needs, how it predicts and what
each prediction's ``routing`` record holds. ``lorakit.lora.route`` checks the options against it
and runs the chosen entry.

- ``arrow``: per token and layer, the top-k adapters by their prototypes (``lorakit.lora.arrow``).
- ``output-average``: every adapter's LoRA output at 1/N (a mixture of outputs, no Bᵢ Aⱼ
  cross-terms — the contrast to factor averaging); ``LoraHooks`` with ``Fixed(1/N)``.
- ``min-entropy`` / ``centroid``: one adapter per example (``lorakit.lora.per_example``).
- ``lorahub``: weights searched on a few shots, then the merged combination (``lorakit.lora.lorahub``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from lorakit.lora.adapters import Adapter

if TYPE_CHECKING:
    import torch


@dataclass(kw_only=True)
class RoutingOptions:
    """The per-method routing options ``route`` and ``eval --route`` share: a field of their configs
    (``RouteConfig.routing``, ``EvalConfig.routing``); the methods read them."""

    top_k: int = 1
    """Arrow: adapters mixed per token and layer."""
    temperature: float = 1.0
    """Arrow: softmax temperature over the chosen adapters' scores."""
    library: str | None = None
    """Folder caching Arrow prototypes (default: arrow_prototypes.safetensors beside each adapter)."""
    span: str = "last"
    """min-entropy / centroid: score the prompt's last position (where the answer starts) or ``prompt``: the
    mean over all its positions."""
    shots: str | None = None
    """lorahub: few-shot prompt/completion JSONL the weights are fitted on."""
    lorahub_steps: int = 40
    """lorahub: objective evaluations (the search budget, the start w = 0 included)."""
    lorahub_search: str = "ngopt"
    """lorahub: the optimiser: nevergrad's NGOpt (LoraHub's own; pip install 'lorakit[lorahub]') or es,
    lorakit's (1+λ)-ES (no extra)."""
    seed: int = 0  # lorahub: seed of the search
    allow_different_base: bool = False



@dataclass
class Run:
    """What a method predicts from (``route_records`` sets it up)."""

    model: Any
    tokenizer: Any
    adapters: list[Adapter]
    prompts: list[str]
    gen: dict[str, Any]
    """``generate``'s ``batch_size``, ``max_new_tokens`` and ``progress``."""
    prototypes: list[dict[str, "torch.Tensor"]] | None = None
    """Each adapter's Arrow prototypes, for a method that needs them."""
    shots: list[dict[str, Any]] = field(default_factory=list)
    """The few-shot records, for a method fitted on them."""


Stats = dict[str, Any] | None
"""What a method knows about one prediction (None: nothing beyond the method)."""


@dataclass(frozen=True)
class Method:
    """One ``--method``."""

    predict: Callable[[RoutingOptions, Run], tuple[list[str], list[Stats]]]
    """The predictions, in prompt order, and each one's stats."""
    record: Callable[[RoutingOptions, list[str], dict[str, Any]], dict[str, Any]]
    """``(options, adapter names, stats)`` -> the ``routing`` record's fields after ``method`` and ``adapters``."""
    prototypes: bool = False
    """Needs each adapter's Arrow prototypes (cached; ``--library``)."""
    top_k: bool = False
    """``--top-k`` picks among the library, so it is at most the library's size."""
    shots: bool = False
    """Fitted on ``--shots``: needs them, may ``--save-merged``, and the run's summary carries the fit."""


# how each predicts ---------------------------------------------------------------------------------


def _hooked(run: Run, hooks: Any) -> list[str]:
    """Generate with ``hooks`` on the model, then take them off."""
    from lorakit.models.generate import generate

    try:
        return generate(run.model, run.tokenizer, run.prompts, **run.gen)
    finally:
        hooks.remove()


def _arrow(opts: RoutingOptions, run: Run) -> tuple[list[str], list[Stats]]:
    from lorakit.lora.arrow import Router
    from lorakit.models.encode import encode_prompt

    tok = run.tokenizer
    stop = {i for i in (tok.eos_token_id, tok.pad_token_id) if i is not None}
    router = Router(run.model, run.adapters, run.prototypes or [], opts.top_k, opts.temperature, stop)
    preds = _hooked(run, router)
    return preds, [router.by_prompt.get(tuple(encode_prompt(tok, p))) for p in run.prompts]


def _output_average(opts: RoutingOptions, run: Run) -> tuple[list[str], list[Stats]]:
    from lorakit.lora.hooks import Fixed, LoraHooks

    hooks = LoraHooks(run.model, run.adapters, Fixed(1.0 / len(run.adapters)))
    return _hooked(run, hooks), [None] * len(run.prompts)


def _min_entropy(opts: RoutingOptions, run: Run) -> tuple[list[str], list[Stats]]:
    from lorakit.lora.per_example import predict_min_entropy

    return predict_min_entropy(run.model, run.tokenizer, run.adapters, run.prompts, run.gen, opts.span)


def _centroid(opts: RoutingOptions, run: Run) -> tuple[list[str], list[Stats]]:
    from lorakit.lora.per_example import predict_centroid

    return predict_centroid(run.model, run.tokenizer, run.adapters, run.prompts, run.gen, opts.span, run.prototypes)


def _lorahub(opts: RoutingOptions, run: Run) -> tuple[list[str], list[Stats]]:
    from lorakit.lora import lorahub

    combo, found = lorahub.search(run.model, run.tokenizer, run.adapters, run.shots, opts.lorahub_steps, opts.seed,
                                  run.gen["batch_size"], run.gen["progress"], opts.lorahub_search)
    return _hooked(run, combo), [found] * len(run.prompts)


# what each records ---------------------------------------------------------------------------------


def uniform_record(opts: RoutingOptions, names: list[str], stats: Stats) -> dict[str, Any]:
    """Every adapter at 1/N: output-average, or any prediction without stats."""
    return {"weights": [1.0 / len(names)] * len(names)}


def _arrow_record(opts: RoutingOptions, names: list[str], stats: dict[str, Any]) -> dict[str, Any]:
    """``weights``: each adapter's share of the mixing weight over the example's tokens and modules;
    ``layers``: per transformer layer, each adapter's share of the top-k choices."""
    from lorakit.lora.arrow import routing_shares

    return {"top_k": opts.top_k, "temperature": opts.temperature, **routing_shares(stats)}


def _chosen_record(key: str, opts: RoutingOptions, names: list[str], stats: dict[str, Any]) -> dict[str, Any]:
    """``chosen`` and a one-hot ``weights``, the ``span`` scored and each adapter's ``key`` value
    (min-entropy: prompt ``entropy`` in nats; centroid: ``score``, the mean |cos|)."""
    c = stats["chosen"]
    return {"chosen": names[c], "span": opts.span, "weights": [1.0 if i == c else 0.0 for i in range(len(names))],
            key: [round(e, 6) for e in stats[key]]}


def _fit_record(opts: RoutingOptions, names: list[str], stats: dict[str, Any]) -> dict[str, Any]:
    """The found ``weights`` (the same for every example), the few-shot ``loss``, ``objective``
    (loss + l1 · Σ|w|), ``evaluations`` and ``l1``."""
    return dict(stats)


METHODS: dict[str, Method] = {
    "arrow": Method(_arrow, _arrow_record, prototypes=True, top_k=True),
    "output-average": Method(_output_average, uniform_record),
    "min-entropy": Method(_min_entropy, partial(_chosen_record, "entropy")),
    "centroid": Method(_centroid, partial(_chosen_record, "score"), prototypes=True),
    "lorahub": Method(_lorahub, _fit_record, shots=True),
}
"""Every ``--method``, in ``--help``'s order."""
