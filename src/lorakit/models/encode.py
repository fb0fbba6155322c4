"""Turning prompt/completion records into token ids, the same way for training and eval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

IGNORE_INDEX = -100


def encode_prompt(tokenizer: Any, prompt: str) -> list[int]:
    """Prompt ids with the tokenizer's own special tokens (BOS where it has one), BOS once: a prompt
    rendered by a chat template that writes the BOS itself does not get a second."""
    ids = list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
    bos = tokenizer.bos_token_id
    return ids[1:] if bos is not None and ids[:2] == [bos, bos] else ids


def encode_example(tokenizer: Any, prompt: str, completion: str, max_len: int | None = None) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)``: prompt ids, then completion ids and EOS; loss on the completion only.

    The prompt is tokenised on its own, exactly as at generation time, so the model learns to
    continue the very ids it will be given. Longer than ``max_len``: see ``fit_example``.
    """
    if max_len is None:
        ids, labels, _ = fit_example(tokenizer, prompt, completion, None)
    else:
        ids, labels, _ = fit_example(tokenizer, prompt, completion, max_len, char_limit(tokenizer, max_len))
    return ids, labels


def char_limit(tokenizer: Any, max_len: int) -> int:
    """Characters of a prompt's end that hold at least ``max_len`` tokens (a piece spans at most
    the longest vocabulary entry's length), so a huge prompt is never tokenised whole."""
    return max_len * max(1, max(map(len, tokenizer.get_vocab()), default=1))


def fit_example(tokenizer: Any, prompt: str, completion: str, max_len: int | None,
                max_chars: int | None = None) -> tuple[list[int], list[int], bool]:
    """``encode_example`` within ``max_len`` positions, and whether the prompt was cut.

    The completion (the loss) is kept whole; the prompt is cut from the left (its first id kept
    when it is BOS): only its end is tokenised (``max_chars``, from ``char_limit``). A completion
    that leaves the prompt no position raises ValueError.
    """
    cut = max_chars is not None and len(prompt) > max_chars
    p = encode_prompt(tokenizer, prompt[-max_chars:] if cut and max_chars else prompt)
    c = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        c.append(tokenizer.eos_token_id)
    if max_len is not None and (cut or len(p) + len(c) > max_len):
        keep = p[:1] if p and p[0] == tokenizer.bos_token_id else []
        room = max_len - len(keep) - len(c)
        if room < 1:
            raise ValueError(f"the completion takes {len(c)} tokens, the model has {max_len} positions")
        p, cut = keep + p[len(p) - min(room, len(p) - len(keep)):], True
    return p + c, [IGNORE_INDEX] * len(p) + c, cut


def collate_examples(examples: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Any]:
    """``encode_example`` pairs as one right-padded training batch: ``input_ids``, ``attention_mask``, ``labels``."""
    import torch

    width = max(len(x) for x, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (x, y) in enumerate(examples):
        ids[row, : len(x)] = torch.tensor(x)
        labels[row, : len(y)] = torch.tensor(y)
        mask[row, : len(x)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
