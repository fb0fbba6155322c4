"""rescore's batched PLL vs a plain one-forward-per-masked-token scorer: same model, same pairs.

Run: ``.venv/bin/python bench/rescore.py [--n 20] [--lang pl] [--rows 256] [--vocab 8000]``. Builds
a 4-layer BERT (hidden 256) from a config with a ``--vocab``-row vocabulary (default 8000, the size
a BERT pretrained on a real corpus has: the prediction head's cost grows with it) and a unigram
tokenizer trained here on ``gen-data faithfulness`` text (its ids are a subset of the rows);
nothing is downloaded. Prints pairs/s of both, the largest score difference, ratio last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20, help="records (each with 2 candidates)")
    ap.add_argument("--lang", default="pl")
    ap.add_argument("--rows", type=int, default=256, help="masked copies per forward (lorakit)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=8000, help="model vocabulary rows (≥ the tokenizer's)")
    args = ap.parse_args()

    import torch
    from transformers import BertForPreTraining

    from lorakit.data.faithfulness import FaithfulnessConfig, generate
    from lorakit.models.bert import BertPretrainConfig, bert_config, bert_tokenizer
    from lorakit.rescore.pll import encode_pair, pll

    torch.set_num_threads(args.threads)
    files = generate(FaithfulnessConfig(lang=args.lang, corpus_mb=0.2, test_size=args.n))
    tok = bert_tokenizer(files["corpus.txt"].splitlines(), 500)
    cfg = BertPretrainConfig(corpus="-", out=Path("-"), dropout=0.0)
    torch.manual_seed(0)
    config = bert_config(cfg, tok)
    config.vocab_size = max(args.vocab, len(tok))
    model = BertForPreTraining(config).eval()
    records = [json.loads(line) for line in files["test.jsonl"].splitlines()]
    seqs = []
    for r in records:
        src = tok(r["source"], add_special_tokens=False)["input_ids"]
        for c in r["candidates"]:
            seqs.append(encode_pair(src, tok(c, add_special_tokens=False)["input_ids"], tok.cls_token_id, tok.sep_token_id, 128))

    t0 = time.perf_counter()
    fast = pll(model, seqs, tok.mask_token_id, tok.pad_token_id, rows=args.rows)
    t_fast = time.perf_counter() - t0

    t0 = time.perf_counter()
    plain = []
    with torch.no_grad():
        for s in seqs:  # one forward per masked token, full prediction head (the straightforward scorer)
            total = 0.0
            for p in s.positions:
                ids = torch.tensor([s.ids])
                ids[0, p] = tok.mask_token_id
                logits = model(input_ids=ids, token_type_ids=torch.tensor([s.types])).prediction_logits[0, p]
                total += torch.log_softmax(logits, -1)[s.ids[p]].item()
            plain.append(total / len(s.positions))
    t_plain = time.perf_counter() - t0

    diff = max(abs(a - b) for a, b in zip(fast, plain))
    pairs = len(records)
    print(f"pairs {pairs}, candidates {len(seqs)}, masked tokens {sum(len(s.positions) for s in seqs)}, "
          f"vocabulary {config.vocab_size}, {args.threads} thread(s)")
    print(f"plain loop : {pairs / t_plain:8.2f} pairs/s ({t_plain:.2f} s)")
    print(f"lorakit pll: {pairs / t_fast:8.2f} pairs/s ({t_fast:.2f} s)")
    print(f"max |score difference|: {diff:.2e} ({'equal' if diff <= 1e-4 else 'DIFFERENT'} to 1e-4)")
    print(f"ratio (lorakit / plain): {t_plain / t_fast:.2f}x")


if __name__ == "__main__":
    main()
