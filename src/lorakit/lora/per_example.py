"""Per-example adapter selection, generated with PEFT's mixed-adapter batches.

Every adapter of the library is loaded into one ``PeftModel``; each prompt gets one adapter and
``generate(..., adapter_names=)`` runs a batch whose rows use different adapters (exactly what
running each prompt with its adapter alone gives; the tests check it in every family). Where PEFT
cannot mix adapters in a batch (OPT), the prompts of each adapter are generated together instead.

- ``min-entropy``: the adapter under which the model is most confident on the prompt — the
  lowest entropy of the next-token distribution at the prompt's last position (where the answer
  starts), or with ``span="prompt"`` the mean over all the prompt's real positions.
- ``centroid``: the adapter whose Arrow prototypes lie nearest the prompt. At the input x of
  every adapted linear module of the *base* model, x̄ = x at the prompt's last token (or, with
  ``span="prompt"``, the mean of x over its real tokens); adapter e scores |cos(x̄, vₑ)| (vₑ its
  cached Arrow prototype, unit norm, so this is |⟨x̄, vₑ⟩| / ‖x̄‖ — the cosine keeps layers of
  different activation scale comparable). The scores are averaged over every module the library
  adapts, counting 0 where e has no LoRA; the highest mean wins.

Why the last position by default: adapters trained with the loss on the completion only never
learn the prompt's own tokens, so the prompt-wide mean mostly measures the template (the demo's
figures are in the CHANGELOG).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from lorakit.lora.adapters import Adapter
from lorakit.lora.hooks import Layer, LoraHooks

if TYPE_CHECKING:
    import torch

SPANS = ("last", "prompt")
"""What per-example selection scores: the prompt's last position, or the mean over all its positions."""


def positions(mask: "torch.Tensor") -> "torch.Tensor":
    """Position ids of a left-padded batch: each row's first real token at 0, as ``generate`` counts
    them (a plain forward would shift the rows of absolute-position models: GPT-2, OPT)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def prompt_batches(model: Any, tokenizer: Any, prompts: Sequence[str], batch_size: int
                   ) -> Iterator[tuple[int, "torch.Tensor", "torch.Tensor"]]:
    """(start, input_ids, attention_mask) of left-padded prompt batches, in input order, on the model's device."""
    import torch

    from lorakit.models.generate import left_pad
    from lorakit.models.encode import encode_prompt

    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = [encode_prompt(tokenizer, p) for p in prompts]
    for start in range(0, len(encoded), batch_size):
        ids, mask = left_pad(encoded[start : start + batch_size], pad_id)
        yield start, torch.tensor(ids, device=device), torch.tensor(mask, device=device)


def prompt_entropy(model: Any, tokenizer: Any, prompts: Sequence[str], batch_size: int = 64,
                   span: str = "last") -> "torch.Tensor":
    """Entropy (nats) of the next-token distribution at each prompt's last position, or (``span="prompt"``)
    its mean over the prompt's real positions; (n,)."""
    import torch

    out = []
    for _, ids, mask in prompt_batches(model, tokenizer, prompts, batch_size):
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask)).logits
        logp = (logits[:, -1:] if span == "last" else logits).float().log_softmax(-1)
        ent = -(logp.exp() * logp).sum(-1)
        out.append(ent[:, -1] if span == "last" else (ent * mask).sum(1) / mask.sum(1))
    return torch.cat(out).cpu()


def min_entropy_choice(model: Any, tokenizer: Any, names: Sequence[str], prompts: Sequence[str],
                       batch_size: int = 64, span: str = "last") -> tuple[list[int], "torch.Tensor"]:
    """Per prompt, the index of the adapter (a loaded PEFT adapter name) with the lowest prompt entropy; (n, E) entropies."""
    import torch

    ents = []
    for name in names:
        model.set_adapter(name)
        ents.append(prompt_entropy(model, tokenizer, prompts, batch_size, span))
    table = torch.stack(ents, dim=1)
    return table.argmin(1).tolist(), table


def centroid_scores(model: Any, tokenizer: Any, adapters: list[Adapter], prototypes: list[dict[str, "torch.Tensor"]],
                    prompts: Sequence[str], batch_size: int = 64, span: str = "last") -> "torch.Tensor":
    """(n, E): mean over the library's adapted modules of |cos(x̄, vₑ)| (0 where e has no LoRA on the module);
    x̄ = the module's input at the prompt's last token, or (``span="prompt"``) its mean over the real tokens."""
    import torch

    table = torch.zeros(len(prompts), len(adapters), dtype=torch.float64)
    state: dict[str, Any] = {}

    def score(layer: Layer, x: "torch.Tensor") -> None:  # reads the layer's input, adds nothing
        mask = state["mask"][..., None]
        x = x.double().reshape(*mask.shape[:2], -1)  # OPT's MLP sees (batch·seq, hidden)
        mean = x[:, -1] if span == "last" else (x * mask).sum(1) / mask.sum(1)  # left padding: -1 is real
        cos = torch.nn.functional.normalize(mean, dim=-1) @ layer.prototypes.T
        state["scores"][:, layer.experts] += cos.abs().cpu()

    hooks = LoraHooks(model, adapters, score, factors=False, prototypes=prototypes, prototype_dtype=torch.float64)
    try:
        for start, ids, mask in prompt_batches(model, tokenizer, prompts, batch_size):
            state["mask"], state["scores"] = mask.double(), table[start : start + len(ids)]
            with torch.inference_mode():
                model(input_ids=ids, attention_mask=mask, position_ids=positions(mask))
    finally:
        hooks.remove()
    return table / len(hooks.layers)


def centroid_choice(model: Any, tokenizer: Any, adapters: list[Adapter], prototypes: list[dict[str, "torch.Tensor"]],
                    prompts: Sequence[str], batch_size: int = 64, span: str = "last") -> tuple[list[int], "torch.Tensor"]:
    """Per prompt, the index of the adapter with the highest centroid score; (n, E) scores."""
    table = centroid_scores(model, tokenizer, adapters, prototypes, prompts, batch_size, span)
    return table.argmax(1).tolist(), table


def load_library(model: Any, adapters: list[Adapter]) -> tuple[Any, list[str]]:
    """Every adapter loaded into one PeftModel (eval mode); their PEFT names a0, a1, …"""
    from lorakit.models.load import attach_adapter

    tags = [f"a{i}" for i in range(len(adapters))]
    model = attach_adapter(model, adapters[0].path, name=tags[0])
    for tag, a in zip(tags[1:], adapters[1:]):
        model.load_adapter(str(a.path), adapter_name=tag, is_trainable=False)
    return model.eval(), tags


Predictions = tuple[list[str], list[dict[str, Any]]]
"""The predictions and, per prompt, ``{"chosen": index, "entropy"|"score": [per adapter]}``."""


def predict_min_entropy(model: Any, tok: Any, adapters: list[Adapter], prompts: list[str], gen: dict[str, Any],
                        span: str = "last") -> Predictions:
    """``min-entropy``: the library loaded, each prompt's adapter chosen by entropy, then mixed-adapter generation."""
    model, tags = load_library(model, adapters)
    chosen, table = min_entropy_choice(model, tok, tags, prompts, gen.get("batch_size", 64), span)
    return _generate_chosen(model, tok, tags, prompts, gen, chosen, table, "entropy")


def predict_centroid(model: Any, tok: Any, adapters: list[Adapter], prompts: list[str], gen: dict[str, Any],
                     span: str = "last", prototypes: list[dict[str, "torch.Tensor"]] | None = None) -> Predictions:
    """``centroid``: each prompt's adapter chosen on the base model (before any adapter is attached), then generation."""
    chosen, table = centroid_choice(model, tok, adapters, prototypes or [], prompts, gen.get("batch_size", 64), span)
    model, tags = load_library(model, adapters)
    return _generate_chosen(model, tok, tags, prompts, gen, chosen, table, "score")


def mixed_batches_work(model: Any, tags: list[str]) -> bool:
    """Whether PEFT can run this model's mixed-adapter batches: every LoRA layer must see one row per
    example (OPT's MLP flattens batch and sequence, and PEFT refuses it). Probed with a two-row
    forward that only records input shapes (PEFT's own refusal would leave its hooks behind)."""
    import torch
    from peft.tuners.lora import LoraLayer

    if len(tags) < 2:
        return True
    rows: list[int] = []
    handles = [m.register_forward_pre_hook(lambda _m, args: rows.append(args[0].shape[0]))
               for m in model.modules() if isinstance(m, LoraLayer)]
    try:
        with torch.inference_mode():
            model(input_ids=torch.zeros(2, 3, dtype=torch.long, device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    return all(r == 2 for r in rows)


def _generate_chosen(model: Any, tok: Any, tags: list[str], prompts: list[str], gen: dict[str, Any], chosen: list[int],
                     table: "torch.Tensor", key: str) -> Predictions:
    """Generate each prompt with its chosen adapter: mixed-adapter batches, or adapter at a time
    where the model cannot mix them (the same predictions either way)."""
    from lorakit.models.generate import generate

    if mixed_batches_work(model, tags):
        preds = generate(model, tok, prompts, adapter_names=[tags[c] for c in chosen], **gen)
    else:
        preds = [""] * len(prompts)
        for i, tag in enumerate(tags):
            if mine := [j for j, c in enumerate(chosen) if c == i]:
                model.set_adapter(tag)
                for j, p in zip(mine, generate(model, tok, [prompts[j] for j in mine], **gen)):
                    preds[j] = p
    return preds, [{"chosen": c, key: row} for c, row in zip(chosen, table.tolist())]
