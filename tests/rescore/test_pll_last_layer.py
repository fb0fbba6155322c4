"""PLL's fast path (fused projections, last layer only at the masked position) equals the model's own
forward; other structures fall back to it."""

from __future__ import annotations

import pytest
import torch

from lorakit.models.encoder import encoder_layers
from lorakit.rescore.pll import encode_pair, pll


class Opaque(torch.nn.Module):
    """The same encoder behind a module with no ``encoder.layer``: PLL must take the full forward."""

    def __init__(self, bert: torch.nn.Module) -> None:
        super().__init__()
        self.inner = bert

    def forward(self, **kw):
        return self.inner(**kw)


@pytest.fixture(scope="module")
def models():
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
                     max_position_embeddings=64, hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    fast = BertForMaskedLM(cfg).eval()
    for p in fast.parameters():  # sharper than HF's init, so the scores differ per token
        torch.nn.init.normal_(p, std=0.3)
    full = torch.nn.Module()
    full.bert, full.cls = Opaque(fast.bert), fast.cls
    return fast, full.eval()


SEQS = [encode_pair([5, 6, 7, 8, 9, 10], [11, 12, 13], 2, 3, 64), encode_pair([14, 15], [16, 17, 18, 19, 20], 2, 3, 64),
        encode_pair(None, [21, 22, 23, 24], 2, 3, 64), encode_pair(None, [25], 2, 3, 64)]
STARTS = [i % 3 != 1 for i in range(60)]  # some pieces continue a word


@pytest.mark.parametrize("variant", ["original", "within-word"])
def test_fast_path_equals_the_full_forward(models, variant):
    fast, full = models
    assert encoder_layers(fast.bert) is not None and encoder_layers(full.bert) is None
    for rows in (256, 3):  # one padded batch of every length; several batches
        got = pll(fast, SEQS, mask_id=4, pad_id=0, word_start=STARTS, variant=variant, rows=rows)
        want = pll(full, SEQS, mask_id=4, pad_id=0, word_start=STARTS, variant=variant, rows=rows)
        assert got == pytest.approx(want, abs=1e-5)
        assert len(set(round(v, 3) for v in got)) == len(got)  # not a degenerate model


def test_other_structures_fall_back(models):
    from transformers import BertConfig, BertModel

    def tiny(**kw):
        return BertModel(BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=16, **kw))

    assert encoder_layers(models[1].bert) is None  # no encoder.layer
    assert encoder_layers(tiny(is_decoder=True).eval()) is None
    assert encoder_layers(tiny().eval()) is not None
