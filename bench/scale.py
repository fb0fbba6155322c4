"""train-lora with 1 and with 2 processes (torchrun, gloo on CPU); pretrain-lm's memory, corpus streamed vs whole.

The same tiny Llama and varied-length QA records as bench/train_lora.py. Two baselines in one
process: one thread, and every core (the default); each of the two processes gets half of the
cores (the default under a launcher), so the machine is used the same. Throughput is the run's own tokens/s (non-pad tokens over the time in training steps, from
``--json``); the wall time also counts start-up (two processes import torch twice). The last line
is the ratio 2 processes / 1 process (with all cores). On a machine other jobs share, threads
suffer most from contention: run it when the machine is quiet (``uptime``).

Memory: ``pretrain-lm`` (tiny model, a few steps, a word-level tokenizer so tokenising is fast)
on a generated corpus of ``--corpus-mb`` MB, once streaming it (``lorakit.models.corpus``: memory-
mapped Arrow, token ids cached on disk) and once loading it whole as ``pretrain-lm`` did before
(``read_corpus`` + token ids as Python lists: ``whole_corpus_data`` below, swapped in for
``load_data``). Each run's peak private memory (``RssAnon``) and peak RSS (``VmHWM``, which also
counts the memory-mapped files' page cache) are sampled from /proc. The very last line is the
ratio of peak RSS, whole / streamed.

    .venv/bin/python bench/scale.py [--records 256] [--epochs 2] [--batch-size 32] [--hidden 128] [--layers 4]
                                    [--corpus-mb 300] [--skip-processes]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from train_lora import build_base, varied_records  # noqa: E402


def train(nproc: int, base: Path, data: Path, out: Path, a: argparse.Namespace, threads: int | None = None) -> tuple[dict, float]:
    args = ["train-lora", str(base), str(data), "--out", str(out), "--epochs", str(a.epochs), "--batch-size",
            str(a.batch_size), "--rank", str(a.rank), "--device", "cpu", "--json", "--quiet"]
    args += [] if threads is None else ["--threads", str(threads)]
    launch = [sys.executable, "-m", "lorakit"] if nproc == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), "-m", "lorakit"]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    env.pop("OMP_NUM_THREADS", None)  # lorakit splits the cores between the processes of one machine
    t0 = time.perf_counter()
    done = subprocess.run(launch + args, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"{nproc} process(es) failed:\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.splitlines()[-1])
    print(f"{nproc} process(es), threads {threads or 'default'}: {summary['steps']} steps, {summary['tokens']:,} tokens, final loss "
          f"{summary['final_loss']:.4f}, {summary['seconds']:.2f} s in steps, {wall:.1f} s wall", file=sys.stderr)
    return summary, wall


# memory: streamed vs whole -------------------------------------------------------------------------


def whole_corpus_data(cfg: Any, ckpt: Path | None) -> tuple[Any, Any, dict[str, Any]]:
    """``pretrain-lm``'s data before streaming: every document, and its token ids, as Python lists."""
    import numpy as np

    from lorakit import training
    from lorakit.models.corpus import TokenStore
    from lorakit.models.pretrain_lm import _tokenizer, read_corpus

    class ListStore(TokenStore):
        def __init__(self, docs: list[list[int]]) -> None:
            self.docs, self.lengths = docs, np.array([len(d) for d in docs], dtype=np.int32)

        def tokens(self, doc: int, start: int, end: int) -> Any:
            return np.asarray(self.docs[doc][start:end])

    docs = read_corpus(cfg.corpus)
    tok = _tokenizer(cfg, docs, ckpt)
    encoded = [ids + [tok.eos_token_id] for ids in tok(docs, add_special_tokens=True)["input_ids"]]
    return tok, ListStore(encoded), {"data_sha256": training.data_sha256(docs)}


def pretrain_child(mode: str, corpus: str, tokenizer: str, out: str) -> None:
    """One ``pretrain-lm`` run in this process (``--child``): the corpus streamed, or loaded whole."""
    from lorakit.models import pretrain_lm as pretrain
    from lorakit.runtime import quiet_libraries, set_threads

    quiet_libraries()
    set_threads(1)
    if mode == "whole":
        pretrain.load_data = whole_corpus_data
    cfg = pretrain.PretrainConfig(corpus=corpus, out=Path(out), tokenizer=Path(tokenizer), steps=3, hidden=32,
                                  layers=1, heads=2, batch_size=4, block_size=64, device="cpu",
                                  cache_dir=Path(out).parent / "cache")
    print(json.dumps(pretrain.pretrain(cfg).summary()))


def memory(tmp: Path, megabytes: int) -> tuple[float, int, int]:
    """The corpus's size and the peak RSS (MB) of pretrain-lm on it: streamed, loaded whole."""
    from tests.cli.test_pretrain_lm_stream import peak_memory, word_corpus

    tok, corpus = word_corpus(tmp, megabytes)
    size = corpus.stat().st_size / 1e6
    peaks = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    for mode in ("stream", "whole"):
        cmd = [sys.executable, __file__, "--child", mode, str(corpus), str(tok), str(tmp / f"pretrain-{mode}")]
        t0 = time.perf_counter()
        done, anon, rss = peak_memory(cmd, env)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            sys.exit(f"pretrain-lm, corpus {mode}, failed:\n{done.stderr[-3000:]}")
        summary = json.loads(done.stdout.splitlines()[-1])
        peaks[mode] = rss
        print(f"pretrain-lm, corpus {mode:6s} ({size:,.0f} MB, {summary['steps']} steps): peak RSS {rss:,} MB, "
              f"private {anon:,} MB, {wall:.0f} s wall", file=sys.stderr)
    return size, peaks["stream"], peaks["whole"]


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        return pretrain_child(*sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--corpus-mb", type=int, default=300, help="corpus size for the memory comparison (0: skip it)")
    p.add_argument("--skip-processes", action="store_true", help="only the memory comparison")
    a = p.parse_args()

    from lorakit.runtime import quiet_libraries

    quiet_libraries()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if not a.skip_processes:
            processes(tmp, a, cores)
        if a.corpus_mb > 0:
            size, stream, whole = memory(tmp, a.corpus_mb)
            print(f"pretrain-lm on a {size:,.0f} MB corpus: peak RSS streamed {stream:,} MB, loaded whole {whole:,} MB")
            print(f"ratio peak RSS loaded whole / streamed: {whole / stream:.2f}x")


def processes(tmp: Path, a: argparse.Namespace, cores: int) -> None:
    """train-lora with 1 process (1 thread, all cores) and 2 processes; prints the tokens/s ratios."""
    base = build_base(tmp, a.hidden, a.layers)
    data = tmp / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in varied_records(a.records)), encoding="utf-8")
    single, wall0 = train(1, base, data, tmp / "single", a, threads=1)
    one, wall1 = train(1, base, data, tmp / "one", a)
    two, wall2 = train(2, base, data, tmp / "two", a)
    assert one["steps"] == two["steps"] == single["steps"] and one["tokens"] == two["tokens"]
    print(f"machine: {cores} cores, load average {os.getloadavg()[0]:.1f}; {one['steps']} steps of {a.batch_size} "
          f"examples, {one['tokens']:,} tokens")
    print(f"final loss: 1 process {one['final_loss']:.5f}, 2 processes {two['final_loss']:.5f}")
    print(f"1 process, 1 thread:       {single['tokens_per_second']:,.0f} tokens/s ({wall0:.1f} s wall)")
    print(f"1 process, {cores} threads:      {one['tokens_per_second']:,.0f} tokens/s ({wall1:.1f} s wall)")
    print(f"2 processes, {max(1, cores // 2)} thread(s) each: {two['tokens_per_second']:,.0f} tokens/s ({wall2:.1f} s wall)")
    print(f"ratio 2 processes / 1 process with 1 thread: {two['tokens_per_second'] / single['tokens_per_second']:.2f}x tokens/s")
    print(f"ratio 2 processes / 1 process with {cores} threads: {two['tokens_per_second'] / one['tokens_per_second']:.2f}x "
          f"tokens/s, {wall1 / wall2:.2f}x wall")


if __name__ == "__main__":
    main()
