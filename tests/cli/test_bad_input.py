"""Bad input on every command (issue 16): NaN/inf options and configs, integer adapter tensors, adapters of
another base, over-long examples, empty candidates, bad --limit, corrupt files, unwritable outputs. Each is
refused with its documented exit code and one line, and nothing is written or changed."""

from __future__ import annotations

import json
import shutil
import struct

import pytest

from lorakit.io import read_json
from tests.helpers import build_model, interrupt_training_at, make_peft_adapter, qa_records, run_cli, snapshot, work_copy

TRAIN = ["--epochs", "1", "--batch-size", "4", "--rank", "2", "--threads", "1", "--device", "cpu", "--quiet"]
GEN = ["--max-new-tokens", "2", "--device", "cpu", "--threads", "1", "--quiet"]


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _int_adapter(src, dst):
    """A copy of ``src`` whose first lora_A tensor is int64."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    tensors = load_file(str(dst / "adapter_model.safetensors"))
    name = next(k for k in tensors if "lora_A" in k)
    tensors[name] = tensors[name].round().to(torch.int64)
    save_file(tensors, str(dst / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def library(make_tiny_model, tiny_tokenizer_dir, tmp_path_factory):
    """A base, a same-shaped base with other weights, adapters (PEFT-made, trained, corrupt) and bad files."""
    root = tmp_path_factory.mktemp("bad")
    shutil.copytree(make_tiny_model("llama"), root / "base")
    build_model("llama", tiny_tokenizer_dir, root / "other", seed=1)
    make_peft_adapter(root / "base", root / "a", seed=1)
    make_peft_adapter(root / "base", root / "b", seed=2)
    _jsonl(root / "data.jsonl", qa_records(8, seed=1))
    result = run_cli("train-lora", root / "other", root / "data.jsonl", "--out", root / "t", *TRAIN)
    assert result.exit_code == 0, result.output
    # bad adapters
    shutil.copytree(root / "a", root / "nan_alpha")
    config = json.loads((root / "a" / "adapter_config.json").read_text())
    (root / "nan_alpha" / "adapter_config.json").write_text(json.dumps({**config, "lora_alpha": float("nan")}))
    shutil.copytree(root / "a", root / "deep")
    (root / "deep" / "adapter_config.json").write_text("[" * 100_000 + "]" * 100_000)
    _int_adapter(root / "a", root / "int")
    # bad bases
    for name, data in (("trunc_base", None), ("huge_base", struct.pack("<Q", 2**62) + b"{}")):
        shutil.copytree(root / "base", root / name)
        weights = root / name / "model.safetensors"
        weights.write_bytes(data if data is not None else weights.read_bytes()[:-1000])
    # bad data
    (root / "deep.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    _jsonl(root / "scored.jsonl", [{"source": "s", "candidates": ["a", "b"], "best": 0, "label": 0}])
    _jsonl(root / "empty_cand.jsonl", [{"source": "s", "candidates": ["a fine one", " "]}])
    _jsonl(root / "long_completion.jsonl", [{"prompt": "Q:", "completion": " Tavi Monu" * 300}])
    (root / "afile").write_text("a file\n")
    for name, data in (("shape", json.dumps({"command": "route", "shard": 0, "of": 2, "records": 5, "total": 9,
                                              "input": {}, "sha256": "x"}).encode()), ("utf8", b'{"shard": "\xff"}')):
        (root / f"{name}.jsonl").write_text('{"prompt": "p"}\n')
        (root / f"{name}.jsonl.shard.json").write_bytes(data)
    (root / "run").mkdir()
    (root / "run" / "results.json").write_bytes(b'{"results": {"\xff": 1}}')
    return root


@pytest.fixture
def work(library, tmp_path, monkeypatch):
    """A fresh copy of the library as the current folder (paths in the cases are relative)."""
    return work_copy(library, tmp_path, monkeypatch)



CASES = {
    # NaN / inf wherever a number enters
    "merge --weights nan": (["merge", "a", "b", "--method", "linear", "--weights", "nan,1", "--out", "m"], 2,
                            "--weights must be a finite number, not nan,1.0"),
    "merge --density inf": (["merge", "a", "b", "--method", "ties", "--density", "inf", "--out", "m"], 2,
                            "--density must be a finite number, not inf"),
    "train-lora --lr nan": (["train-lora", "base", "data.jsonl", "--out", "x", *TRAIN, "--lr", "nan"], 2,
                            "--lr must be a finite number, not nan"),
    "route --temperature inf": (["route", "base", "data.jsonl", "--adapter", "a", "--temperature", "inf", "--out", "p.jsonl"], 2,
                                "--temperature must be a finite number, not inf"),
    "merge lora_alpha NaN": (["merge", "nan_alpha", "b", "--out", "m"], 3,
                             "nan_alpha/adapter_config.json: lora_alpha must be a positive finite number, not nan"),
    "inspect lora_alpha NaN": (["inspect", "nan_alpha"], 3, "lora_alpha must be a positive finite number, not nan"),
    # integer tensors
    "merge ties int tensor": (["merge", "int", "b", "--method", "ties", "--density", "0.5", "--out", "m"], 3,
                              "has dtype I64; adapter tensors must be floating point"),
    "merge dare int tensor": (["merge", "int", "b", "--method", "dare-linear", "--density", "0.5", "--out", "m"], 3,
                              "has dtype I64; adapter tensors must be floating point"),
    "eval --adapter int tensor": (["eval", "base", "data.jsonl", "--adapter", "int", *GEN], 3,
                                  "has dtype I64; adapter tensors must be floating point"),
    # an adapter of another base with the same shapes
    "merge --into-base other base": (["merge", "t", "--into-base", "base", "--out", "m"], 5, "t: trained on other base weights than base"),
    "eval --adapter other base": (["eval", "base", "data.jsonl", "--adapter", "t", *GEN], 5, "t: trained on other base weights"),
    "route other base": (["route", "base", "data.jsonl", "--adapter", "t", "--out", "p.jsonl", *GEN], 5,
                         "t: trained on other base weights"),
    # over-long completion, empty candidate, --limit
    "train-lora completion too long": (["train-lora", "base", "long_completion.jsonl", "--out", "x", *TRAIN], 3,
                                       "long_completion.jsonl: record 1: the completion takes"),
    "rescore empty candidate": (["rescore", "base", "empty_cand.jsonl", "--out", "s.jsonl"], 3,
                                "empty_cand.jsonl:1: candidate 1 is empty"),
    "eval faithfulness --limit 0": (["eval", "--task", "faithfulness", "scored.jsonl", "--limit", "0"], 2, "--limit must be at least 1, not 0"),
    "eval faithfulness --limit -2": (["eval", "--task", "faithfulness", "scored.jsonl", "--limit", "-2"], 2, "--limit must be at least 1, not -2"),
    # corrupt files
    "eval deep JSON line": (["eval", "--predictions", "deep.jsonl"], 3, "deep.jsonl:1: invalid JSON (nested too deeply)"),
    "merge deep adapter_config": (["merge", "deep", "b", "--out", "m"], 3, "deep/adapter_config.json: invalid JSON (nested too deeply)"),
    "eval truncated base": (["eval", "trunc_base", "data.jsonl", *GEN], 3,
                            "trunc_base/model.safetensors: not a readable safetensors file (truncated"),
    "merge --into-base 2^62 header": (["merge", "a", "--into-base", "huge_base", "--out", "m"], 3,
                                      "huge_base/model.safetensors: not a readable safetensors file (header length 4611686018427387904"),
    "gather shard.json wrong shape": (["gather", "shape.jsonl"], 3, "shape.jsonl.shard.json: not a shard description"),
    "gather shard.json invalid UTF-8": (["gather", "utf8.jsonl"], 3, "utf8.jsonl.shard.json: not UTF-8 text"),
    "report invalid UTF-8": (["report", "run"], 3, "run/results.json: not UTF-8 text"),
    # outputs that cannot be written
    "merge --out under a file": (["merge", "a", "b", "--out", "afile/m"], 2, "--out afile/m:"),
    "merge --out existing file": (["merge", "a", "b", "--out", "afile"], 4, "afile: already exists (pass --force to replace it)"),
}


@pytest.mark.parametrize("case", CASES)
def test_refused_with_one_line_and_nothing_written(case, work):
    args, code, message = CASES[case]
    before = snapshot(work)
    result = run_cli(*args)
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert snapshot(work) == before


def test_allow_different_base_overrides(work):
    result = run_cli("merge", "t", "--into-base", "base", "--out", "m", "--allow-different-base", "--quiet")
    assert result.exit_code == 0, result.output
    assert read_json(work / "t" / "lorakit.json")["base"]["weights_sha256"]


def test_force_replaces_a_file_with_the_output_folder(work):
    result = run_cli("merge", "a", "b", "--out", "afile", "--force", "--quiet")
    assert result.exit_code == 0, result.output
    assert (work / "afile" / "adapter_model.safetensors").is_file()
    assert not list(work.glob(".afile.*"))


def test_read_only_output_folder(work, monkeypatch):
    import os

    (work / "ro").mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p).endswith("ro") else real(p, mode, **kw))
    before = snapshot(work)
    result = run_cli("merge", "a", "b", "--out", "ro/m")
    assert result.exit_code == 2, result.output
    assert "--out ro/m: cannot write in" in result.stderr and "(read-only or no permission)" in result.stderr
    assert snapshot(work) == before


def test_long_prompt_is_cut_from_the_left_and_counted(work):
    long = [{"prompt": "Q: " + "Tavi Monu lives in Orvel. " * 400 + "Who is Tavi?", "completion": " Monu"}]
    _jsonl(work / "long.jsonl", long + qa_records(3, seed=2))
    result = run_cli("train-lora", "base", "long.jsonl", "--out", "x", *TRAIN[:-1], "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["truncated_prompts"] == 1 and summary["first_loss"] > 0
    assert "1 prompt(s) longer than the model's positions were cut from the left" in result.stderr


def test_corrupt_checkpoint_is_refused(work, monkeypatch):
    args = ["train-lora", "base", "data.jsonl", "--out", "x", *TRAIN, "--epochs", "2"]
    restore = interrupt_training_at(monkeypatch, 2)
    assert run_cli(*args).exit_code == 130
    restore()
    ckpt = work / "x.ckpt"
    meta = json.loads((ckpt / "trainer.json").read_text())
    state = (ckpt / "state.safetensors").read_bytes()
    for name, data, message in (
            ("state.safetensors", state[:-100], "x.ckpt/state.safetensors: not a readable safetensors file (truncated"),
            ("trainer.json", json.dumps({k: v for k, v in meta.items() if k != "optimizer"}).encode(),
             "x.ckpt/trainer.json: not a lorakit checkpoint description")):
        (ckpt / name).write_bytes(data)
        before = snapshot(work)
        result = run_cli(*args, "--resume")
        assert result.exit_code == 3, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
        assert snapshot(work) == before
        (ckpt / "trainer.json").write_text(json.dumps(meta))
        (ckpt / "state.safetensors").write_bytes(state)
