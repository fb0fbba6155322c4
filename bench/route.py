"""lorakit route vs a single merged adapter and PEFT's own Arrow; mixed-adapter batches vs adapter-at-a-time.

Run: ``.venv/bin/python bench/route.py [--tokens 2048] [--repeats 5] [--threads 1] [--model PATH]``.
A Llama of lorakit's ``tiny`` preset built from a config (random weights), random LoRA adapters
(r 8, all linear) written by PEFT; nothing is downloaded. ``--model runs/real/smollm2`` (the
converted SmolLM2-135M-Instruct) puts the adapters on that checkpoint instead and its chat
template on the prompts; ``--model runs/real/smollm2 --tokens 512 --repeats 3 --counts 4
--prompts 32`` takes a few minutes on one thread.

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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import add_model_arg, chat_records  # noqa: E402


def interleaved(arms: dict, rounds: int) -> dict:
    """Each arm (label -> no-argument callable) once per round, arms in turn, after one warm-up call
    each (PEFT's lazy prototypes); each arm's fastest round in seconds. Interleaving keeps a burst
    of load on a shared machine from landing on one arm only."""
    for fn in arms.values():
        fn()
    best = dict.fromkeys(arms, float("inf"))
    for _ in range(rounds):
        for label, fn in arms.items():
            t0 = time.perf_counter()
            fn()
            best[label] = min(best[label], time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tokens", type=int, default=2048, help="tokens per forward (batch 32 × tokens/32)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--prompts", type=int, default=96)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the cores available; "
                    "1 on a shared machine, where two-thread runs oversubscribe)")
    ap.add_argument("--gen-rounds", type=int, default=2, help="interleaved rounds of the two generation arms")
    ap.add_argument("--counts", default="2,4,8,16", help="library sizes Arrow runs with (4 is always run)")
    ap.add_argument("--profile", action="store_true", help="print torch.profiler's top ops of both mixed-batch arms")
    add_model_arg(ap)
    args = ap.parse_args()

    import torch
    from peft import ArrowConfig, create_arrow_model
    from transformers import LlamaForCausalLM

    from lorakit.lora.adapters import open_adapter
    from lorakit.lora.arrow import Router
    from lorakit.lora.prototypes import load_prototypes
    from lorakit.models.generate import generate
    from lorakit.models.load import attach_adapter, load_causal_lm, load_tokenizer
    from lorakit.models.presets import PRESETS, llama_config
    from lorakit.models.tokenizer import train_tokenizer
    from lorakit.runtime import quiet_libraries, set_threads
    from tests.helpers import corpus_lines, make_peft_adapter, qa_records

    quiet_libraries()
    warnings.simplefilter("ignore")
    threads = set_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.model:
            base = Path(args.model)
            tok = load_tokenizer(base)
        else:
            base = tmp / "base"
            tok = train_tokenizer(corpus_lines(), tmp / "tok", vocab_size=512)
            torch.manual_seed(0)
            config = llama_config(PRESETS["tiny"], tok)
            config.initializer_range = 0.2
            LlamaForCausalLM(config).save_pretrained(str(base))
            tok.save_pretrained(str(base))
        counts = sorted({4, *map(int, args.counts.split(","))})
        paths = [make_peft_adapter(base, tmp / f"a{i}", r=8, alpha=16, seed=i, std=0.05) for i in range(max(counts))]
        ids = torch.randint(5, len(tok), (32, args.tokens // 32))
        model, _ = load_causal_lm(base)
        print(f"{args.model or 'tiny Llama'} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M), "
              f"{ids.numel()} tokens per forward, {threads} thread(s)")

        # forward tokens/s: one model per arm, timed in turn (interleaved), fastest round each
        models = {"single": attach_adapter(model, paths[0]).eval()}
        routers = []
        for n in counts:
            m, _ = load_causal_lm(base)
            adapters = [open_adapter(p) for p in paths[:n]]
            routers.append(Router(m, adapters, [load_prototypes(a) for a in adapters], 2, 1.0))
            models[n] = m
        m, _ = load_causal_lm(base)
        models["peft"] = create_arrow_model(m, [str(p) for p in paths[:4]], ArrowConfig(top_k=2, use_gks=False)).eval()

        def forward(m):
            def run():
                with torch.inference_mode():
                    m(input_ids=ids)
            return run

        best = interleaved({k: forward(m) for k, m in models.items()}, args.repeats)
        rate = {k: ids.numel() / t for k, t in best.items()}
        single, peft, ours = rate["single"], rate["peft"], {n: rate[n] for n in counts}
        print(f"single adapter (PEFT)         {single:10.0f} tokens/s")
        for n in counts:
            print(f"lorakit Arrow, {n:2d} adapters   {ours[n]:10.0f} tokens/s")
        print(f"PEFT Arrow,     4 adapters   {peft:10.0f} tokens/s  (fastest of {args.repeats} interleaved rounds each)",
              flush=True)
        for r in routers:
            r.remove()
        del models, routers, m

        # mixed-adapter batches vs adapter-at-a-time (4 adapters, round-robin assignment)
        model, tok = load_causal_lm(base)
        model = attach_adapter(model, paths[0], name="a0")
        for i in range(1, 4):
            model.load_adapter(str(paths[i]), adapter_name=f"a{i}", is_trainable=False)
        model.eval()
        prompts = [r["prompt"] for r in chat_records(tok, qa_records(args.prompts, seed=2))]
        names = [f"a{i % 4}" for i in range(len(prompts))]

        def run_mixed() -> list[str]:
            return generate(model, tok, prompts, adapter_names=names, max_new_tokens=8)

        def run_apart() -> list[str]:
            apart = [""] * len(prompts)
            for i in range(4):
                model.set_adapter(f"a{i}")
                mine = [j for j, n in enumerate(names) if n == f"a{i}"]
                for j, p in zip(mine, generate(model, tok, [prompts[j] for j in mine], max_new_tokens=8)):
                    apart[j] = p
            return apart

        mixed, apart = run_mixed(), run_apart()
        best = interleaved({"mixed": run_mixed, "apart": run_apart}, args.gen_rounds)
        t_mixed, t_apart = best["mixed"], best["apart"]
        if args.profile:
            for label, fn in (("mixed batches", run_mixed), ("adapter-at-a-time", run_apart)):
                with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                    fn()
                print(f"torch.profiler, {label}, top ops by self CPU time:")
                print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
        print(f"mixed batches {len(prompts) / t_mixed:8.1f} examples/s, adapter-at-a-time {len(prompts) / t_apart:8.1f} "
              f"examples/s (fastest of {args.gen_rounds} interleaved rounds), identical predictions: {mixed == apart}")
    print(f"ratios: Arrow overhead vs single adapter at 4 adapters {single / ours[4]:.2f}x (target ≤ 1.5x); "
          f"lorakit/PEFT Arrow at 4 {ours[4] / peft:.2f}x (target ≥ 1.0x); mixed/at-a-time {t_apart / t_mixed:.2f}x")


if __name__ == "__main__":
    main()
