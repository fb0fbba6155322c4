"""Several processes: train-lora and pretrain-bert under torchrun (gloo, CPU) make the same run as one process.

Tolerance: per-step losses within 1e-4 relative and weights within 1e-5 absolute (fp32; the
gradient all-reduce sums in another order than one process). Each torchrun launch costs ~10-30 s
on a loaded 2-core machine, mostly importing torch twice; there are three.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import torch
import torch.distributed
from typer.testing import CliRunner

from lorakit import checkpoints, distributed, training
from lorakit.cli import app
from tests.helpers import qa_records, torchrun, torchrun_cmd, torchrun_env as env

pytestmark = pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()), reason="needs torch.distributed with gloo"
)
runner = CliRunner()
LORA = ["--batch-size", "5", "--rank", "4", "--alpha", "8", "--device", "cpu", "--quiet"]
BERT = ["--layers", "1", "--hidden", "32", "--heads", "2", "--intermediate", "64", "--max-seq-len", "64",
        "--vocab-size", "400", "--steps", "4", "--batch-size", "7", "--dropout", "0", "--device", "cpu", "--quiet"]


def invoke(*args):
    return runner.invoke(app, [*map(str, args), "--threads", "1"])


def read_log(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_same_trajectory(a, b):
    assert [r["step"] for r in a] == [r["step"] for r in b] and [r["tokens"] for r in a] == [r["tokens"] for r in b]
    assert [r["lr"] for r in a] == [r["lr"] for r in b]
    torch.testing.assert_close(torch.tensor([r["loss"] for r in a]), torch.tensor([r["loss"] for r in b]),
                               rtol=1e-4, atol=0)


def assert_same_tensors(a_file, b_file, atol=1e-5):
    from safetensors.torch import load_file

    a, b = load_file(str(a_file)), load_file(str(b_file))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=atol, msg=k)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "facts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in qa_records(12, seed=1)), encoding="utf-8")
    return path


# sharding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows,world,accum", [(5, 2, 1), (5, 2, 2), (2, 2, 2), (7, 3, 2), (1, 2, 1), (8, 1, 3)])
def test_every_row_once_over_processes_and_micro_batches(rows, world, accum):
    taken = [r for rank in range(world) for part in distributed.micro_rows(rows, accum, world, rank) for r in part]
    assert sorted(taken) == list(range(rows))


def test_causal_lm_shares_sum_to_the_whole_batch_loss(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    from lorakit.lora.train import LengthGroupedBatches
    from lorakit.models.load import load_tokenizer
    from lorakit.models.encode import encode_example

    tok = load_tokenizer(tiny_llama_dir)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir))
    examples = [encode_example(tok, r["prompt"], r["completion"], 64) for r in qa_records(6, seed=2)]
    whole = LengthGroupedBatches(examples, 6, 0, tok.pad_token_id).collate(list(range(6)))
    with torch.no_grad():
        full = model(**whole).loss
        parts = sum(training.causal_lm_loss(model, training.take_rows(whole, rows), whole)
                    for rows in ([0, 3], [1, 4, 5], [2]))
    torch.testing.assert_close(parts, full, rtol=1e-5, atol=1e-6)


def test_bert_rows_keep_their_masked_positions():
    from lorakit.models.pretrain_bert import take_rows

    ids = torch.arange(12).reshape(3, 4)
    whole = {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": torch.ones_like(ids),
             "mlm_index": torch.tensor([1, 4, 6, 11]), "mlm_labels": torch.tensor([1, 4, 6, 11]),
             "next_sentence_label": torch.tensor([0, 1, 0])}
    part = take_rows(whole, [1, 2])
    assert part["mlm_labels"].tolist() == [4, 6, 11] and part["next_sentence_label"].tolist() == [1, 0]
    assert part["input_ids"].reshape(-1)[part["mlm_index"]].tolist() == [4, 6, 11]


# whole runs -------------------------------------------------------------------------------------


def test_train_lora_two_processes_equal_one_with_grad_accum(tiny_llama_dir, data, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    two = torchrun("train-lora", tiny_llama_dir, data, "--out", tmp_path / "two", "--epochs", "2", *LORA,
                   "--log-file", tmp_path / "two.log", "--json")
    assert two.returncode == 0, two.stderr[-3000:]
    summary = json.loads(two.stdout)  # rank 0 alone prints
    assert summary["processes"] == 2 and summary["steps"] == 6
    for name, accum in (("one", "2"), ("plain", "1")):
        result = invoke("train-lora", tiny_llama_dir, data, "--out", tmp_path / name, "--epochs", "2", *LORA,
                        "--log-file", tmp_path / f"{name}.log", "--grad-accum", accum)
        assert result.exit_code == 0, result.output
        assert_same_trajectory(read_log(tmp_path / f"{name}.log"), read_log(tmp_path / "two.log"))
        assert_same_tensors(tmp_path / name / "adapter_model.safetensors", tmp_path / "two" / "adapter_model.safetensors")
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "one.log", "plain", "plain.log", "two", "two.log"]
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), str(tmp_path / "two"))
    record = json.loads((tmp_path / "two" / "lorakit.json").read_text())
    assert record["result"]["processes"] == 2 and record["options"]["grad_accum"] == 1


def test_pretrain_bert_two_processes_equal_one(tmp_path):
    from transformers import AutoTokenizer, BertForPreTraining

    result = runner.invoke(app, ["gen-data", "faithfulness", "--lang", "pl", "--out", str(tmp_path / "faith"),
                                 "--corpus-mb", "0.03", "--test-size", "4"])
    assert result.exit_code == 0, result.output
    corpus = tmp_path / "faith" / "corpus.txt"
    two = torchrun("pretrain-bert", corpus, "--out", tmp_path / "two", *BERT, "--log-file", tmp_path / "two.log")
    assert two.returncode == 0, two.stderr[-3000:]
    result = invoke("pretrain-bert", corpus, "--out", tmp_path / "one", *BERT, "--log-file", tmp_path / "one.log",
                    "--grad-accum", "3")
    assert result.exit_code == 0, result.output
    assert_same_trajectory(read_log(tmp_path / "one.log"), read_log(tmp_path / "two.log"))
    assert_same_tensors(tmp_path / "one" / "model.safetensors", tmp_path / "two" / "model.safetensors")
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    BertForPreTraining.from_pretrained(str(tmp_path / "two"))
    AutoTokenizer.from_pretrained(str(tmp_path / "two"))


def test_ctrl_c_under_torchrun_checkpoints_and_resumes_with_one_process(tiny_llama_dir, data, tmp_path):
    out, log = tmp_path / "two", tmp_path / "two.log"
    common = ["--epochs", "16", *LORA]
    proc = subprocess.Popen(torchrun_cmd("train-lora", tiny_llama_dir, data, "--out", out, *common, "--log-file", log),
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if log.is_file() and len(log.read_text(encoding="utf-8").splitlines()) >= 2:
                break
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the launcher and both workers get it
        _, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and "--resume" in stderr and not out.exists()
    step = json.loads((checkpoints.checkpoint_path(out) / checkpoints.CHECKPOINT_META).read_text())["state"]["step"]
    assert 2 <= step < 48 and len(read_log(log)) == step  # both processes stopped after the same step

    result = invoke("train-lora", tiny_llama_dir, data, "--out", out, *common, "--log-file", log, "--resume",
                    "--grad-accum", "2")
    assert result.exit_code == 0, result.output
    assert not checkpoints.checkpoint_path(out).exists()
    result = invoke("train-lora", tiny_llama_dir, data, "--out", tmp_path / "one", *common, "--log-file", tmp_path / "one.log")
    assert result.exit_code == 0, result.output
    assert_same_trajectory(read_log(log), read_log(tmp_path / "one.log"))
    assert_same_tensors(out / "adapter_model.safetensors", tmp_path / "one" / "adapter_model.safetensors")


# options ----------------------------------------------------------------------------------------


def test_training_commands_offer_grad_accum_and_log_file():
    for cmd in ("train-lora", "pretrain-lm", "pretrain-bert"):
        result = runner.invoke(app, [cmd, "--help"])
        assert result.exit_code == 0 and "--grad-accum" in result.output and "--log-file" in result.output, cmd


def test_bad_grad_accum_and_stdin_under_a_launcher(tiny_llama_dir, data, tmp_path, monkeypatch):
    result = invoke("train-lora", tiny_llama_dir, data, "--out", tmp_path / "o", *LORA, "--grad-accum", "0")
    assert result.exit_code == 2 and "--grad-accum must be at least 1, not 0" in result.output
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = invoke("pretrain-lm", "-", "--out", tmp_path / "o", "--steps", "1", "--device", "cpu", "--quiet")
    assert result.exit_code == 2 and "cannot share stdin" in result.output
    assert not (tmp_path / "o").exists()


# sharded inference ------------------------------------------------------------------------------


def test_eval_two_processes_write_the_one_process_samples(tiny_llama_dir, tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_text("".join(json.dumps({**r, "split": "alpha"}) + "\n" for r in qa_records(21, seed=7)), encoding="utf-8")
    b = tmp_path / "b.jsonl"
    b.write_text("".join(json.dumps(r) + "\n" for r in qa_records(9, seed=8)), encoding="utf-8")
    args = ["eval", tiny_llama_dir, a, b, "--device", "cpu", "--max-new-tokens", "3", "--batch-size", "1", "--quiet"]
    two = torchrun(*args, "--out", tmp_path / "two", "--json")
    assert two.returncode == 0, two.stderr[-3000:]
    assert len(two.stdout.splitlines()) == 1  # rank 0 alone prints
    assert invoke(*args, "--out", tmp_path / "one").exit_code == 0
    assert (tmp_path / "two" / "samples.jsonl").read_bytes() == (tmp_path / "one" / "samples.jsonl").read_bytes()
    one, two_ = (json.loads((tmp_path / d / "results.json").read_text())["results"] for d in ("one", "two"))
    assert one == two_
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl", "one", "two"]
