"""rescore's batched PLL vs a plain one-forward-per-masked-token scorer: same model, same pairs.

Run: ``.venv/bin/python bench/rescore.py [--n 20] [--lang pl] [--hidden 128] [--vocab 8000]
[--rows 32] [--threads 1] [--chunks 4]``. Builds a 4-layer BERT from a config (``--hidden``,
intermediate 4 × hidden, 4 heads, 256 positions) with a ``--vocab``-row vocabulary and a unigram
tokenizer trained here on ``gen-data faithfulness`` text (its ids are a subset of the rows);
nothing is downloaded.

The default ``--hidden 128`` is the demo's BERT (examples/faithfulness.mk BERT_ARGS: hidden 128,
intermediate 512, 4 layers, 4 heads, 256 positions): the model rescore actually runs on, and so
the figure that matters for it. ``--hidden 256`` shows a wider encoder, where the encoder's own
arithmetic dominates both arms and the ratio shrinks. ``--vocab`` (default 8000) is the size a
BERT pretrained on a real corpus has: the plain scorer's prediction head over every position
grows with it (the demo's templated corpora support only ~500 pieces).

The plain scorer is the minicons way: one sequence with one masked token per forward, the full
prediction head over all positions. lorakit batches the masked copies (``--rows`` per forward,
rescore's CPU default), runs the last encoder layer only at the masked position and the head only
there (see lorakit.rescore.pll). To be fair under load from other processes the arms are timed
interleaved: the records are cut into ``--chunks`` chunks, each chunk runs A then B (odd chunks
B then A), and each arm's times are summed. Prints both arms' pairs/s, the largest score
difference, and the ratio last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def plain_pll(model, seqs, mask_id: int) -> list[float]:
    """One forward per masked token, full prediction head (the straightforward scorer)."""
    import torch

    out = []
    with torch.no_grad():
        for s in seqs:
            total = 0.0
            for p in s.positions:
                ids = torch.tensor([s.ids])
                ids[0, p] = mask_id
                logits = model(input_ids=ids, token_type_ids=torch.tensor([s.types])).prediction_logits[0, p]
                total += torch.log_softmax(logits, -1)[s.ids[p]].item()
            out.append(total / len(s.positions))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20, help="records (each with 2 candidates)")
    ap.add_argument("--lang", default="pl")
    ap.add_argument("--hidden", type=int, default=128, help="hidden size (intermediate 4x, 4 heads, 4 layers)")
    ap.add_argument("--vocab", type=int, default=8000, help="model vocabulary rows (≥ the tokenizer's)")
    ap.add_argument("--rows", type=int, default=None, help="masked copies per forward (default: rescore's on the CPU)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--chunks", type=int, default=4, help="interleaved timing chunks")
    args = ap.parse_args()

    import torch
    from transformers import BertForPreTraining

    from lorakit.data.faithfulness import FaithfulnessConfig, generate
    from lorakit.models.pretrain_bert import BertPretrainConfig, bert_config, bert_tokenizer
    from lorakit.rescore.pll import encode_pair, pll
    from lorakit.rescore.run import CPU_ROWS

    rows = args.rows or CPU_ROWS
    torch.set_num_threads(args.threads)
    files = generate(FaithfulnessConfig(lang=args.lang, corpus_mb=0.2, test_size=args.n))
    tok = bert_tokenizer(files["corpus.txt"].splitlines(), 500)
    cfg = BertPretrainConfig(corpus="-", out=Path("-"), layers=4, hidden=args.hidden, heads=4,
                             intermediate=4 * args.hidden, max_seq_len=256, dropout=0.0)
    torch.manual_seed(0)
    config = bert_config(cfg, tok)
    config.vocab_size = max(args.vocab, len(tok))
    model = BertForPreTraining(config).eval()
    records = [json.loads(line) for line in files["test.jsonl"].splitlines()]
    per_record = []  # the candidates of each record, encoded
    for r in records:
        src = tok(r["source"], add_special_tokens=False)["input_ids"]
        per_record.append([encode_pair(src, tok(c, add_special_tokens=False)["input_ids"], tok.cls_token_id,
                                       tok.sep_token_id, cfg.max_seq_len) for c in r["candidates"]])
    size = -(-len(records) // args.chunks)
    chunks = [[s for rec in per_record[lo:lo + size] for s in rec] for lo in range(0, len(records), size)]

    arms = {
        "lorakit": lambda seqs: pll(model, seqs, tok.mask_token_id, tok.pad_token_id, rows=rows),
        "plain": lambda seqs: plain_pll(model, seqs, tok.mask_token_id),
    }
    seconds = {name: 0.0 for name in arms}
    scores: dict[str, list[float]] = {name: [] for name in arms}
    for i, seqs in enumerate(chunks):  # A B, B A, A B, ...
        for name in (list(arms) if i % 2 == 0 else list(arms)[::-1]):
            t0 = time.perf_counter()
            scores[name] += arms[name](seqs)
            seconds[name] += time.perf_counter() - t0

    diff = max(abs(a - b) for a, b in zip(scores["lorakit"], scores["plain"]))
    pairs, seqs = len(records), [s for c in chunks for s in c]
    print(f"pairs {pairs}, candidates {len(seqs)}, masked tokens {sum(len(s.positions) for s in seqs)}, "
          f"mean length {sum(len(s.ids) for s in seqs) / len(seqs):.0f}, hidden {args.hidden}, {rows} rows, "
          f"vocabulary {config.vocab_size}, {args.threads} thread(s), {len(chunks)} interleaved chunks")
    print(f"plain loop : {pairs / seconds['plain']:8.2f} pairs/s ({seconds['plain']:.2f} s)")
    print(f"lorakit pll: {pairs / seconds['lorakit']:8.2f} pairs/s ({seconds['lorakit']:.2f} s)")
    print(f"max |score difference|: {diff:.2e} ({'equal' if diff <= 1e-4 else 'DIFFERENT'} to 1e-4)")
    print(f"ratio (lorakit / plain): {seconds['plain'] / seconds['lorakit']:.2f}x")


if __name__ == "__main__":
    main()
