"""Batched greedy generation: length-sorted batches, left padding, KV cache (HF ``generate``), and
the token prefix every prompt shares (a chat template's system turn) computed once.

A service below ``lora/`` and ``evaluate/``: ``eval`` and every ``route`` method generate through it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lorakit.models.encode import encode_prompt
from lorakit.runtime import ProgressEvent, ProgressFn, no_progress

WINDOW_BATCHES = 16
"""Prompts are length-sorted within windows of this many batches (never across), so a shard
starting on a window boundary runs exactly the batches of a one-process run (see lorakit.shard)."""


def generation_problems(cfg: Any) -> list[str]:
    """Problems with the generation options ``eval`` and ``route`` share (batch, length, limit)."""
    problems = []
    if cfg.batch_size < 1:
        problems.append(f"--batch-size must be at least 1, not {cfg.batch_size}")
    if cfg.max_new_tokens < 1:
        problems.append(f"--max-new-tokens must be at least 1, not {cfg.max_new_tokens}")
    return problems + limit_problems(cfg.limit)


def limit_problems(limit: int | None) -> list[str]:
    """``--limit`` (every command that takes it): at least one record."""
    return [f"--limit must be at least 1, not {limit}"] if limit is not None and limit < 1 else []


def batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices in batches: longest first within each window of ``WINDOW_BATCHES`` batches."""
    window = batch_size * WINDOW_BATCHES
    out = []
    for lo in range(0, len(lengths), window):
        order = sorted(range(lo, min(lo + window, len(lengths))), key=lambda i: (-lengths[i], i))
        out += [order[b : b + batch_size] for b in range(0, len(order), batch_size)]
    return out


def left_pad(batch: list[list[int]], pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    """(ids, attention mask) of token-id lists padded on the left to the longest: each row's last token stays last."""
    width = max(len(ids) for ids in batch)
    ids = [[pad_id] * (width - len(x)) + x for x in batch]
    mask = [[0] * (width - len(x)) + [1] * len(x) for x in batch]
    return ids, mask


def shared_prefix(encoded: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every prompt shares, leaving each prompt at least one of its own."""
    first, n = encoded[0], min(len(e) for e in encoded) - 1
    for e in encoded[1:]:
        k = 0
        while k < n and e[k] == first[k]:
            k += 1
        n = k
    return max(n, 0)


def _prefix_cache(model: Any, encoded: Sequence[Sequence[int]], device: Any) -> tuple[int, Any] | None:
    """(length, KV cache) of the tokens ``encoded`` all start with, run batch 1; None when none are shared."""
    import torch

    start = shared_prefix(encoded) if len(encoded) > 1 else 0
    if not start:
        return None
    with torch.inference_mode():
        cache = model(input_ids=torch.tensor([encoded[0][:start]], device=device), use_cache=True).past_key_values
    return (start, cache) if hasattr(cache, "batch_repeat_interleave") else None  # a model without a cache: none shared


def _copies(cache: Any, rows: int) -> Any:
    """A fresh cache holding ``rows`` copies of ``cache``'s one row (generate extends it in place)."""
    import copy

    out = copy.deepcopy(cache)
    out.batch_repeat_interleave(rows)
    return out


def clean_prediction(text: str) -> str:
    """The first line of a generation, without surrounding whitespace."""
    return text.split("\n", 1)[0].strip()


def newline_stop(tokenizer: Any) -> Any:
    """A ``StoppingCriteria``: a row is done once its last token holds a newline (only the first line
    of a generation is kept, ``clean_prediction``), so a batch of short answers ends early."""
    import torch
    from transformers import StoppingCriteria

    class NewlineStop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            last = input_ids[:, -1].tolist()
            return torch.tensor(["\n" in tokenizer.decode([t]) for t in last], device=input_ids.device)

    return NewlineStop()


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    batch_size: int = 64,
    max_new_tokens: int = 16,
    progress: ProgressFn = no_progress,
    adapter_names: Sequence[str] | None = None,
    share_prefix: bool = False,
) -> list[str]:
    """Greedy completions of ``prompts`` in input order.

    Prompts are sorted by length (within windows, see ``batches``) so that each batch pads
    little; left padding keeps every prompt's last token at the end, where generation continues
    with the KV cache.
    ``adapter_names`` (one per prompt) runs a PEFT model's mixed-adapter batches.
    ``share_prefix``: within each window of batches (see ``batches``), the tokens its prompts all
    start with (a chat template's system turn) run once, batch 1, and each batch continues from a
    copy of their KV cache, its rows laid out as [prefix, padding, own tokens] (positions follow the
    attention mask, so a row sees what it sees alone). Only for a model whose forward treats every
    row alike (no per-row adapters or routing hooks), which the caller knows.
    """
    import torch

    device = next(model.parameters()).device
    encoded = [encode_prompt(tokenizer, p) for p in prompts]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out: list[str] = [""] * len(prompts)
    stop = [newline_stop(tokenizer)]
    done = 0
    order = batches([len(e) for e in encoded], batch_size)
    share = share_prefix and adapter_names is None
    for n, idx in enumerate(order):
        if n % WINDOW_BATCHES == 0:
            window = [encoded[i] for b in order[n : n + WINDOW_BATCHES] for i in b]
            prefix = _prefix_cache(model, window, device) if share else None
        start = prefix[0] if prefix else 0
        ids, mask = left_pad([encoded[i][start:] for i in idx], pad_id)
        extra: dict[str, Any] = {}
        if prefix:
            ids = [encoded[idx[0]][:start] + row for row in ids]
            mask = [[1] * start + row for row in mask]
            extra["past_key_values"] = _copies(prefix[1], len(idx))
        input_ids = torch.tensor(ids, device=device)
        if adapter_names is not None:
            extra["adapter_names"] = [adapter_names[i] for i in idx]
        with torch.inference_mode():
            gen = model.generate(
                input_ids=input_ids,
                attention_mask=torch.tensor(mask, device=device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                pad_token_id=pad_id,
                eos_token_id=tokenizer.eos_token_id,
                stopping_criteria=stop,
                **extra,
            )
        for i, row in zip(idx, gen[:, input_ids.shape[1] :].tolist()):
            out[i] = clean_prediction(tokenizer.decode(row, skip_special_tokens=True))
        done += len(idx)
        progress(ProgressEvent("generate", done, len(prompts)))
    return out
