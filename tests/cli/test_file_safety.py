"""File safety on every command: an output is never an input (nor inside or around one), '-' is stdout only
for JSONL/markdown outputs, an existing --log-file needs --force, stale temp outputs of dead processes are
cleaned. Each refusal: its exit code, its message, and not a byte written or changed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from lorakit.io import _temp_prefix
from tests.helpers import (corpus_lines, dead_pid, interrupt_training_at, make_peft_adapter, qa_records, run_cli, snapshot,
                           work_copy)

TRAIN = ["--epochs", "1", "--batch-size", "4", "--rank", "2", "--threads", "1", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def library(make_tiny_model, tmp_path_factory):
    """A base model, two adapters and one input file of each kind."""
    root = tmp_path_factory.mktemp("safety")
    shutil.copytree(make_tiny_model("llama"), root / "base")
    make_peft_adapter(root / "base", root / "a", seed=1)
    make_peft_adapter(root / "base", root / "b", seed=2)
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qa_records(8, seed=1)), encoding="utf-8")
    (root / "corpus.txt").write_text("\n".join(corpus_lines(40)) + "\n", encoding="utf-8")
    (root / "pairs.jsonl").write_text(json.dumps({"source": "s", "candidates": ["a", "b"]}) + "\n", encoding="utf-8")
    (root / "run").mkdir()
    (root / "run" / "results.json").write_text(json.dumps({"results": {"t": {"exact_match,none": 0.5}}}), encoding="utf-8")
    (root / "shard.jsonl").write_text('{"prompt": "p"}\n', encoding="utf-8")
    (root / "-").mkdir()
    (root / "-" / "keep.txt").write_text("a folder named '-'\n", encoding="utf-8")
    return root


@pytest.fixture
def work(library, tmp_path, monkeypatch):
    """A fresh copy of the library as the current folder (paths in the cases are relative)."""
    return work_copy(library, tmp_path, monkeypatch)



ROUTE = ["route", "base", "data.jsonl", "--adapter", "a", "--adapter", "b"]
CASES = {
    # an output that is, lies inside or contains an input -> 2, even with --force
    "train-lora out=base": (["train-lora", "base", "data.jsonl", "--out", "base", "--force", *TRAIN], "--out base: is the input BASE"),
    "train-lora out in base": (["train-lora", "base", "data.jsonl", "--out", "base/adapter", *TRAIN], "--out base/adapter: is inside the input BASE base"),
    "train-lora out around data": (["train-lora", "base", "data.jsonl", "--out", ".", "--force", *TRAIN], "--out .: contains the input BASE base"),
    "train-lora log=data": (["train-lora", "base", "data.jsonl", "--out", "x", "--log-file", "data.jsonl", "--force", *TRAIN], "--log-file data.jsonl: is the input DATA"),
    "train-lora log in out": (["train-lora", "base", "data.jsonl", "--out", "x", "--log-file", "x/log.jsonl", *TRAIN], "--out x: contains --log-file x/log.jsonl"),
    "pretrain-lm out=corpus": (["pretrain-lm", "corpus.txt", "--out", "corpus.txt", "--force"], "--out corpus.txt: is the input CORPUS"),
    "pretrain-lm log=corpus": (["pretrain-lm", "corpus.txt", "--out", "x", "--log-file", "corpus.txt", "--force"], "--log-file corpus.txt: is the input CORPUS"),
    "pretrain-lm out=tokenizer": (["pretrain-lm", "corpus.txt", "--out", "base", "--tokenizer", "base", "--force"], "--out base: is the input --tokenizer"),
    "pretrain-bert log=corpus": (["pretrain-bert", "corpus.txt", "--out", "x", "--log-file", "corpus.txt", "--force"], "--log-file corpus.txt: is the input CORPUS"),
    "merge out=adapter": (["merge", "a", "b", "--out", "a", "--force"], "--out a: is the input ADAPTERS"),
    "merge out=into-base": (["merge", "a", "b", "--into-base", "base", "--out", "base", "--force"], "--out base: is the input --into-base"),
    "eval out around model": (["eval", "base", "data.jsonl", "--out", ".", "--force"], "--out .: contains the input MODEL base"),
    "eval out=predictions": (["eval", "--predictions", "data.jsonl", "--out", "data.jsonl", "--force"], "--out data.jsonl: is the input --predictions"),
    "route out=data": ([*ROUTE, "--out", "data.jsonl", "--force"], "--out data.jsonl: is the input DATA"),
    "route save-merged=adapter": ([*ROUTE, "--method", "lorahub", "--shots", "data.jsonl", "--save-merged", "b", "--out", "p.jsonl", "--force"],
                                  "--save-merged b: is the input --adapter"),
    "rescore out=data": (["rescore", "base", "pairs.jsonl", "--out", "pairs.jsonl", "--force"], "--out pairs.jsonl: is the input DATA"),
    "report out around run": (["report", "run", "--out", "run", "--force"], "--out run: contains the input RUNS run/results.json"),
    "inspect out in adapter": (["inspect", "a", "b", "--out", "a/adapter_config.json", "--force"], "--out a/adapter_config.json: is inside the input ADAPTERS a"),
    "gather out=shard": (["gather", "shard.jsonl", "--out", "shard.jsonl", "--force"], "--out shard.jsonl: is the input SHARDS"),
    # '-' is no folder or JSON file: refused whatever exists under that name (here a folder '-')
    "merge out -": (["merge", "a", "b", "--out", "-"], "--out -: '-' (stdout) cannot take this output"),
    "merge out - force": (["merge", "a", "b", "--out", "-", "--force"], "--out -: '-' (stdout) cannot take this output"),
    "train-lora out -": (["train-lora", "base", "data.jsonl", "--out", "-", "--force", *TRAIN], "--out -: '-' (stdout)"),
    "train-lora log -": (["train-lora", "base", "data.jsonl", "--out", "x", "--log-file", "-", *TRAIN], "--log-file -: '-' (stdout)"),
    "pretrain-lm out -": (["pretrain-lm", "corpus.txt", "--out", "-"], "--out -: '-' (stdout)"),
    "pretrain-bert out -": (["pretrain-bert", "corpus.txt", "--out", "-"], "--out -: '-' (stdout)"),
    "gen-data out -": (["gen-data", "twohop", "--out", "-", "--force"], "--out -: '-' (stdout)"),
    "eval out -": (["eval", "--predictions", "data.jsonl", "--out", "-", "--force"], "--out -: '-' (stdout)"),
    "inspect out -": (["inspect", "a", "--out", "-", "--force"], "--out -: '-' (stdout)"),
    "route save-merged -": ([*ROUTE, "--method", "lorahub", "--shots", "data.jsonl", "--save-merged", "-", "--out", "p.jsonl"], "--save-merged -: '-' (stdout)"),
}


@pytest.mark.parametrize("case", CASES)
def test_refused_before_anything_is_written(case, work):
    args, message = CASES[case]
    before = snapshot(work)
    result = run_cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert snapshot(work) == before


def test_existing_log_file_needs_force(work):
    (work / "old.log").write_text("not a log of this run\n", encoding="utf-8")
    before = snapshot(work)
    for command in (["train-lora", "base", "data.jsonl", *TRAIN], ["pretrain-lm", "corpus.txt"]):
        result = run_cli(*command, "--out", "x", "--log-file", "old.log")
        assert result.exit_code == 4, result.output
        assert "old.log: already exists (pass --force to replace it)" in result.output
        assert snapshot(work) == before
        result = run_cli(*command, "--out", "x", "--log-file", "old.log", "--resume")  # no checkpoint: nothing to keep
        assert result.exit_code == 4 and snapshot(work) == before
    result = run_cli("train-lora", "base", "data.jsonl", *TRAIN, "--out", "x", "--log-file", "old.log", "--force")
    assert result.exit_code == 0, result.output
    steps = [json.loads(line)["step"] for line in (work / "old.log").read_text().splitlines()]
    assert steps == [1, 2]


def test_resume_keeps_the_log_before_the_checkpoint(work, monkeypatch):
    args = ["train-lora", "base", "data.jsonl", *TRAIN, "--epochs", "3", "--out", "x", "--log-file", "x.log"]
    restore = interrupt_training_at(monkeypatch, 4)
    assert run_cli(*args).exit_code == 130
    restore()
    assert [json.loads(line)["step"] for line in (work / "x.log").read_text().splitlines()] == [1, 2, 3]
    result = run_cli(*args, "--resume")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["step"] for line in (work / "x.log").read_text().splitlines()] == [1, 2, 3, 4, 5, 6]


def test_stale_temp_outputs_of_dead_processes_are_cleaned(work):
    dead, live = dead_pid(), os.getpid()
    stale = work / (_temp_prefix(Path("m"), "tmp", dead) + "abc123")
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"\0" * 1024)
    stale_file = work / (_temp_prefix(Path("m"), "tmp", dead) + "x1y2")
    stale_file.write_bytes(b"half")
    running = work / (_temp_prefix(Path("m"), "tmp", live) + "def456")
    running.mkdir()
    foreign = work / f".m.tmp-{dead}@another-host-ghi789"
    foreign.mkdir()
    result = run_cli("merge", "a", "b", "--into-base", "base", "--out", "m", "--quiet")
    assert result.exit_code == 0, result.output
    assert not stale.exists() and not stale_file.exists()
    assert running.is_dir() and foreign.is_dir()
    assert (work / "m" / "model.safetensors").is_file()
    assert sorted(p.name for p in work.glob(".m.*")) == sorted([running.name, foreign.name])
