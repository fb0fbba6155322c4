"""Achieved FLOP/s of pretrain-lm and train-lora as a fraction of torch's large-GEMM FLOP/s, one run.

Run: ``.venv/bin/python bench/flops.py [--threads 1] [--model PATH] [--pretrain-steps 8] [--lora-records 64]``.
``--model runs/real/smollm2`` (the converted SmolLM2-135M-Instruct) runs ``train-lora`` on that
checkpoint; without it, on the tiny Llama ``bench/train_lora.py`` builds (offline, seconds).

- Ceiling: a 2048 × 2048 float32 matmul loop (2·2048³ FLOPs each) on the same thread count,
  measured before and after the two training arms; the faster of the two is the ceiling.
- ``pretrain-lm --preset small`` (hidden 256, 6 layers, its own 512-piece tokenizer) on the
  test corpus, batch 32 × block 128, ``--pretrain-steps`` steps.
- ``train-lora`` (rank 16, all linear layers, batch 8, one epoch) on ``--lora-records`` QA
  records of varied length, as chats rendered with the model's template where it has one.

FLOPs counted (matmuls only; attention's QKᵀ and AV, norms, softmax and the optimizer are left
out, so the figures are conservative; tokens T = the non-pad tokens training reports, padding
is not counted as work):

- pretraining: 6·N·T, N = the model's parameters (a tied embedding counted once: it is the
  output layer's matmul) — forward 2·N·T, backward 4·N·T (gradients of activations and of weights).
- LoRA: (4·N_base + 6·N_lora)·T — forward through the frozen base 2·N_base·T, backward through it
  2·N_base·T (activation gradients only: frozen weights get no weight gradient), and the adapter's
  own forward + backward 6·N_lora·T. (Counting 6·N_base·T, as if the base were trained, would
  flatter the figure by ~1.5×.)

Time is the arms' own seconds in training steps (``fit.seconds``: no loading, tokenising or
saving). Prints each arm's GFLOP/s and its fraction of the ceiling; the ratios last (target ≥ 30 %).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import GEMM, add_model_arg, chat_records, gemm_flops  # noqa: E402

def pretrain_arm(tmp: Path, steps: int) -> tuple[float, int, int, float]:
    """(FLOPs, N, tokens, seconds) of ``pretrain-lm --preset small``."""
    from lorakit.models.pretrain_lm import PretrainConfig, pretrain
    from tests.helpers import corpus_lines

    corpus = tmp / "corpus.txt"
    corpus.write_text("\n".join(corpus_lines(4000)) + "\n", encoding="utf-8")
    res = pretrain(PretrainConfig(corpus=str(corpus), out=tmp / "small", preset="small", steps=steps, batch_size=32,
                                  block_size=128, warmup=0.1, device="cpu", cache_dir=tmp / "cache"))
    n, tokens = res.parameters, res.fit.tokens
    return 6 * n * tokens, n, tokens, res.fit.seconds


def lora_arm(tmp: Path, base: Path, records: int) -> tuple[float, int, int, int, float]:
    """(FLOPs, N_base, N_lora, tokens, seconds) of ``train-lora`` on ``base``."""
    from lorakit.lora.train import LoraTrainConfig, train_lora
    from lorakit.models.load import load_causal_lm, load_tokenizer
    from train_lora import varied_records

    tok = load_tokenizer(base)
    data = tmp / "lora.jsonl"
    rows = chat_records(tok, varied_records(records))
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    res = train_lora(LoraTrainConfig(base=base, data=str(data), out=tmp / "lora", rank=16, alpha=32, epochs=1,
                                     batch_size=8, device="cpu"))
    n_base = sum(p.numel() for p in load_causal_lm(base)[0].parameters())
    n_lora, tokens = res.trainable_parameters, res.fit.tokens
    return (4 * n_base + 6 * n_lora) * tokens, n_base, n_lora, tokens, res.fit.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pretrain-steps", type=int, default=8)
    ap.add_argument("--lora-records", type=int, default=64)
    add_model_arg(ap)
    a = ap.parse_args()

    from lorakit.runtime import quiet_libraries, set_threads

    quiet_libraries()
    warnings.filterwarnings("ignore")
    threads = set_threads(a.threads)
    with tempfile.TemporaryDirectory(prefix="bench-flops-") as tmp_name:
        tmp = Path(tmp_name)
        before = gemm_flops()
        print(f"threads {threads}; {GEMM}x{GEMM} float32 matmul: {before / 1e9:.1f} GFLOP/s", flush=True)
        flops, n, tokens, secs = pretrain_arm(tmp, a.pretrain_steps)
        pre = flops / secs
        print(f"pretrain-lm --preset small: N {n / 1e6:.2f} M, {tokens:,} tokens in {secs:.1f} s: 6·N·T = "
              f"{flops / 1e12:.2f} TFLOP, {pre / 1e9:.1f} GFLOP/s", flush=True)
        if a.model:
            base, name = Path(a.model), a.model
        else:
            from train_lora import build_base

            base, name = build_base(tmp / "tiny", 128, 4), "tiny Llama (hidden 128, 4 layers)"
        flops, n_base, n_lora, tokens, secs = lora_arm(tmp, base, a.lora_records)
        lora = flops / secs
        print(f"train-lora on {name}: N_base {n_base / 1e6:.1f} M, N_lora {n_lora / 1e6:.2f} M, {tokens:,} tokens in "
              f"{secs:.1f} s: (4·N_base + 6·N_lora)·T = {flops / 1e12:.2f} TFLOP, {lora / 1e9:.1f} GFLOP/s", flush=True)
        after = gemm_flops()
        ceiling = max(before, after)
        print(f"{GEMM}x{GEMM} float32 matmul again: {after / 1e9:.1f} GFLOP/s; ceiling {ceiling / 1e9:.1f} GFLOP/s")
    print(f"fraction of the GEMM ceiling (target ≥ 30 %): pretrain-lm small {100 * pre / ceiling:.0f} %, "
          f"train-lora {100 * lora / ceiling:.0f} %")


if __name__ == "__main__":
    main()
