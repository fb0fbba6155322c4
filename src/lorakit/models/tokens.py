"""Turning prompt/completion records into token ids, the same way for training and eval."""

from __future__ import annotations

from typing import Any

IGNORE_INDEX = -100


def encode_prompt(tokenizer: Any, prompt: str) -> list[int]:
    """Prompt ids with the tokenizer's own special tokens (BOS where it has one)."""
    return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])


def encode_example(tokenizer: Any, prompt: str, completion: str, max_len: int | None = None) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)``: prompt ids, then completion ids and EOS; loss on the completion only.

    The prompt is tokenised on its own, exactly as at generation time, so the model learns to
    continue the very ids it will be given.
    """
    p = encode_prompt(tokenizer, prompt)
    c = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        c.append(tokenizer.eos_token_id)
    ids = p + c
    labels = [IGNORE_INDEX] * len(p) + c
    if max_len is not None and len(ids) > max_len:
        ids, labels = ids[:max_len], labels[:max_len]
    return ids, labels
