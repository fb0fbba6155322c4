"""``lorakit train-lora``: a LoRA adapter on prompt/completion JSONL (loss on the completion only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lorakit.cli.common import Device, Force, Json, Out, Quiet, Seed, Threads, Verbose, command, emit_json, log, progress

Opt = typer.Option


@command
def train_lora(
    base: Annotated[Path, typer.Argument(help="Base model: a local Hugging Face causal-LM folder.")],
    data: Annotated[str, typer.Argument(help="Prompt/completion JSONL ('-' for stdin).")],
    out: Out,
    rank: Annotated[int, Opt(help="LoRA rank r.")] = 16,
    alpha: Annotated[float, Opt(help="LoRA alpha (scale = alpha / r).")] = 32.0,
    dropout: Annotated[float, Opt(help="LoRA dropout.")] = 0.0,
    targets: Annotated[str, Opt(help="Modules to adapt: all-linear, or a comma list such as q_proj,v_proj.")] = "all-linear",
    lr: Annotated[float, Opt(help="Peak learning rate (AdamW).")] = 2e-3,
    epochs: Annotated[int, Opt(help="Passes over the data.")] = 40,
    batch_size: Annotated[int, Opt(help="Examples per optimizer step (length-grouped).")] = 32,
    clip: Annotated[float, Opt(help="Gradient-norm clipping (0: off).")] = 1.0,
    weight_decay: Annotated[float, Opt(help="AdamW weight decay (LoRA matrices).")] = 0.0,
    warmup: Annotated[float, Opt(help="Fraction of the steps spent in linear warmup, then cosine decay to 0.")] = 0.03,
    max_len: Annotated[int | None, Opt(help="Truncate examples to this many tokens (default: the model's positions).")] = None,
    checkpoint_every: Annotated[int, Opt(help="Save a checkpoint to OUT.ckpt every N steps (0: only on Ctrl-C).")] = 0,
    resume: Annotated[bool, Opt(help="Continue from OUT.ckpt (left by Ctrl-C or --checkpoint-every) if it exists; same options required.")] = False,
    device: Device = "auto",
    seed: Seed = 0,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
    threads: Threads = None,
) -> None:
    """Train a LoRA adapter on a base model; write a PEFT adapter folder (loads with PeftModel.from_pretrained)."""
    from lorakit.lora.train import LoraTrainConfig, train_lora as run
    from lorakit.runtime import quiet_libraries, set_threads

    quiet_libraries()
    set_threads(threads)
    cfg = LoraTrainConfig(
        base=base, data=data, out=out, rank=rank, alpha=alpha, dropout=dropout, targets=targets, lr=lr, epochs=epochs,
        batch_size=batch_size, clip=clip, weight_decay=weight_decay, warmup=warmup, max_len=max_len,
        checkpoint_every=checkpoint_every, resume=resume, device=device, seed=seed, force=force,
    )
    with progress(quiet) as report:
        result = run(cfg, report)
    if json:
        emit_json(result.summary())
    log(f"wrote {out}: {result.examples} examples, {result.trainable_parameters:,} LoRA parameters, "
        f"{result.fit.steps} steps, final loss {result.fit.final_loss:.4f}, "
        f"{result.fit.tokens_per_second:,.0f} tokens/s", quiet)
