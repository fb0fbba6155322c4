"""pretrain-bert vs Hugging Face Trainer + DataCollatorForLanguageModeling: same model, same data.

Both sides: a 4-layer BertForPreTraining (hidden 128, intermediate 512) from the same config,
MLM + NSP on the same sentence pairs (lorakit's document-aware pairs, built once), the same
tokenizer, batch size, steps, lr, warmup and clipping, fp32 on the CPU with the same thread
count. Both sides are timed end to end, corpus file to saved model: tokenizer training, pair
construction (the Trainer side reuses lorakit's pairs and tokenizer code), training and save; the
training loops alone are timed too (``Trainer.train`` vs lorakit's fit).

``--corpus synthetic`` (the default) generates a corpus with a realistic lexicon: ~30k
pseudo-words built from syllables and inflection-like endings, Zipf-distributed, sentences of
8-25 words, documents of 3-8 sentences, ``--corpus-mb`` MB (default 2), seeded; it supports a
realistic ``--vocab-size`` (default 8000). That matters because pretrain-bert runs the MLM head
only at the masked positions, which saves work in proportion to the vocabulary.
``--corpus faithfulness`` uses a ``gen-data faithfulness`` corpus (default 0.5 MB, vocabulary
450): its templates support only ~500 pieces, so the head is cheap and the arms run close.

To be robust to load from other processes the arms alternate (lorakit, Trainer, lorakit, Trainer
for ``--repeats 2``) and each arm's BEST (shortest) time counts, end to end and loop alone
(load only ever adds time); every run gets a fresh corpus cache (``--cache-dir``), so none reuses
another's Arrow files or token ids. Throughput = sequences/s; the last line is the end-to-end ratio.

    .venv/bin/python bench/pretrain_bert.py [--corpus synthetic|faithfulness] [--vocab-size 8000]
        [--corpus-mb 2] [--steps 60] [--batch-size 32] [--threads 1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import importlib
import dataclasses
import itertools
import os
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

LR, WARMUP = 1e-3, 0.05


def synthetic_corpus(mb: float, seed: int = 0, types: int = 30_000) -> str:
    """Documents, one a line, of pseudo-words (syllables + endings) drawn from a Zipf (s = 1) lexicon."""
    rng = random.Random(seed)
    onsets = ["", "b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "kr", "l", "m", "n", "p", "pr",
              "r", "s", "sz", "st", "t", "tr", "w", "z"]
    syllables = [o + v + c for o in onsets for v in "aeiouy" for c in ("", "", "n", "r", "s", "k")]
    endings = ["", "", "", "a", "e", "i", "y", "em", "ami", "ach", "ow", "om", "ego", "emu", "ie", "ą", "ę"]
    lexicon: dict[str, None] = {}
    while len(lexicon) < types:
        stem = "".join(rng.choices(syllables, k=rng.choice((1, 2, 2, 3, 3, 4))))
        lexicon[stem + rng.choice(endings)] = None
    words = list(lexicon)
    rng.shuffle(words)
    zipf = list(itertools.accumulate(1 / rank for rank in range(1, types + 1)))
    docs, size = [], 0
    while size < mb * 1e6:
        sents = [" ".join(rng.choices(words, cum_weights=zipf, k=rng.randint(8, 25))).capitalize()
                 + rng.choice(".....?!") for _ in range(rng.randint(3, 8))]
        docs.append(" ".join(sents))
        size += len(docs[-1].encode()) + 1
    return "\n".join(docs) + "\n"


def corpus(folder: Path, kind: str, lang: str, mb: float) -> Path:
    from lorakit.data.faithfulness import FaithfulnessConfig, generate

    path = folder / "corpus.txt"
    text = synthetic_corpus(mb) if kind == "synthetic" else \
        generate(FaithfulnessConfig(lang=lang, corpus_mb=mb, test_size=10))["corpus.txt"]
    path.write_text(text, encoding="utf-8")
    return path


def run_lorakit(cfg) -> tuple[float, float]:
    """(end-to-end seconds, seconds in the training loop)."""
    from lorakit.models.pretrain_bert import pretrain_bert

    t = time.perf_counter()
    result = pretrain_bert(cfg)
    return time.perf_counter() - t, result.fit.seconds


def hf_features(cfg) -> tuple[object, list[dict[str, list[int] | int]]]:
    """The tokenizer and the first ``steps × batch`` pairs lorakit trains on (its own data code), as HF features."""
    from lorakit.models.pretrain_bert import load_data, word_starts
    from lorakit.models.bert_pairs import Batches, read_pair

    tok, store, _ = load_data(cfg, None)
    batches, need, pairs = Batches(store, cfg, tok, word_starts(tok)), cfg.steps * cfg.batch_size, []
    for epoch in itertools.count():
        plan = batches.plan(epoch)
        pairs += [read_pair(store, row, cfg.max_seq_len - 3, cfg.pairs) for _, rows in plan for row in rows]
        if len(pairs) >= need:
            break
    feats = [{"input_ids": [tok.cls_token_id, *a, tok.sep_token_id, *b, tok.sep_token_id],
              "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1), "next_sentence_label": label}
             for a, b, label in pairs[:need]]
    return tok, feats


def run_trainer(cfg, out: Path) -> tuple[float, float, int]:
    """(end-to-end seconds, seconds in ``Trainer.train``, vocabulary size)."""
    import torch
    from transformers import BertForPreTraining, DataCollatorForLanguageModeling, Trainer, TrainingArguments

    from lorakit.models.pretrain_bert import bert_config

    t = time.perf_counter()
    tok, feats = hf_features(cfg)
    torch.manual_seed(cfg.seed)
    model = BertForPreTraining(bert_config(cfg, tok))
    args = TrainingArguments(output_dir=str(out), per_device_train_batch_size=cfg.batch_size, max_steps=cfg.steps,
                             learning_rate=cfg.lr, warmup_steps=cfg.warmup, weight_decay=cfg.weight_decay,
                             max_grad_norm=cfg.clip, lr_scheduler_type="cosine", logging_strategy="no",
                             save_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True,
                             dataloader_num_workers=0, seed=cfg.seed)
    collator = DataCollatorForLanguageModeling(tok, mlm=True, mlm_probability=cfg.mask_prob)
    loop = Trainer(model=model, args=args, train_dataset=feats, data_collator=collator).train().metrics["train_runtime"]
    model.save_pretrained(str(out / "model"))
    return time.perf_counter() - t, float(loop), len(tok)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=("synthetic", "faithfulness"), default="synthetic")
    ap.add_argument("--vocab-size", type=int, default=None, help="default: 8000 synthetic, 450 faithfulness")
    ap.add_argument("--corpus-mb", type=float, default=None, help="default: 2 synthetic, 0.5 faithfulness")
    ap.add_argument("--lang", default="pl", help="faithfulness corpus language")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2, help="runs of each arm, alternating; the best counts")
    a = ap.parse_args()
    synthetic = a.corpus == "synthetic"
    vocab_size = a.vocab_size or (8000 if synthetic else 450)
    mb = a.corpus_mb or (2.0 if synthetic else 0.5)

    import torch

    from lorakit.models.pretrain_bert import BertPretrainConfig
    from lorakit.runtime import quiet_libraries

    for module in ("transformers.trainer", "lorakit.models.pretrain_bert"):  # imported before any timing: neither arm pays them
        importlib.import_module(module)

    torch.set_num_threads(a.threads)
    quiet_libraries()
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = corpus(tmp, a.corpus, a.lang, mb)
        cfg = BertPretrainConfig(corpus=str(path), out=tmp / "lorakit", vocab_size=vocab_size,
                                 layers=4, hidden=128, heads=4, intermediate=512, objective="mlm+nsp", max_seq_len=128,
                                 steps=a.steps, batch_size=a.batch_size, lr=LR, warmup=WARMUP, checkpoint_every=0,
                                 device="cpu", seed=0)
        cfg.validate()
        lk, hf = [], []
        for i in range(a.repeats):  # alternate: lorakit, Trainer, lorakit, Trainer, ...
            lk.append(run_lorakit(dataclasses.replace(cfg, out=tmp / f"lorakit{i}", cache_dir=tmp / f"cache-lk{i}")))
            hf.append(run_trainer(dataclasses.replace(cfg, cache_dir=tmp / f"cache-hf{i}"), tmp / f"hf{i}"))
    t_lk, loop_lk = min(t for t, _ in lk), min(loop for _, loop in lk)
    t_hf, loop_hf = min(t for t, _, _ in hf), min(loop for _, loop, _ in hf)
    seqs = a.steps * a.batch_size
    print(f"{a.corpus} corpus {mb:g} MB, {a.steps} steps x {a.batch_size} sequences (max {cfg.max_seq_len} tokens), "
          f"{a.threads} thread(s), vocab {hf[0][2]}, best of {a.repeats} alternating runs each")
    print("runs (end to end s): lorakit " + ", ".join(f"{t:.1f}" for t, _ in lk)
          + "; Trainer " + ", ".join(f"{t:.1f}" for t, _, _ in hf))
    print(f"HF Trainer + DataCollatorForLanguageModeling: {seqs / t_hf:8.1f} sequences/s ({t_hf:.1f} s)")
    print(f"lorakit pretrain-bert                        : {seqs / t_lk:8.1f} sequences/s ({t_lk:.1f} s)")
    print(f"training loops only: Trainer.train {loop_hf:.1f} s, lorakit fit {loop_lk:.1f} s ({loop_hf / loop_lk:.2f}x)")
    print(f"ratio (lorakit / Trainer): {t_hf / t_lk:.2f}x")


if __name__ == "__main__":
    main()
