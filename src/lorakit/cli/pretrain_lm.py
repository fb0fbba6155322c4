"""``lorakit pretrain-lm``: a tokenizer and a small Llama causal LM trained from scratch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lorakit.cli.common import CacheDir, CheckpointEvery, Clip, Compile, Device, Epochs, Force, GradAccum, Json, LogFile, Lr, NumProc, Out, Quiet, Resume, Seed, Steps, Threads, TokenizerSample, Verbose, Warmup, WeightDecay, choice, command, emit_json, log, main_process_only, progress
from lorakit.models.presets import PRESETS

Opt = typer.Option


@command
def pretrain_lm(
    corpus: Annotated[str, typer.Argument(help="Text file (one document per line), JSONL with a \"text\" field, a local datasets folder (save_to_disk; its \"text\" column), or '-' for stdin.")],
    out: Out,
    preset: Annotated[choice(PRESETS), Opt(help="Model shape: tiny (hidden 128, 4 layers, 4 heads) or small (hidden 256, 6 layers, 8 heads).")] = "tiny",
    layers: Annotated[int | None, Opt(help="Override the preset's number of layers.")] = None,
    hidden: Annotated[int | None, Opt(help="Override the preset's hidden size (MLP width scales with it).")] = None,
    heads: Annotated[int | None, Opt(help="Override the preset's attention heads.")] = None,
    tokenizer: Annotated[Path | None, Opt(help="Reuse this HF tokenizer folder instead of training one.")] = None,
    vocab_size: Annotated[int, Opt(help="Most pieces of the trained SentencePiece BPE tokenizer.")] = 512,
    tokenizer_sample: TokenizerSample = 32.0,
    cache_dir: CacheDir = None,
    num_proc: NumProc = 1,
    epochs: Epochs = 10,
    steps: Steps = None,
    batch_size: Annotated[int, Opt(help="Blocks per optimizer step.")] = 32,
    block_size: Annotated[int, Opt(help="Tokens per block (whole lines packed, EOS between lines).")] = 128,
    lr: Lr = 1e-3,
    warmup: Warmup = 0.05,
    weight_decay: WeightDecay = 0.1,
    clip: Clip = 1.0,
    checkpoint_every: CheckpointEvery = 1000,
    resume: Resume = False,
    grad_accum: GradAccum = 1,
    log_file: LogFile = None,
    compile: Compile = False,
    device: Device = "auto",
    seed: Seed = 0,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
    threads: Threads = None,
) -> None:
    """Pretrain a small Llama causal LM (and its tokenizer) on a text corpus; write an HF model folder."""
    from lorakit.models.pretrain import PretrainConfig, pretrain
    from lorakit.runtime import quiet_libraries, set_threads

    quiet_libraries()
    set_threads(threads)
    quiet, json = main_process_only(quiet, json)
    cfg = PretrainConfig(
        corpus=corpus, out=out, preset=preset, layers=layers, hidden=hidden, heads=heads, tokenizer=tokenizer,
        vocab_size=vocab_size, epochs=epochs, steps=steps, batch_size=batch_size, block_size=block_size, lr=lr,
        warmup=warmup, weight_decay=weight_decay, clip=clip, checkpoint_every=checkpoint_every, resume=resume,
        device=device, seed=seed, force=force, grad_accum=grad_accum, log_file=log_file, compile=compile, cache_dir=cache_dir,
        num_proc=num_proc, tokenizer_sample=tokenizer_sample,
    )
    with progress(quiet) as report:
        result = pretrain(cfg, report)
    if json:
        emit_json(result.summary())
    log(f"wrote {out}: {result.parameters:,} parameters, vocab {result.vocab_size}, {result.fit.steps} steps, "
        f"final loss {result.fit.final_loss:.4f}, {result.fit.tokens_per_second:,.0f} tokens/s", quiet)
