"""pretrain-lm (and pretrain-bert) on a corpus much larger than a memory ceiling: the corpus streams, memory stays bounded.

A 150 MB generated corpus of long documents, a word-level tokenizer (so tokenising 150 MB takes
seconds on two cores, not minutes) and a tiny model for a few steps, run twice: on the first
megabyte of the corpus (the floor: Python, torch, transformers, datasets) and on all of it. The
run's peak private memory (``RssAnon`` from /proc, sampled) may exceed the floor's by at most
CEILING_MB, a sixth of the corpus: loading the corpus whole (the old path, ``bench/scale.py``)
needs the text several times over. The memory-mapped Arrow files' pages are page cache the kernel
reclaims (``RssFile``, counted in ``VmHWM`` / ``ru_maxrss``), so they are not bounded here.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

CORPUS_MB = 150
CEILING_MB = 25
"""Peak private memory over the 1 MB run's (measured: ~6 MB over a ~325 MB floor)."""
BERT_CORPUS_MB = 12


def word_tokenizer(folder: Path, words: list[str]) -> None:
    """An HF tokenizer folder: one token per word (whitespace split), BOS added, pad/unk/bos/eos set."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<pad>", "<unk>", "<s>", "</s>", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 2)])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", bos_token="<s>",
                                  eos_token="</s>")
    tok.save_pretrained(str(folder))


def write_corpus(path: Path, words: list[str], megabytes: int, words_per_doc: int = 100) -> None:
    rng = random.Random(0)
    docs = [" ".join(rng.choices(words, k=words_per_doc)) for _ in range(500)]
    with path.open("w", encoding="utf-8") as f:
        written = 0
        while written < megabytes * 1_000_000:
            chunk = "\n".join(rng.choices(docs, k=1000)) + "\n"
            f.write(chunk)
            written += len(chunk)


def word_corpus(folder: Path, megabytes: int) -> tuple[Path, Path]:
    """A word-level tokenizer folder and a generated corpus of ``megabytes`` MB (a bit more) in ``folder``."""
    rng = random.Random(1)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(12, 30))) for _ in range(60)]
    word_tokenizer(folder / "tok", words)
    write_corpus(folder / "corpus.txt", words, megabytes)
    return folder / "tok", folder / "corpus.txt"


def peak_memory(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, int, int]:
    """Run ``cmd``; its peak private memory (``RssAnon``) and peak RSS (``VmHWM``), in MB, sampled every 20 ms."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"RssAnon": 0, "VmHWM": 0}
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                key = line.split(":")[0]
                if key in peak:
                    peak[key] = max(peak[key], int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.02)
    out, err = proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), peak["RssAnon"] // 1024, peak["VmHWM"] // 1024


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_streams_a_corpus_larger_than_the_ceiling(tmp_path):
    tok, corpus = word_corpus(tmp_path, CORPUS_MB)
    size_mb = corpus.stat().st_size / 1e6
    small = tmp_path / "small.txt"
    with corpus.open("rb") as f:
        small.write_bytes(f.read(1_000_000).rsplit(b"\n", 1)[0] + b"\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}

    def run(path: Path, out: str) -> tuple[int, int, float]:
        cmd = [sys.executable, "-m", "lorakit", "pretrain-lm", str(path), "--out", str(tmp_path / out), "--tokenizer",
               str(tok), "--cache-dir", str(tmp_path / "cache"), "--steps", "3", "--hidden", "32",
               "--layers", "1", "--heads", "2", "--batch-size", "4", "--block-size", "64", "--threads", "1",
               "--device", "cpu", "--json", "--quiet"]
        t0 = time.perf_counter()
        done, anon, rss = peak_memory(cmd, env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout)["steps"] == 3
        return anon, rss, time.perf_counter() - t0

    floor, _, _ = run(small, "small")
    anon, rss, wall = run(corpus, "big")
    print(f"corpus {size_mb:.0f} MB: peak RssAnon {anon} MB (1 MB corpus: {floor} MB), peak RSS (VmHWM) {rss} MB, "
          f"{wall:.0f} s")
    assert size_mb > CORPUS_MB * 0.99
    assert anon - floor < CEILING_MB, f"peak private memory {anon} MB, {anon - floor} MB over the 1 MB run's"


def test_two_processes_share_the_cache_and_equal_one(tmp_path):
    """Under torchrun rank 0 fills --cache-dir first, the other rank reads it; the run equals one process."""
    import torch.distributed

    from tests.helpers import corpus_lines
    from tests.test_distributed import assert_same_tensors, assert_same_trajectory, invoke, read_log, torchrun

    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("needs torch.distributed with gloo")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(corpus_lines(120)) + "\n", encoding="utf-8")
    common = [corpus, "--steps", "4", "--vocab-size", "400", "--hidden", "32", "--layers", "1", "--heads", "2",
              "--batch-size", "6", "--block-size", "32", "--device", "cpu", "--quiet",
              "--cache-dir", tmp_path / "cache"]
    two = torchrun("pretrain-lm", *common, "--out", tmp_path / "two", "--log-file", tmp_path / "two.log")
    assert two.returncode == 0, two.stderr[-3000:]
    result = invoke("pretrain-lm", *common, "--out", tmp_path / "one", "--log-file", tmp_path / "one.log",
                    "--grad-accum", "2")
    assert result.exit_code == 0, result.output
    assert_same_trajectory(read_log(tmp_path / "one.log"), read_log(tmp_path / "two.log"))
    assert_same_tensors(tmp_path / "one" / "model.safetensors", tmp_path / "two" / "model.safetensors")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_pretrain_bert_streams_its_corpus_too(tmp_path):
    """pretrain-bert: documents, sentence pairs and masks read on demand; private memory as bounded.

    A smaller corpus (BERT_CORPUS_MB) than pretrain-lm's, since the unigram tokenizer trained here
    tokenises ~1 MB/s on this machine; loading it whole (the old path) took ~10x its size.
    """
    rng = random.Random(2)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9))) for _ in range(300)]
    docs = [" ".join(" ".join(rng.choices(words, k=rng.randint(8, 15))) + "." for _ in range(rng.randint(2, 6)))
            for _ in range(500)]
    corpus, small = tmp_path / "corpus.txt", tmp_path / "small.txt"
    with corpus.open("w", encoding="utf-8") as f:
        while f.tell() < BERT_CORPUS_MB * 1_000_000:
            f.write("\n".join(rng.choices(docs, k=1000)) + "\n")
    small.write_text("\n".join(docs[:300]) + "\n", encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}

    def run(path: Path, out: str) -> int:
        cmd = [sys.executable, "-m", "lorakit", "pretrain-bert", str(path), "--out", str(tmp_path / out),
               "--cache-dir", str(tmp_path / "cache"), "--tokenizer-sample", "0.1", "--vocab-size", "400",
               "--steps", "3", "--hidden", "32", "--layers", "1", "--heads", "2", "--intermediate", "64",
               "--batch-size", "4", "--num-proc", "2", "--threads", "1", "--device", "cpu", "--json", "--quiet"]
        done, anon, _ = peak_memory(cmd, env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout)["steps"] == 3
        return anon

    floor, anon = run(small, "small"), run(corpus, "big")
    print(f"pretrain-bert, corpus {BERT_CORPUS_MB} MB: peak RssAnon {anon} MB (small corpus: {floor} MB)")
    assert anon - floor < CEILING_MB, f"peak private memory {anon} MB, {anon - floor} MB over the small run's"
