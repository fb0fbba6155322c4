"""Batched PLL equals a one-forward-per-masked-token loop; within-word masks; NSP is a log-probability."""

from __future__ import annotations

import math

import pytest
import torch

from lorakit.rescore.pll import encode_pair, is_next, mask_sets, pll


def masked_copies(ids: torch.Tensor, sets: list[list[int]], mask_id: int) -> torch.Tensor:
    """``len(sets)`` copies of ``ids`` (L,), copy i with the positions ``sets[i]`` set to ``mask_id``
    (the oracle of ``pll``'s batched masking)."""
    copies = ids.unsqueeze(0).repeat(len(sets), 1)
    for i, masked in enumerate(sets):
        copies[i, masked] = mask_id
    return copies


@pytest.fixture(scope="module")
def bert():
    from transformers import BertConfig, BertForPreTraining

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForPreTraining(cfg).eval()


def naive_pll(model, seq, mask_id):
    total = 0.0
    for p in seq.positions:
        ids = torch.tensor([seq.ids])
        ids[0, p] = mask_id
        logits = model(input_ids=ids, token_type_ids=torch.tensor([seq.types])).prediction_logits[0, p]
        total += torch.log_softmax(logits, -1)[seq.ids[p]].item()
    return total / len(seq.positions)


def test_encode_pair_segments_and_truncation():
    seq = encode_pair([10, 11, 12], [20, 21], cls=2, sep=3, max_len=64)
    assert seq.ids == [2, 10, 11, 12, 3, 20, 21, 3] and seq.types == [0] * 5 + [1] * 3 and seq.positions == [5, 6]
    short = encode_pair(list(range(10, 40)), [20, 21], cls=2, sep=3, max_len=10)
    assert len(short.ids) == 10 and short.positions == [7, 8]
    assert encode_pair(None, [20], 2, 3, 64).ids == [2, 3, 20, 3]


def test_mask_sets_within_word():
    starts = [True, True, False, False, True, False]
    assert mask_sets([1, 2, 3, 4, 5], starts, "original") == [[1], [2], [3], [4], [5]]
    assert mask_sets([1, 2, 3, 4, 5], starts, "within-word") == [[1, 2, 3], [2, 3], [3], [4, 5], [5]]
    assert masked_copies(torch.tensor([5, 6, 7]), [[0], [1, 2]], 9).tolist() == [[9, 6, 7], [5, 9, 9]]


@torch.no_grad()
def test_batched_pll_equals_the_plain_loop(bert):
    seqs = [encode_pair([5, 6, 7, 8], [9, 10, 11], 2, 3, 64), encode_pair([12, 13], [14, 15, 16, 17, 18], 2, 3, 64),
            encode_pair(None, [19, 20], 2, 3, 64)]
    batched = pll(bert, seqs, mask_id=4, pad_id=0, rows=5)  # rows < copies: several forwards, mixed lengths
    assert batched == pytest.approx([naive_pll(bert, s, 4) for s in seqs], abs=1e-4)


def test_is_next_is_a_log_probability(bert):
    out = is_next(bert, [encode_pair([5, 6], [7, 8], 2, 3, 64)], pad_id=0)
    assert len(out) == 1 and out[0] < 0 and 0 < math.exp(out[0]) < 1
