"""lorakit pretrain-lm: happy paths, stdin, checkpoints / Ctrl-C / --resume, error paths."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lorakit import checkpoints, training
from lorakit.cli import app
from lorakit.data.faithfulness import FaithfulnessConfig, generate
from tests.helpers import corpus_lines, usage_error

runner = CliRunner()
FAST = ["--hidden", "32", "--layers", "1", "--heads", "2", "--batch-size", "4", "--block-size", "32",
        "--threads", "1", "--device", "cpu", "--quiet"]


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    """The default --cache-dir (the datasets cache) in a temporary folder, not ~/.cache."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets")
    return tmp_path / "hf-datasets"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(corpus_lines(60)) + "\n", encoding="utf-8")
    return path


def run(*args, input=None):
    return runner.invoke(app, ["pretrain-lm", *map(str, args)], input=input)


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_help():
    result = run("--help")
    assert result.exit_code == 0
    for option in ("--preset", "--steps", "--epochs", "--checkpoint-every", "--resume", "--tokenizer", "--cache-dir",
                   "--num-proc", "--tokenizer-sample"):
        assert option in result.output


def test_happy_path_files_and_loaders(corpus, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "base"
    result = run(corpus, "--out", out, "--steps", "6", "--vocab-size", "400", "--json", *FAST)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 6 and summary["tokens_per_second"] > 0
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "generation_config.json", "lorakit.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    assert not checkpoints.checkpoint_path(out).exists()
    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out))
    assert model.config.model_type == "llama" and model.config.vocab_size == len(tok) <= 400
    ids = tok("Q: Where does Tavi Monu live? A:", return_tensors="pt")["input_ids"]
    assert model(ids).logits.shape[-1] == len(tok)
    meta = json.loads((out / "lorakit.json").read_text())
    assert meta["command"] == "pretrain-lm" and meta["result"]["steps"] == 6
    assert meta["inputs"][0]["path"] == str(corpus)


def test_stdin_jsonl_with_tokenizer(tiny_tokenizer_dir, tmp_path):
    from transformers import AutoTokenizer

    text = "".join(json.dumps({"text": line}) + "\n" for line in corpus_lines(30))
    out = tmp_path / "base"
    result = run("-", "--out", out, "--tokenizer", tiny_tokenizer_dir, "--epochs", "1", *FAST, input=text)
    assert result.exit_code == 0, result.output
    assert len(AutoTokenizer.from_pretrained(str(out))) == len(AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir)))


def test_interrupt_then_resume_equals_uninterrupted(corpus, tiny_tokenizer_dir, tmp_path, monkeypatch):
    common = [corpus, "--tokenizer", tiny_tokenizer_dir, "--steps", "8", "--checkpoint-every", "3", *FAST]
    assert run(*common, "--out", tmp_path / "a").exit_code == 0

    real, calls = training.train_step, []

    def interrupt_at_6(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", interrupt_at_6)
    out = tmp_path / "b"
    result = run(*common, "--out", out)
    assert result.exit_code == 130
    assert "--resume" in result.output and "b.ckpt" in result.output and "step 5/8" in result.output
    ckpt = checkpoints.checkpoint_path(out)
    assert sorted(p.name for p in ckpt.iterdir()) == ["state.safetensors", "tokenizer", "trainer.json"]
    assert not out.exists()
    monkeypatch.setattr(training, "train_step", real)

    # without --resume the checkpoint is protected; with other options it is refused
    result = run(*common, "--out", out)
    assert result.exit_code == 4 and "--resume" in result.output
    result = run(*[a if a != "8" else "9" for a in common], "--out", out, "--resume")
    assert result.exit_code == 6 and "steps" in result.output

    result = run(*common, "--out", out, "--resume", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["resumed_from"] == 5
    assert not ckpt.exists()
    a, b = weights(tmp_path / "a"), weights(out)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].equal(b[k]), k


def test_first_losses_pinned(corpus, tiny_tokenizer_dir, tmp_path):
    import torch

    from lorakit.models.pretrain_lm import PretrainConfig, pretrain

    losses = []
    cfg = PretrainConfig(corpus=str(corpus), out=tmp_path / "m", tokenizer=tiny_tokenizer_dir, steps=4, hidden=32,
                         layers=1, heads=2, batch_size=4, block_size=32, device="cpu", seed=0)
    pretrain(cfg, lambda ev: losses.append(ev.metrics["loss"]))
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(PINNED_LOSSES), rtol=1e-4, atol=1e-4)


PINNED_LOSSES = [6.2423, 6.2481, 6.2202, 6.2126]  # seed 0, CPU fp32; step 0 has lr 0 (warmup)


def test_existing_out_refused(corpus, tmp_path):
    out = tmp_path / "base"
    out.mkdir()
    result = run(corpus, "--out", out, *FAST)
    assert result.exit_code == 4 and "--force" in result.output


def test_missing_corpus(tmp_path):
    result = run(tmp_path / "nope.txt", "--out", tmp_path / "o", *FAST)
    assert result.exit_code == 3 and "nope.txt: no such file" in result.output


def test_malformed_jsonl(tmp_path):
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"text": "a b c"}\n{"text": 3}\n', encoding="utf-8")
    result = run(bad, "--out", tmp_path / "o", *FAST)
    assert result.exit_code == 3 and f"{bad}:2:" in result.output
    assert not (tmp_path / "o").exists()
    bad.write_text('{"text": "a b c"}\n' * 2500 + "not json\n", encoding="utf-8")  # tokenised by 2 processes
    result = run(bad, "--out", tmp_path / "o", "--num-proc", "2", *FAST)
    assert result.exit_code == 3 and result.output.strip() == f"error: {bad}:2501: invalid JSON (Expecting value)"
    assert not (tmp_path / "o").exists()


def test_bad_options(corpus, tmp_path):
    result = run(corpus, "--out", tmp_path / "o", "--preset", "huge", *FAST)
    assert result.exit_code == 2 and "'huge' is not one of 'tiny', 'small'" in usage_error(result)
    result = run(corpus, "--out", tmp_path / "o", "--lr", "-1", *FAST)
    assert result.exit_code == 2 and "--lr" in result.output
    result = run(corpus, "--out", tmp_path / "o", "--num-proc", "0", "--tokenizer-sample", "0", *FAST)
    assert result.exit_code == 2 and "--num-proc must be at least 1" in result.output
    assert "--tokenizer-sample must be positive" in result.output
    result = run(corpus, "--out", tmp_path / "o", "--hidden", "30", "--heads", "4")
    assert result.exit_code == 2 and "multiple of heads" in result.output


def test_missing_tokenizer(corpus, tmp_path):
    result = run(corpus, "--out", tmp_path / "o", "--tokenizer", tmp_path / "nope", *FAST)
    assert result.exit_code == 3 and "no such tokenizer folder" in result.output


def test_cache_dir_datasets_folder_and_num_proc(corpus, tmp_path, datasets_cache):
    """A datasets folder trains like the same text file; --cache-dir holds the Arrow files; --num-proc
    and --cache-dir do not change the weights (nor a checkpoint's fingerprint)."""
    import datasets

    lines = corpus.read_text(encoding="utf-8").splitlines()
    datasets.Dataset.from_dict({"text": lines}).save_to_disk(str(tmp_path / "ds"))
    common = ["--steps", "3", "--vocab-size", "400", *FAST]
    assert run(corpus, "--out", tmp_path / "a", *common).exit_code == 0
    assert any(datasets_cache.iterdir())  # default: the datasets cache
    result = run(corpus, "--out", tmp_path / "b", "--cache-dir", tmp_path / "cache", "--num-proc", "2", *common)
    assert result.exit_code == 0, result.output
    assert any(p.suffix == ".arrow" for p in (tmp_path / "cache").rglob("*"))
    assert run(tmp_path / "ds", "--out", tmp_path / "c", *common).exit_code == 0
    a, b, c = weights(tmp_path / "a"), weights(tmp_path / "b"), weights(tmp_path / "c")
    for k in a:
        assert a[k].equal(b[k]) and a[k].equal(c[k]), k


def test_tokenizer_sample_bounds_the_tokenizer_corpus(corpus, tmp_path):
    from transformers import AutoTokenizer

    common = ["--steps", "1", "--vocab-size", "400", *FAST]
    assert run(corpus, "--out", tmp_path / "all", *common).exit_code == 0
    assert run(corpus, "--out", tmp_path / "some", "--tokenizer-sample", "0.0005", *common).exit_code == 0
    whole, sample = (AutoTokenizer.from_pretrained(str(tmp_path / n)) for n in ("all", "some"))
    assert sample.get_vocab() != whole.get_vocab()  # trained on ~10 of the 60 lines
    meta = json.loads((tmp_path / "some" / "lorakit.json").read_text())
    assert meta["options"]["tokenizer_sample"] == 0.0005


NO_NETWORK = """
import json, socket, sys

calls = []
def refuse(*args, **kwargs):
    calls.append(repr(args[:2]))
    raise OSError("network call in a test")
socket.getaddrinfo = socket.create_connection = socket.socket.connect = socket.socket.connect_ex = refuse
try:
    socket.create_connection(("example.org", 80))
except OSError:
    pass
guard_works, calls[:] = len(calls) == 1, []

from typer.testing import CliRunner
from lorakit.cli import app
from lorakit.models.corpus import open_corpus

folder, lm_args, bert_args = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
codes = [CliRunner().invoke(app, args).exit_code for args in (lm_args, bert_args)]
import datasets
datasets.Dataset.from_dict({"text": ["a b c", "d e f"]}).save_to_disk(folder)
print(json.dumps({"guard_works": guard_works, "codes": codes, "rows": len(open_corpus(folder)), "calls": calls}))
"""


def test_local_corpora_make_no_network_call(corpus, tmp_path):
    """With HF_*_OFFLINE unset (from the interpreter's start: datasets reads them on import) and every
    socket connection refused, pretrain-lm on a text file, pretrain-bert on JSONL and a datasets folder
    read without a connection attempt (datasets.load_dataset pinged the hub for its "text" builder)."""
    import os
    import subprocess
    import sys

    docs = generate(FaithfulnessConfig(lang="pl", corpus_mb=0.01, test_size=5))["corpus.txt"].splitlines()
    (tmp_path / "bert.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs), encoding="utf-8")
    lm = ["pretrain-lm", str(corpus), "--out", str(tmp_path / "lm"), "--steps", "1", "--vocab-size", "400", *FAST]
    bert = ["pretrain-bert", str(tmp_path / "bert.jsonl"), "--out", str(tmp_path / "bert"), "--steps", "1",
            "--layers", "1", "--hidden", "32", "--heads", "2", "--intermediate", "64", "--vocab-size", "400",
            "--batch-size", "4", "--threads", "1", "--device", "cpu", "--quiet"]
    env = {k: v for k, v in os.environ.items() if not (k.startswith("HF_") and k.endswith("_OFFLINE"))}
    env.update(HF_HOME=str(tmp_path / "hf"), OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([sys.executable, "-c", NO_NETWORK, str(tmp_path / "ds"), json.dumps(lm), json.dumps(bert)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"guard_works": True, "codes": [0, 0], "rows": 2, "calls": []}
