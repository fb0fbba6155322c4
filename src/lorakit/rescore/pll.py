"""Batched pseudo-log-likelihood (Salazar et al. 2020) of segment B given segment A.

Each scored token is masked in its own copy of the sequence; the copies of many sequences go
through the encoder together, ``rows`` at a time, and the MLM head runs only at the one masked
position of each copy. As only that position's final hidden state is used, the last layer of a
BERT-structured encoder runs only there (``lorakit.models.encoder``: exact; any other structure
gets the model's own forward).
``within-word`` (Kauf & Ivanova 2023) also masks the later pieces of the same word, so a word's
continuation pieces cannot give its first piece away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from lorakit.models.encoder import Layer, encode_at, encoder_layers
from lorakit.rescore import VARIANTS

Variant = Literal["original", "within-word"]


@dataclass
class Encoded:
    """One encoded input: ids, token types, and the positions to score."""

    ids: list[int]
    types: list[int]
    positions: list[int]


def encode_pair(source: list[int] | None, candidate: list[int], cls: int, sep: int, max_len: int) -> Encoded:
    """``[CLS] source [SEP] candidate [SEP]`` (source cut at the end to fit); with no source, ``[CLS] [SEP] candidate [SEP]``."""
    candidate = candidate[: max_len - 3]
    source = (source or [])[: max(0, max_len - 3 - len(candidate))]
    ids = [cls, *source, sep, *candidate, sep]
    start = len(source) + 2
    types = [0] * start + [1] * (len(candidate) + 1)
    return Encoded(ids, types, list(range(start, start + len(candidate))))


def mask_sets(positions: Sequence[int], word_start: Sequence[bool], variant: Variant) -> list[list[int]]:
    """Per scored position, the positions to mask: itself (original) plus its word's later pieces (within-word)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown PLL variant {variant!r}")
    sets = []
    for i, p in enumerate(positions):
        masked = [p]
        if variant == "within-word":
            for q in positions[i + 1:]:
                if word_start[q]:
                    break
                masked.append(q)
        sets.append(masked)
    return sets


def hidden_at(bert: Any, layers: list[Layer] | None, ids: torch.Tensor, types: torch.Tensor, attn: torch.Tensor,
              pos: torch.Tensor) -> torch.Tensor:
    """Final hidden state at position ``pos[r]`` of each row r; ``layers`` from ``encoder_layers``
    (None: the model's own full forward)."""
    if layers is None:
        hidden = bert(input_ids=ids, token_type_ids=types, attention_mask=attn)[0]
        return hidden[torch.arange(len(ids), device=ids.device), pos]
    return encode_at(bert, layers, ids, types, attn, pos[:, None])[:, 0]


@torch.no_grad()
def pll(model: Any, seqs: list[Encoded], mask_id: int, pad_id: int, word_start: list[bool] | None = None,
        variant: Variant = "original", rows: int = 256) -> list[float]:
    """Mean log P(token | rest) over each sequence's scored positions (per-token normalised PLL).

    ``model`` has ``.bert`` and ``.cls.predictions`` (BertForPreTraining or BertForMaskedLM).
    """
    device = next(model.parameters()).device
    layers = encoder_layers(model.bert)
    jobs = []  # (sequence index, position, target id) per masked copy
    for s, seq in enumerate(seqs):
        starts = [word_start[t] for t in seq.ids] if word_start is not None else [True] * len(seq.ids)
        for masked in mask_sets(seq.positions, starts, variant):
            jobs.append((s, masked))
    order = sorted(range(len(jobs)), key=lambda j: len(seqs[jobs[j][0]].ids))  # similar lengths together
    totals = [0.0] * len(seqs)
    for lo in range(0, len(order), rows):
        chunk = [jobs[j] for j in order[lo:lo + rows]]
        width = max(len(seqs[s].ids) for s, _ in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        types = torch.zeros_like(ids)
        attn = torch.zeros_like(ids)
        for r, (s, masked) in enumerate(chunk):
            seq = seqs[s]
            ids[r, : len(seq.ids)] = torch.tensor(seq.ids)
            ids[r, masked] = mask_id
            types[r, : len(seq.ids)] = torch.tensor(seq.types)
            attn[r, : len(seq.ids)] = 1
        pos = torch.tensor([masked[0] for _, masked in chunk], device=device)
        at = hidden_at(model.bert, layers, ids.to(device), types.to(device), attn.to(device), pos)
        logp = torch.log_softmax(model.cls.predictions(at).float(), dim=-1)
        target = torch.tensor([seqs[s].ids[masked[0]] for s, masked in chunk], device=device)
        for (s, _), v in zip(chunk, logp.gather(1, target[:, None]).squeeze(1).tolist()):
            totals[s] += v
    return [t / max(1, len(seq.positions)) for t, seq in zip(totals, seqs)]


@torch.no_grad()
def is_next(model: Any, seqs: list[Encoded], pad_id: int, rows: int = 256) -> list[float]:
    """log P(IsNext | A, B) from the NSP head (label 0 = B follows A)."""
    device = next(model.parameters()).device
    out: list[float] = []
    for lo in range(0, len(seqs), rows):
        chunk = seqs[lo:lo + rows]
        width = max(len(s.ids) for s in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        types, attn = torch.zeros_like(ids), torch.zeros_like(ids)
        for r, s in enumerate(chunk):
            ids[r, : len(s.ids)], types[r, : len(s.ids)], attn[r, : len(s.ids)] = torch.tensor(s.ids), torch.tensor(s.types), 1
        pooled = model.bert(input_ids=ids.to(device), token_type_ids=types.to(device), attention_mask=attn.to(device))[1]
        out += torch.log_softmax(model.cls.seq_relationship(pooled).float(), dim=-1)[:, 0].tolist()
    return out
