"""LoraHub's weight search: nevergrad's NGOpt (LoraHub's optimiser) vs lorakit's (1+λ)-ES.

Run: ``.venv/bin/python bench/lorahub_search.py [--run runs/demo] [--shots 5] [--seeds 0 1 2]``
after ``make demo`` (it reuses the demo's base and adapters). The objective is LoraHub's (shot loss
+ 0.05 · Σ|w|) on the first ``--shots`` records of ``test_F_bridge.jsonl`` (the two-hop questions
hop1 and hop2 together should answer), over the adapters ``--adapters`` (default hop1 hop2 target),
at budgets 40 (the default ``--lorahub-steps``) and 100. Both searches start at w = 0 within
[−1.5, 1.5]; same seeds. Lower is better; the last line is the mean ES objective over the mean
NGOpt objective (> 1: NGOpt finds lower).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/demo")
    ap.add_argument("--adapters", nargs="+", default=["hop1", "hop2", "target"])
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budgets", type=int, nargs="+", default=[40, 100])
    args = ap.parse_args()

    import torch

    from lorakit.io import read_jsonl
    from lorakit.lora.adapters import open_adapter
    from lorakit.lora.lorahub import SEARCHES, search
    from lorakit.models.load import load_causal_lm

    torch.set_num_threads(1)
    run = Path(args.run)
    if not (run / "base" / "config.json").is_file():
        sys.exit(f"{run}/base: no model (run `make demo` first, or pass --run)")
    model, tok = load_causal_lm(run / "base")
    model.eval()
    adapters = [open_adapter(run / "adapters" / name) for name in args.adapters]
    shots = read_jsonl(run / "data" / "test_F_bridge.jsonl", required=("prompt", "completion"))[: args.shots]
    print(f"{len(adapters)} adapters ({', '.join(args.adapters)}), {len(shots)} shots, seeds {args.seeds}")
    print(f"{'budget':>6} {'seed':>4} " + " ".join(f"{m:>10}" for m in SEARCHES) + "   seconds")
    totals = {m: [] for m in SEARCHES}
    wins = 0
    for budget in args.budgets:
        for seed in args.seeds:
            row, secs = {}, []
            for method in SEARCHES:
                t0 = time.perf_counter()
                combo, found = search(model, tok, adapters, shots, budget, seed, method=method)
                combo.remove()
                secs.append(time.perf_counter() - t0)
                row[method] = found["objective"]
                totals[method].append(found["objective"])
            wins += row["ngopt"] < row["es"]
            print(f"{budget:>6} {seed:>4} " + " ".join(f"{row[m]:>10.4f}" for m in SEARCHES)
                  + "   " + " / ".join(f"{s:.1f}" for s in secs))
    n = len(totals["es"])
    mean = {m: sum(v) / n for m, v in totals.items()}
    print(f"NGOpt lower in {wins} of {n} runs; mean objective NGOpt {mean['ngopt']:.4f}, ES {mean['es']:.4f}")
    print(f"ES / NGOpt mean objective: {mean['es'] / mean['ngopt']:.3f}x")


if __name__ == "__main__":
    main()
