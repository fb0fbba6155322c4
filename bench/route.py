"""lorakit route vs a single merged adapter and PEFT's own Arrow; mixed-adapter batches vs adapter-at-a-time.

Run: ``.venv/bin/python bench/route.py [--tokens 2048] [--repeats 5]``. A Llama of lorakit's
``tiny`` preset built from a config (random weights), random LoRA adapters (r 8, all linear)
written by PEFT; nothing is downloaded.

- Arrow (lorakit hooks, top-2) forward tokens/s with 2, 4, 8, 16 adapters, against one adapter
  attached with PEFT (what a merged adapter costs) and against PEFT's ``create_arrow_model`` at
  the same library size (prototypes built before timing on both sides).
- per-example selection's mixed-adapter batches (min-entropy and centroid generate the same way:
  ``adapter_names=``, one ``generate`` call over all prompts) against adapter-at-a-time (one
  ``generate`` per adapter's share of the prompts). LoraHub is not timed: after its search it
  generates with one combined adapter, i.e. at the single-adapter speed.
Ratios last.
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def tokens_per_s(model, ids, repeats):
    import torch

    with torch.inference_mode():
        model(input_ids=ids)  # warm-up (and PEFT's lazy prototypes)
        t0 = time.perf_counter()
        for _ in range(repeats):
            model(input_ids=ids)
    return ids.numel() * repeats / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tokens", type=int, default=2048, help="tokens per forward (batch 32 × tokens/32)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--prompts", type=int, default=96)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the cores available; "
                    "1 on a shared machine, where two-thread runs oversubscribe)")
    args = ap.parse_args()

    import torch
    from peft import ArrowConfig, create_arrow_model
    from transformers import LlamaForCausalLM

    from lorakit.lora.adapters import open_adapter
    from lorakit.lora.arrow import Router
    from lorakit.lora.prototypes import load_prototypes
    from lorakit.models.generate import generate
    from lorakit.models.load import attach_adapter, load_causal_lm
    from lorakit.models.presets import PRESETS, llama_config
    from lorakit.models.tokenizer import train_tokenizer
    from lorakit.runtime import quiet_libraries, set_threads
    from tests.helpers import corpus_lines, make_peft_adapter, qa_records

    quiet_libraries()
    warnings.simplefilter("ignore")
    threads = set_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tok = train_tokenizer(corpus_lines(), tmp / "tok", vocab_size=512)
        torch.manual_seed(0)
        config = llama_config(PRESETS["tiny"], tok)
        config.initializer_range = 0.2
        LlamaForCausalLM(config).save_pretrained(str(tmp / "base"))
        tok.save_pretrained(str(tmp / "base"))
        paths = [make_peft_adapter(tmp / "base", tmp / f"a{i}", r=8, alpha=16, seed=i, std=0.05) for i in range(16)]
        ids = torch.randint(5, len(tok), (32, args.tokens // 32))
        print(f"tiny Llama ({sum(p.numel() for p in LlamaForCausalLM(config).parameters()) / 1e6:.1f} M), "
              f"{ids.numel()} tokens per forward, {threads} thread(s)")

        model, _ = load_causal_lm(tmp / "base")
        single = tokens_per_s(attach_adapter(model, paths[0]).eval(), ids, args.repeats)
        print(f"single adapter (PEFT)         {single:10.0f} tokens/s")
        ours = {}
        for n in (2, 4, 8, 16):
            model, _ = load_causal_lm(tmp / "base")
            adapters = [open_adapter(p) for p in paths[:n]]
            router = Router(model, adapters, [load_prototypes(a) for a in adapters], 2, 1.0)
            ours[n] = tokens_per_s(model, ids, args.repeats)
            router.remove()
            print(f"lorakit Arrow, {n:2d} adapters   {ours[n]:10.0f} tokens/s")
        model, _ = load_causal_lm(tmp / "base")
        peft = tokens_per_s(create_arrow_model(model, [str(p) for p in paths[:4]], ArrowConfig(top_k=2, use_gks=False)).eval(),
                            ids, args.repeats)
        print(f"PEFT Arrow,     4 adapters   {peft:10.0f} tokens/s")

        # mixed-adapter batches vs adapter-at-a-time (4 adapters, round-robin assignment)
        model, tok = load_causal_lm(tmp / "base")
        model = attach_adapter(model, paths[0], name="a0")
        for i in range(1, 4):
            model.load_adapter(str(paths[i]), adapter_name=f"a{i}", is_trainable=False)
        model.eval()
        prompts = [r["prompt"] for r in qa_records(args.prompts, seed=2)]
        names = [f"a{i % 4}" for i in range(len(prompts))]
        t0 = time.perf_counter()
        mixed = generate(model, tok, prompts, adapter_names=names, max_new_tokens=8)
        t_mixed = time.perf_counter() - t0
        t0 = time.perf_counter()
        apart = [""] * len(prompts)
        for i in range(4):
            model.set_adapter(f"a{i}")
            mine = [j for j, n in enumerate(names) if n == f"a{i}"]
            for j, p in zip(mine, generate(model, tok, [prompts[j] for j in mine], max_new_tokens=8)):
                apart[j] = p
        t_apart = time.perf_counter() - t0
        print(f"mixed batches {len(prompts) / t_mixed:8.1f} examples/s, adapter-at-a-time {len(prompts) / t_apart:8.1f} "
              f"examples/s, identical predictions: {mixed == apart}")
    print(f"ratios: Arrow overhead vs single adapter at 4 adapters {single / ours[4]:.2f}x (target ≤ 1.5x); "
          f"lorakit/PEFT Arrow at 4 {ours[4] / peft:.2f}x (target ≥ 1.0x); mixed/at-a-time {t_apart / t_mixed:.2f}x")


if __name__ == "__main__":
    main()
