"""eval's batched generation vs one-at-a-time ``model.generate``: same model, same prompts.

Run: ``.venv/bin/python bench/generate.py [--n 256] [--batch-size 64] [--threads 1] [--model PATH]``.
Without ``--model`` it builds a tiny Llama (lorakit's ``tiny`` preset) from a config and a
tokenizer trained here; nothing is downloaded. ``--model runs/real/smollm2`` (the converted
SmolLM2-135M-Instruct) loads that folder instead and renders the same QA prompts with its chat
template, as ``eval`` renders ``messages`` records (``--n 64`` keeps it to a few minutes).
Both sides greedy, same ``max_new_tokens``; per-example ``generate`` stops at EOS, lorakit's
batches also at a row's first newline (only the first line is a prediction on both sides).
Prints examples/s of both, whether the predictions are identical (and the first that are not),
the matmul work of the per-example runs against a 2048² float32 matmul's rate measured here
(the most batching alone can gain where one example is already compute-bound; lorakit also runs
the prompts' shared prefix, a chat template's system turn, once, as ``eval`` does, which cuts the
work itself), and the ratio last.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import GEMM, add_model_arg, chat_records, describe, gemm_flops  # noqa: E402


def matmul_params(model) -> tuple[int, int]:
    """(N_body, N_head): the parameters every token's forward multiplies (all but the input
    embedding's lookup and the output layer), and the output layer's (vocabulary × hidden)."""
    head = model.get_output_embeddings().weight
    emb = model.get_input_embeddings().weight
    total = sum(p.numel() for p in model.parameters())
    return total - emb.numel() - (0 if head is emb else head.numel()), head.numel()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=12)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the cores available)")
    add_model_arg(ap)
    args = ap.parse_args()

    import torch
    from transformers import LlamaForCausalLM

    from lorakit.models.generate import clean_prediction, generate, shared_prefix
    from lorakit.models.load import load_causal_lm
    from lorakit.models.presets import PRESETS, llama_config
    from lorakit.models.tokenizer import train_tokenizer
    from lorakit.models.encode import encode_prompt
    from lorakit.runtime import quiet_libraries, set_threads
    from tests.helpers import corpus_lines, qa_records

    quiet_libraries()
    threads = set_threads(args.threads)
    if args.model:
        model, tok = load_causal_lm(args.model)
        name = describe(model, args.model)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            tok = train_tokenizer(corpus_lines(), Path(tmp) / "tok", vocab_size=512)
        torch.manual_seed(0)
        config = llama_config(PRESETS["tiny"], tok)
        config.initializer_range = 0.2  # peaked logits, like a trained model: no argmax near-ties
        model = LlamaForCausalLM(config).eval()
        name = describe(model, "tiny Llama")
    prompts = [r["prompt"] for r in chat_records(tok, qa_records(args.n, seed=1))]

    encoded = [encode_prompt(tok, p) for p in prompts]
    t0 = time.perf_counter()
    batched = generate(model, tok, prompts, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, share_prefix=True)
    t_batched = time.perf_counter() - t0

    t0 = time.perf_counter()
    single, work = [], 0
    body, head = matmul_params(model)
    with torch.inference_mode():
        for p in prompts:
            ids = torch.tensor([encode_prompt(tok, p)])
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=args.max_new_tokens,
                                 do_sample=False, num_beams=1, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            single.append(clean_prediction(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)))
            new = out.shape[1] - ids.shape[1]
            work += 2 * body * (ids.shape[1] + new) + 2 * head * new
    t_single = time.perf_counter() - t0
    gemm = gemm_flops()

    same = sum(a == b for a, b in zip(batched, single))
    print(f"model: {name}, threads {threads}, {args.n} prompts, max_new_tokens {args.max_new_tokens}")
    for i, (a, b) in enumerate(zip(batched, single)):
        if a != b:
            print(f"first difference, prompt {i}: batched {a!r} vs one-at-a-time {b!r}")
            break
    print(f"lorakit batched (batch {args.batch_size}): {args.n / t_batched:8.1f} examples/s")
    print(f"one-at-a-time model.generate:     {args.n / t_single:8.1f} examples/s")
    print(f"identical predictions: {same}/{args.n}")
    print(f"matmul work of the per-example runs (2·N_body per prompt and new token, 2·N_head per new token): "
          f"{work / 1e9:.1f} GFLOP; at this machine's {GEMM}x{GEMM} float32 matmul rate ({gemm / 1e9:.1f} GFLOP/s) "
          f"that is {work / gemm:.1f} s, so batching alone can be at most {t_single / (work / gemm):.1f}x the "
          f"per-example time; lorakit also runs the {shared_prefix(encoded)} prompt tokens all prompts share once "
          f"(of {sum(map(len, encoded)) / len(encoded):.1f} per prompt on average)")
    print(f"ratio batched / one-at-a-time: {t_single / t_batched:.1f}x")


if __name__ == "__main__":
    main()
