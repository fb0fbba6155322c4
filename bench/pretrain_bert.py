"""pretrain-bert vs Hugging Face Trainer + DataCollatorForLanguageModeling: same model, same data.

Both sides: a 4-layer BertForPreTraining (hidden 128, intermediate 512) from the same config,
MLM + NSP on the same sentence pairs (lorakit's document-aware pairs of a ``gen-data
faithfulness`` corpus, built once), the same batch size, steps, lr, warmup and clipping, fp32 on
the CPU with the same thread count. Both sides are timed end to end, corpus file to saved model:
tokenizer training, pair construction (the Trainer side reuses lorakit's pairs and tokenizer
code), training and save. Throughput = sequences/s; the last line is the ratio.

    .venv/bin/python bench/pretrain_bert.py [--steps 60] [--batch-size 32] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

LR, WARMUP = 1e-3, 0.05


def corpus(folder: Path, lang: str, mb: float) -> Path:
    from lorakit.data.faithfulness import FaithfulnessConfig, generate

    path = folder / "corpus.txt"
    path.write_text(generate(FaithfulnessConfig(lang=lang, corpus_mb=mb, test_size=10))["corpus.txt"], encoding="utf-8")
    return path


def run_lorakit(cfg) -> tuple[float, float]:
    """(end-to-end seconds, seconds in the training loop)."""
    from lorakit.models.bert import pretrain_bert

    t = time.perf_counter()
    result = pretrain_bert(cfg)
    return time.perf_counter() - t, result.fit.seconds


def hf_features(cfg) -> tuple[object, list[dict[str, list[int] | int]]]:
    """The tokenizer and the first ``steps × batch`` pairs lorakit trains on, as HF features."""
    import random

    from lorakit.models.bert import bert_tokenizer, make_pairs, read_documents, sentences

    docs = read_documents(cfg.corpus)
    tok = bert_tokenizer(docs, cfg.vocab_size)
    encoded = [[s for s in tok(sentences(d), add_special_tokens=False)["input_ids"] if s] for d in docs]
    pairs = make_pairs([d for d in encoded if d], cfg.max_seq_len - 3, cfg.pairs, random.Random(cfg.seed))
    need = cfg.steps * cfg.batch_size
    pairs = (pairs * (need // len(pairs) + 1))[:need]
    feats = [{"input_ids": [tok.cls_token_id, *a, tok.sep_token_id, *b, tok.sep_token_id],
              "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1), "next_sentence_label": label}
             for a, b, label in pairs]
    return tok, feats


def run_trainer(cfg, out: Path) -> tuple[float, float, int]:
    """(end-to-end seconds, seconds in ``Trainer.train``, vocabulary size)."""
    import torch
    from transformers import BertForPreTraining, DataCollatorForLanguageModeling, Trainer, TrainingArguments

    from lorakit.models.bert import bert_config

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
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lang", default="pl")
    ap.add_argument("--corpus-mb", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    import torch

    from lorakit.models.bert import BertPretrainConfig
    from lorakit.runtime import quiet_libraries

    torch.set_num_threads(a.threads)
    quiet_libraries()
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = BertPretrainConfig(corpus=str(corpus(tmp, a.lang, a.corpus_mb)), out=tmp / "lorakit", vocab_size=450,
                                 layers=4, hidden=128, heads=4, intermediate=512, objective="mlm+nsp", max_seq_len=128,
                                 steps=a.steps, batch_size=a.batch_size, lr=LR, warmup=WARMUP, checkpoint_every=0,
                                 device="cpu", seed=0)
        cfg.validate()
        t_hf, loop_hf, vocab = run_trainer(cfg, tmp / "hf")
        t_lk, loop_lk = run_lorakit(cfg)
    seqs = a.steps * a.batch_size
    print(f"{a.steps} steps x {a.batch_size} sequences (max {cfg.max_seq_len} tokens), {a.threads} thread(s), vocab {vocab}")
    print(f"HF Trainer + DataCollatorForLanguageModeling: {seqs / t_hf:8.1f} sequences/s ({t_hf:.1f} s)")
    print(f"lorakit pretrain-bert                        : {seqs / t_lk:8.1f} sequences/s ({t_lk:.1f} s)")
    print(f"training loops only: Trainer.train {loop_hf:.1f} s, lorakit fit {loop_lk:.1f} s ({loop_hf / loop_lk:.2f}x)")
    print(f"ratio (lorakit / Trainer): {t_hf / t_lk:.2f}x")


if __name__ == "__main__":
    main()
