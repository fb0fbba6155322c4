"""The shared training loop pieces (lorakit.training) and pretrain-lm's batching."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from lorakit import checkpoints, training
from lorakit.errors import InputError, TrainingError
from lorakit.models.pretrain_lm import Batches, read_corpus
from tests.helpers import pack_blocks


def test_lr_matches_hf_cosine_schedule():
    from transformers import get_cosine_schedule_with_warmup

    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=2e-3)
    sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=3, num_training_steps=20)
    for step in range(20):
        assert math.isclose(training.lr_at(step, 20, 3, 2e-3), opt.param_groups[0]["lr"], abs_tol=1e-12)
        opt.step()
        sched.step()
    assert training.warmup_steps(100, 0.03) == 3


def test_param_groups_no_decay_on_vectors():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    decay, rest = training.param_groups(model, 0.1)
    assert [p.ndim for p in decay["params"]] == [2] and decay["weight_decay"] == 0.1
    assert all(p.ndim == 1 for p in rest["params"]) and rest["weight_decay"] == 0.0


class NanModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def forward(self, **batch):
        return type("Out", (), {"loss": self.w * float("nan")})()


def test_non_finite_loss_is_a_training_error():
    model = NanModel()
    opt = torch.optim.AdamW(model.parameters())
    with pytest.raises(TrainingError, match="not finite"):
        accelerator = SimpleNamespace(device=torch.device("cpu"), backward=lambda loss: loss.backward())
        training.train_step(model, opt, accelerator, [({}, 1.0)], {}, lambda m, b, whole: m(**b).loss, 1e-3, 1.0)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = training.make_optimizer(model, 1e-2, 0.1)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    state = checkpoints.TrainState(step=1, epoch=0, index=1, tokens=8, first_loss=1.5, recent_losses=[1.5])
    fp = {"lr": 1e-2}
    checkpoints.save_checkpoint(tmp_path / "ck", model, opt, state, fp, torch.get_rng_state())
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["state.safetensors", "trainer.json"]

    torch.manual_seed(1)
    other = torch.nn.Linear(4, 3)
    other_opt = training.make_optimizer(other, 1e-2, 0.1)
    assert checkpoints.load_checkpoint(tmp_path / "ck", other, other_opt, fp) == state
    assert torch.equal(other.weight, model.weight)
    a, b = opt.state_dict(), other_opt.state_dict()
    for pid in a["state"]:
        for k, v in a["state"][pid].items():
            assert torch.equal(v, b["state"][pid][k])
    with pytest.raises(TrainingError, match="lr"):
        checkpoints.load_checkpoint(tmp_path / "ck", other, other_opt, {"lr": 1e-3})


def test_pack_blocks_keeps_lines_whole():
    blocks = pack_blocks([3, 4, 2, 9], [0, 1, 2, 3], block_size=5)
    assert blocks == [[(0, 0, 3)], [(1, 0, 4)], [(2, 0, 2)], [(3, 0, 5)], [(3, 5, 9)]]
    assert all(sum(e - s for _, s, e in b) <= 5 for b in blocks)


def test_batches_deterministic_per_epoch():
    docs = [[2] + [10 + i] * (i % 5 + 1) + [3] for i in range(30)]
    b = Batches(docs, block_size=8, batch_size=3, seed=0, pad_id=0)
    assert b.plan(0) == Batches(docs, 8, 3, 0, 0).plan(0) and b.plan(0) != b.plan(1)
    tokens = sorted(t for plan in b.plan(0) for row in b.collate(plan)["input_ids"].tolist() for t in row if t)
    assert tokens == sorted(t for d in docs for t in d)


def test_read_corpus(tmp_path):
    (tmp_path / "a.txt").write_text("one\n\n two \n", encoding="utf-8")
    assert read_corpus(tmp_path / "a.txt") == ["one", "two"]
    (tmp_path / "b.jsonl").write_text('{"text": "x"}\n\n{"text": "y"}\n', encoding="utf-8")
    assert read_corpus(tmp_path / "b.jsonl") == ["x", "y"]
    (tmp_path / "c.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no text"):
        read_corpus(tmp_path / "c.txt")
