"""rescore in parts (--shard by hand, then gather; and under torchrun) writes the one-process output byte for byte."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from lorakit.cli import app

runner = CliRunner()
WORDS = "ala ma kota a kot ma ale jan widzi psa pies lubi kości w domu na polu rano wieczorem".split()


@pytest.fixture(scope="module")
def scorer_and_data(tmp_path_factory):
    """A random 1-layer BERT folder (from a config; no training needed for identity) and 70 records."""
    import torch
    from transformers import BertForPreTraining

    from lorakit.models.pretrain_bert import BertPretrainConfig, bert_config, bert_tokenizer

    d = tmp_path_factory.mktemp("rescore-shard")
    rng = random.Random(0)
    sentence = lambda n: " ".join(rng.choice(WORDS) for _ in range(n)) + "."  # noqa: E731
    tok = bert_tokenizer([sentence(12) for _ in range(300)], 290)
    torch.manual_seed(0)
    cfg = BertPretrainConfig(corpus="-", out=d / "unused", layers=1, hidden=32, heads=2, intermediate=64, dropout=0.0, max_seq_len=64)
    BertForPreTraining(bert_config(cfg, tok)).save_pretrained(str(d / "bert"))
    tok.save_pretrained(str(d / "bert"))
    data = d / "test.jsonl"
    data.write_text("".join(json.dumps({"id": i, "source": sentence(rng.randint(2, 6)),
                                        "candidates": [sentence(rng.randint(1, 3)) for _ in range(2 + i % 2)]}) + "\n"
                            for i in range(70)), encoding="utf-8")
    return d / "bert", data


def test_parts_gather_to_the_one_process_output(scorer_and_data, tmp_path):
    bert, data = scorer_and_data
    args = ["rescore", str(bert), str(data), "--method", "nsp", "--batch-size", "16", "--quiet"]
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "one.jsonl")]).exit_code == 0
    for i in (0, 1):  # windows of 64 records: part 0 = 0-63, part 1 = 64-69
        result = runner.invoke(app, [*args, "--shard", f"{i}/2", "--out", str(tmp_path / f"p{i}.jsonl")])
        assert result.exit_code == 0, result.output
    assert len((tmp_path / "p1.jsonl").read_text().splitlines()) == 6
    result = runner.invoke(app, ["gather", str(tmp_path / "p1.jsonl"), str(tmp_path / "p0.jsonl"), "--out", str(tmp_path / "all.jsonl")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "all.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


def test_two_processes_write_the_one_process_output(scorer_and_data, tmp_path):
    import torch.distributed

    from tests.helpers import torchrun

    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("needs torch.distributed with gloo")
    bert, data = scorer_and_data
    # one thread each, as torchrun's default OMP_NUM_THREADS=1 (other thread counts sum in another order)
    args = ["rescore", bert, data, "--method", "pll+nsp", "--batch-size", "16", "--threads", "1", "--quiet"]
    two = torchrun(*args, "--out", tmp_path / "two.jsonl")
    assert two.returncode == 0, two.stderr[-3000:]
    assert runner.invoke(app, [*map(str, args), "--out", str(tmp_path / "one.jsonl")]).exit_code == 0
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.jsonl", "two.jsonl"]
