"""LoRA training library: length-grouped batching, loss pin, base fingerprint."""

from __future__ import annotations

import json

import torch

from lorakit.lora.train import LengthGroupedBatches, LoraTrainConfig, base_fingerprint, train_lora
from tests.helpers import qa_records


def examples(n):
    return [([1] * (3 + i % 7), [-100] * 2 + [5] * (1 + i % 7)) for i in range(n)]


def test_batches_cover_each_example_once_and_are_deterministic():
    b = LengthGroupedBatches(examples(50), batch_size=8, seed=3, pad_id=0)
    for epoch in range(3):
        plan = b.plan(epoch)
        assert sorted(i for batch in plan for i in batch) == list(range(50))
        assert plan == LengthGroupedBatches(examples(50), 8, 3, 0).plan(epoch)
    assert b.plan(0) != b.plan(1)


def test_length_grouping_reduces_padding():
    import random

    exs = examples(64)
    b = LengthGroupedBatches(exs, batch_size=8, seed=0, pad_id=0)
    grouped = sum(b.collate(batch)["input_ids"].numel() for batch in b.plan(0))
    order = list(range(64))
    random.Random(0).shuffle(order)
    unsorted = sum(b.collate(order[i:i + 8])["input_ids"].numel() for i in range(0, 64, 8))
    real = sum(len(x) for x, _ in exs)
    assert grouped < unsorted and grouped <= 1.1 * real
    batch = b.collate(b.plan(0)[0])
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()


def test_first_losses_pinned(tiny_llama_dir, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in qa_records(8, seed=1)), encoding="utf-8")
    losses = []
    cfg = LoraTrainConfig(base=tiny_llama_dir, data=str(data), out=tmp_path / "a", rank=4, alpha=8, epochs=2,
                          batch_size=4, device="cpu")
    train_lora(cfg, lambda ev: losses.append(ev.metrics["loss"]))
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(PINNED_LOSSES), rtol=1e-4, atol=1e-4)


PINNED_LOSSES = [6.3260, 6.1679, 6.2475, 6.1084]  # seed 0, CPU fp32; step 0 has lr 0 (warmup)


def test_base_fingerprint_tracks_config(tiny_llama_dir, make_tiny_model):
    assert base_fingerprint(tiny_llama_dir) == base_fingerprint(tiny_llama_dir)
    assert base_fingerprint(tiny_llama_dir) != base_fingerprint(make_tiny_model("qwen2"))
