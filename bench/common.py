"""What the benchmarks share: ``--model PATH`` (a real checkpoint) and chat prompts for it.

Without ``--model`` each benchmark builds its tiny model from a config (offline, seconds); with
it, the folder is loaded as ``eval`` loads it. The documented one is the converted SmolLM2-135M-
Instruct (``make runs/real/smollm2/lorakit.json``; README, Benchmarks).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

GEMM = 2048
"""The square float32 matmul whose rate is the machine's ceiling in ``gemm_flops``."""

MODEL_HELP = ("an HF causal-LM folder to run on (the converted SmolLM2-135M-Instruct: runs/real/smollm2); "
              "default: the tiny model built here")


def add_model_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--model", default=None, help=MODEL_HELP)


def chat_records(tokenizer: Any, records: list[dict[str, str]]) -> list[dict[str, str]]:
    """``records`` as a user turn and the assistant's answer, rendered with the tokenizer's chat
    template the way ``train-lora`` and ``eval`` render ``messages`` records; unchanged without a template."""
    from lorakit.records import render_chats

    if not getattr(tokenizer, "chat_template", None):
        return records
    chats = [{"messages": [{"role": "user", "content": r["prompt"].strip()},
                           {"role": "assistant", "content": r["completion"].strip()}]} for r in records]
    render_chats(chats, tokenizer, "bench", "model")
    return [{"prompt": c["prompt"], "completion": c["completion"]} for c in chats]


def describe(model: Any, name: str) -> str:
    return f"{name} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params)"


def gemm_flops(repeats: int = 5) -> float:
    """FLOP/s of a ``GEMM`` × ``GEMM`` float32 matmul on torch's current threads (the best of ``repeats``)."""
    import torch

    a, b = torch.randn(GEMM, GEMM), torch.randn(GEMM, GEMM)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * GEMM**3 / best
