"""lorakit merge (task-arithmetic) vs PEFT add_weighted_adapter(combination_type="svd"), one run.

Llama-7B-shaped modules: hidden 4096, intermediate 11008, 2 layers, all linear targets (q k v o
gate up down: 14 modules), r=16, alpha=32, random factors written as PEFT adapter folders (no
base weights needed by lorakit). Both sides merge to rank 16 on the CPU with the same thread count.

- lorakit: the ``lorakit merge`` command in a fresh process per run (its peak RSS from
  ``os.wait4``, the merge time from its ``--json`` summary), on all 14 modules for 2, 4, 8, 16
  adapters, and on the PEFT subset. task-arithmetic runs on NumPy and never imports torch.
- ``merge --into-base``: a Llama base built from a config (hidden 1024, 16 layers, float32) saved
  in 100 MB shards, 2 adapters on all its linear layers; peak RSS of the command against the
  model's and the largest shard's bytes.
- PEFT: a 2-layer LlamaConfig model with those sizes (vocabulary 128) and the 4 adapters loaded;
  its svd builds each dense ΔW and runs a full SVD (~89 s per 4096² module here), so it runs
  on a subset of modules (``--peft-modules``, default layer 0's q_proj), and both sides are
  compared per module on that subset.
- Agreement: ‖ΔW_lorakit − ΔW_PEFT‖ / ‖ΔW_exact‖ against the truncation error ‖ΔW_exact − ΔW_r‖ / ‖ΔW_exact‖.

    .venv/bin/python bench/merge.py [--threads 1] [--peft-modules model.layers.0.self_attn.q_proj]

The last line is the speed ratio PEFT / lorakit per module.

``--whole`` runs only the whole-model case instead: a whole Llama-2-7B-shaped adapter set (32
layers × 7 modules = 224 modules, r 16, 4 adapters, ~160 MiB float32 each, random factors in
PEFT folders in a temp dir). Each ``--methods`` method (default: ``uniform``, merge's default,
which averages the factors, √s folded in, at rank 16; ``cat``, the exact sum as concatenated
factors at rank 64; and ``task-arithmetic``, the exact sum re-factorised to its best rank 16 from
the factors: ``merge_math.gram_svd``, QR where a factor is ill-conditioned) runs as
``lorakit merge --json`` in a fresh process.
Its merge time (the command's ``seconds``: from the first check to lorakit.json, without Python's
start-up, which is printed apart) is divided by the time the same process would need just to read
the inputs and write that output, measured in this run right after: every input tensor read
whole with ``safetensors.numpy.load_file``, the command's output tensors written with
``safetensors.numpy.save_file``, the fastest of 3 tries each (the files are in the page cache
on both sides; nothing is fsynced on either). The time to sha256 the inputs (which merge does
for lorakit.json's provenance) is printed apart. Target: ≤ 3×. The last line gives each
method's ratio.

    .venv/bin/python bench/merge.py --whole [--threads 1] [--methods uniform,cat,task-arithmetic]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HIDDEN, INTER, LAYERS, R, ALPHA = 4096, 11008, 2, 16, 32
SHAPES = {"self_attn.q_proj": (HIDDEN, HIDDEN), "self_attn.k_proj": (HIDDEN, HIDDEN), "self_attn.v_proj": (HIDDEN, HIDDEN),
          "self_attn.o_proj": (HIDDEN, HIDDEN), "mlp.gate_proj": (INTER, HIDDEN), "mlp.up_proj": (INTER, HIDDEN),
          "mlp.down_proj": (HIDDEN, INTER)}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

BASE = {"hidden": 1024, "intermediate": 2816, "layers": 16, "vocab": 8192, "shard": "100MB"}
"""The --into-base model: ~223 M float32 parameters (~890 MB) in 9 shards."""
LORAKIT = [str(Path(sys.executable).with_name("lorakit"))]


def modules(only: list[str] | None = None) -> dict[str, tuple[int, int]]:
    out = {f"model.layers.{i}.{k}": shape for i in range(LAYERS) for k, shape in SHAPES.items()}
    return {k: v for k, v in out.items() if only is None or k in only}


def write_adapter(folder: Path, seed: int, shapes: dict[str, tuple[int, int]]) -> int:
    """A PEFT folder with random factors (ΔW ≠ 0) for ``shapes`` (module -> (out, in)); returns its bytes."""
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, (out, inp) in shapes.items():
        tensors[f"base_model.model.{name}.lora_A.weight"] = torch.randn(R, inp, generator=g) / inp**0.5
        tensors[f"base_model.model.{name}.lora_B.weight"] = torch.randn(out, R, generator=g) * 0.01
    folder.mkdir(parents=True)
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": R, "lora_alpha": ALPHA, "lora_dropout": 0.0,
              "target_modules": sorted({n.rsplit(".", 1)[-1] for n in shapes}), "bias": "none", "fan_in_fan_out": False,
              "use_rslora": False, "use_dora": False, "init_lora_weights": True, "base_model_name_or_path": None,
              "inference_mode": True, "rank_pattern": {}, "alpha_pattern": {}}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    return (folder / "adapter_model.safetensors").stat().st_size


RUNNER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
print("peak_rss", usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status), file=sys.stderr)
"""
"""Runs a command and reports its peak RSS. A process started by this (large) bench would inherit
the bench's RSS as its high-water mark (Linux records the pre-exec memory in ru_maxrss), so a
small interpreter starts it instead and reads its rusage with os.wait4."""


def peak_rss(cmd: list[str]) -> tuple[int, str]:
    """Run ``cmd``; its own peak RSS in bytes and its stdout."""
    res = subprocess.run([sys.executable, "-c", RUNNER, *cmd], capture_output=True, text=True)
    *rest, last = res.stderr.strip().splitlines() or [""]
    if not last.startswith("peak_rss ") or last.split()[2] != "0":
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr}")
    return int(last.split()[1]), res.stdout


def run_lorakit(adapters: list[Path], out: Path, threads: int, *extra: str,
                method: str = "task-arithmetic") -> dict[str, float]:
    """``lorakit merge --method METHOD`` (rank R where it re-factorises) in its own process: merge
    seconds, the process's wall seconds and peak RSS."""
    rank = ["--rank", str(R)] if method == "task-arithmetic" else []
    t = time.perf_counter()
    rss, stdout = peak_rss(LORAKIT + ["merge", *map(str, adapters), "--method", method, *rank,
                                      "--out", str(out), "--force", "--json", "--quiet", "--threads", str(threads), *extra])
    wall = time.perf_counter() - t
    return {"seconds": json.loads(stdout)["seconds"], "wall": wall, "peak_rss": rss}


def io_seconds(inputs: list[Path], output: Path, tmp: Path, repeats: int = 3) -> tuple[float, float, float]:
    """Seconds to read every tensor of ``inputs`` whole and to write ``output``'s tensors anew (the
    fastest of ``repeats`` each), and to sha256 the input files once (what merge's provenance costs)."""
    import hashlib

    from safetensors.numpy import load_file, save_file

    def timed(fn) -> float:
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        return best

    read = timed(lambda: [load_file(str(f / "adapter_model.safetensors")) for f in inputs])
    tensors = load_file(str(output / "adapter_model.safetensors"))
    write = timed(lambda: save_file(tensors, str(tmp / "io-copy.safetensors")))
    (tmp / "io-copy.safetensors").unlink()
    t = time.perf_counter()
    for f in inputs:
        with (f / "adapter_model.safetensors").open("rb") as fh:
            hashlib.file_digest(fh, "sha256")
    return read, write, time.perf_counter() - t


def bench_whole(tmp: Path, threads: int, methods: list[str], count: int = 4) -> None:
    """The whole 32-layer 7B-shaped adapter set: merge time / (read inputs + write output) per method."""
    shapes = {f"model.layers.{i}.{k}": s for i in range(32) for k, s in SHAPES.items()}
    adapters = [tmp / f"whole{i}" for i in range(count)]
    t = time.perf_counter()
    sizes = [write_adapter(a, seed=100 + i, shapes=shapes) for i, a in enumerate(adapters)]
    mib = 2**20
    print(f"whole Llama-2-7B-shaped adapter set: {len(shapes)} modules (32 layers × q k v o gate up down), r {R}, "
          f"{count} adapters of {sizes[0] / mib:.0f} MiB ({sum(sizes) / mib:.0f} MiB), written in "
          f"{time.perf_counter() - t:.1f} s; threads {threads}", flush=True)
    startup = time.perf_counter()
    peak_rss(LORAKIT + ["--help"])
    startup = time.perf_counter() - startup
    ratios = {}
    for method in methods:
        out = tmp / f"whole-{method}"
        res = run_lorakit(adapters, out, threads, method=method)
        read, write, sha = io_seconds(adapters, out, tmp)
        out_bytes = (out / "adapter_model.safetensors").stat().st_size
        ratios[method] = res["seconds"] / (read + write)
        print(f"{method:16s} merge {res['seconds']:6.2f} s (process {res['wall']:6.2f} s; `lorakit --help` alone "
              f"{startup:.2f} s; sha256 of the inputs for lorakit.json alone {sha:.2f} s), peak RSS "
              f"{res['peak_rss'] / mib:4.0f} MiB; read inputs {read:5.2f} s + write its {out_bytes / mib:.0f} MiB output "
              f"{write:5.2f} s = {read + write:5.2f} s (fastest of 3); ratio {ratios[method]:.2f}x", flush=True)
        shutil.rmtree(out)
    print("ratio merge / (read inputs + write output), target ≤ 3x: "
          + ", ".join(f"{m} {r:.2f}x" for m, r in ratios.items()))


def build_base(folder: Path) -> dict[str, int]:
    """A float32 Llama base in several safetensors shards; its byte counts."""
    import torch
    from safetensors import safe_open
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    torch.manual_seed(0)
    h, inter = BASE["hidden"], BASE["intermediate"]
    config = LlamaConfig(vocab_size=BASE["vocab"], hidden_size=h, intermediate_size=inter, num_hidden_layers=BASE["layers"],
                         num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=64, tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(str(folder), max_shard_size=BASE["shard"])
    shards = sorted(folder.glob("*.safetensors"))
    largest_tensor = 0
    for shard in shards:
        with safe_open(str(shard), framework="pt") as fh:
            for k in fh.keys():
                sl = fh.get_slice(k)
                n = 4
                for d in sl.get_shape():
                    n *= d
                largest_tensor = max(largest_tensor, n)
    sizes = [f.stat().st_size for f in shards]
    return {"total": sum(sizes), "largest_shard": max(sizes), "shards": len(sizes), "largest_tensor": largest_tensor}


def bench_into_base(tmp: Path, threads: int) -> None:
    """Peak RSS of ``merge --into-base`` against the model's bytes: about one shard + the adapters."""
    base = tmp / "base"
    sizes = build_base(base)
    h, inter = BASE["hidden"], BASE["intermediate"]
    shapes = {f"model.layers.{i}.{k}": s for i in range(BASE["layers"]) for k, s in {
        "self_attn.q_proj": (h, h), "self_attn.k_proj": (h, h), "self_attn.v_proj": (h, h), "self_attn.o_proj": (h, h),
        "mlp.gate_proj": (inter, h), "mlp.up_proj": (inter, h), "mlp.down_proj": (h, inter)}.items()}
    adapters = [tmp / f"base-lora{i}" for i in range(2)]
    adapter_bytes = sum(write_adapter(a, seed=10 + i, shapes=shapes) for i, a in enumerate(adapters))
    floor, _ = peak_rss([sys.executable, "-c", "import torch, safetensors, numpy"])
    res = run_lorakit(adapters, tmp / "merged-model", threads, "--into-base", str(base))
    mib = 2**20
    print(f"merge --into-base: model {sizes['total'] / mib:.0f} MiB in {sizes['shards']} shards (largest shard "
          f"{sizes['largest_shard'] / mib:.0f} MiB, largest tensor {sizes['largest_tensor'] / mib:.0f} MiB), 2 adapters "
          f"{adapter_bytes / mib:.0f} MiB on its {len(shapes)} linear layers: {res['seconds']:.1f} s, peak RSS "
          f"{res['peak_rss'] / mib:.0f} MiB ({res['peak_rss'] / sizes['total']:.2f}x the model's bytes) = a bare "
          f"`import torch, numpy` process ({floor / mib:.0f} MiB) + {(res['peak_rss'] - floor) / mib:.0f} MiB "
          f"(largest shard + adapters: {(sizes['largest_shard'] + adapter_bytes) / mib:.0f} MiB)", flush=True)


def run_peft(adapters: list[Path], subset: list[str], threads: int) -> tuple[float, dict]:
    import torch
    from peft import PeftModel
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(threads)
    config = LlamaConfig(vocab_size=128, hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
                         num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=64)
    model = LlamaForCausalLM(config).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = PeftModel.from_pretrained(model, str(adapters[0]), adapter_name="a0")
        for i, a in enumerate(adapters[1:], start=1):
            peft_model.load_adapter(str(a), adapter_name=f"a{i}")
        names = [f"a{i}" for i in range(len(adapters))]
        t = time.perf_counter()
        peft_model.add_weighted_adapter(names, [1.0] * len(names), "merged", combination_type="svd", svd_rank=R)
        seconds = time.perf_counter() - t
    layers = dict(peft_model.base_model.model.named_modules())
    deltas = {n: layers[n].get_delta_weight("merged") for n in subset}
    return seconds, deltas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--peft-modules", default="model.layers.0.self_attn.q_proj", help="comma list of modules PEFT merges")
    ap.add_argument("--counts", default="2,4,8,16")
    ap.add_argument("--whole", action="store_true", help="only the whole 32-layer 7B-shaped adapter set (see above)")
    ap.add_argument("--methods", default="uniform,cat,task-arithmetic", help="with --whole: the merge methods timed")
    args = ap.parse_args()
    import torch

    from lorakit.lora.adapters import open_adapter

    torch.set_num_threads(args.threads)
    subset = args.peft_modules.split(",")
    if args.whole:
        with tempfile.TemporaryDirectory(prefix="bench-merge-") as tmp_str:
            bench_whole(Path(tmp_str), args.threads, args.methods.split(","))
        return
    with tempfile.TemporaryDirectory(prefix="bench-merge-") as tmp_str:
        tmp = Path(tmp_str)
        counts = [int(c) for c in args.counts.split(",")]
        sizes = [write_adapter(tmp / f"full{i}", seed=i, shapes=modules()) for i in range(max(counts))]
        small = [tmp / f"sub{i}" for i in range(4)]
        for i, p in enumerate(small):
            write_adapter(p, seed=i, shapes=modules(subset))
        startup, _ = peak_rss(LORAKIT + ["merge", "--help"])
        print(f"adapters: {len(modules())} modules of 2 Llama-7B-shaped layers, r={R}, {sizes[0] / 2**20:.1f} MiB each; "
              f"threads {args.threads}; `lorakit merge --help` peak RSS {startup / 2**20:.0f} MiB", flush=True)

        # lorakit: all modules, 2..16 adapters, fresh process each
        rows = {}
        for n in counts:
            rows[n] = run_lorakit([tmp / f"full{i}" for i in range(n)], tmp / f"out{n}", args.threads)
            budget = 2 * sum(sizes[:n]) + 300 * 10**6
            print(f"lorakit task-arithmetic, {n:2d} adapters, 14 modules: {rows[n]['seconds']:7.2f} s  "
                  f"peak RSS {rows[n]['peak_rss'] / 2**20:4.0f} MiB (inputs {sum(sizes[:n]) / 2**20:.0f} MiB; "
                  f"limit 2x inputs + 300 MB = {budget / 2**20:.0f} MiB: {'ok' if rows[n]['peak_rss'] <= budget else 'OVER'})",
                  flush=True)

        bench_into_base(tmp, args.threads)

        # the PEFT subset, both sides on the same modules
        lk = run_lorakit(small, tmp / "sub-out", args.threads)
        print(f"lorakit on the PEFT subset ({', '.join(subset)}), 4 adapters: {lk['seconds']:.2f} s", flush=True)
        peft_s, peft_deltas = run_peft(small, subset, args.threads)
        print(f"PEFT add_weighted_adapter svd on the subset, 4 adapters: {peft_s:.1f} s "
              f"(est. {peft_s / len(subset) * 14:.0f} s for all 14 modules)", flush=True)

        # agreement: same ΔW up to the truncation error
        merged = open_adapter(tmp / "sub-out")
        inputs = [open_adapter(p) for p in small]
        for name in subset:
            B, A = merged.factors(name, torch.float64)
            ours = B @ A
            exact = sum(a.modules[name].scaling * (lambda f: f[0] @ f[1])(a.factors(name, torch.float64)) for a in inputs)
            norm = exact.norm()
            diff = float((ours - peft_deltas[name].double()).norm() / norm)
            trunc = float((exact - ours).norm() / norm)
            print(f"{name}: relative ΔW difference lorakit vs PEFT {diff:.2e}; truncation error (both) {trunc:.4f}")
        print("lorakit time vs adapters: " + ", ".join(f"{n}: {rows[n]['seconds']:.2f} s" for n in counts))
        ratio = peft_s / lk["seconds"]
        whole = (peft_s / len(subset) * 14) / rows[4]["seconds"] if 4 in rows else float("nan")
        print(f"speed ratio PEFT svd / lorakit task-arithmetic: {ratio:.0f}x on the same {len(subset)} module(s), "
              f"{whole:.0f}x for the whole 14-module adapter with PEFT extrapolated (target >= 50x)")


if __name__ == "__main__":
    main()
