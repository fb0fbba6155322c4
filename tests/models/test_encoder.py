"""The encoder's last layer only where its output is used (``lorakit.models.encoder``): pretrain-bert's
loss and gradients equal those of BertForPreTraining's own forward."""

from __future__ import annotations

import pytest
import torch

from lorakit.models import pretrain_bert as bert_module
from lorakit.models.pretrain_bert import PretrainingLoss
from lorakit.models.encoder import encode_at, encoder_layers, positions_by_row


def tiny_bert(dropout: float = 0.0, attention_dropout: float | None = None):
    from transformers import BertConfig, BertForPreTraining

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
                     max_position_embeddings=32, hidden_dropout_prob=dropout,
                     attention_probs_dropout_prob=dropout if attention_dropout is None else attention_dropout)
    return BertForPreTraining(cfg)


def batch(pairs: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 50, (4, 12), generator=g)
    attn = torch.ones_like(ids)
    attn[1, 7:], attn[3, 4:] = 0, 0  # padded rows
    types = torch.zeros_like(ids)
    types[:, 6:] = 1
    # unsorted flat indices; row 2 has none masked, row 0 the most
    index = torch.tensor([0 * 12 + 5, 3 * 12 + 1, 0 * 12 + 1, 1 * 12 + 6, 0 * 12 + 9, 0 * 12 + 11, 1 * 12 + 2])
    out = {"input_ids": ids, "token_type_ids": types, "attention_mask": attn, "mlm_index": index,
           "mlm_labels": torch.randint(0, 50, (len(index),), generator=g)}
    return {**out, "next_sentence_label": torch.tensor([0, 1, 1, 0])} if pairs else out


def loss_and_grads(model, data):
    model.zero_grad()
    loss = PretrainingLoss(model)(**data).loss
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("pairs", [False, True])
def test_training_loss_and_gradients_equal_the_full_forward(monkeypatch, pairs):
    model, data = tiny_bert().train(), batch(pairs)
    fast, fast_grads = loss_and_grads(model, data)
    monkeypatch.setattr(bert_module, "encoder_layers", lambda bert: None)  # BertForPreTraining's own forward
    full, full_grads = loss_and_grads(model, data)
    assert fast == pytest.approx(full, rel=1e-5) and fast > 0
    assert fast_grads.keys() == full_grads.keys()
    assert any("pooler" in n for n in fast_grads) == pairs
    for name, grad in full_grads.items():
        assert torch.allclose(fast_grads[name], grad, atol=1e-6, rtol=1e-4), name


@pytest.mark.parametrize("hidden, attention", [(0.3, 0.0), (0.0, 0.3)])
def test_dropout_applies_in_training_mode_only(monkeypatch, hidden, attention):
    model, data = tiny_bert(hidden, attention), batch(pairs=True)
    model.train()
    assert PretrainingLoss(model)(**data).loss.item() != PretrainingLoss(model)(**data).loss.item()
    model.eval()
    fast = PretrainingLoss(model)(**data).loss.item()
    monkeypatch.setattr(bert_module, "encoder_layers", lambda bert: None)
    assert fast == pytest.approx(PretrainingLoss(model)(**data).loss.item(), rel=1e-5)


def test_positions_by_row_returns_the_states_at_the_flat_indices():
    model, data = tiny_bert().eval(), batch(pairs=False)
    ids, index = data["input_ids"], data["mlm_index"]
    at, column = positions_by_row(index, *ids.shape, reserve=1)
    assert at.shape == (4, 1 + 4) and (at[:, 0] == 0).all()  # [CLS] column, then row 0's four indices
    states = encode_at(model.bert, encoder_layers(model.bert), ids, data["token_type_ids"], data["attention_mask"], at)
    full = model.bert(input_ids=ids, token_type_ids=data["token_type_ids"], attention_mask=data["attention_mask"])[0]
    assert torch.allclose(states[index // 12, column], full.reshape(-1, 32)[index], atol=1e-5)
    assert torch.allclose(states[:, 0], full[:, 0], atol=1e-5)
    empty, _ = positions_by_row(torch.zeros(0, dtype=torch.long), 3, 12)
    assert empty.shape == (3, 1)
