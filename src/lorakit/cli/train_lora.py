"""``lorakit train-lora``: a LoRA adapter on prompt/completion or chat records (loss on the completion only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lorakit.cli.common import CheckpointEvery, Clip, Compile, CompletionField, Device, Epochs, Force, GradAccum, Json, LogFile, Lr, Out, PromptField, Quiet, Resume, Seed, Threads, Verbose, Warmup, WeightDecay, command, emit_json, log, main_process_only, progress

Opt = typer.Option


@command
def train_lora(
    base: Annotated[Path, typer.Argument(help="Base model: a local Hugging Face causal-LM folder.")],
    data: Annotated[str, typer.Argument(help="Prompt/completion or chat ('messages') records: JSONL ('-' for stdin), a JSON array, a datasets folder or a Parquet file.")],
    out: Out,
    prompt_field: PromptField = "prompt",
    completion_field: CompletionField = "completion",
    rank: Annotated[int, Opt(help="LoRA rank r.")] = 16,
    alpha: Annotated[float, Opt(help="LoRA alpha (scale = alpha / r).")] = 32.0,
    dropout: Annotated[float, Opt(help="LoRA dropout.")] = 0.0,
    targets: Annotated[str, Opt(help="Modules to adapt: all-linear, or a comma list such as q_proj,v_proj.")] = "all-linear",
    lr: Lr = 2e-3,
    epochs: Epochs = 40,
    batch_size: Annotated[int, Opt(help="Examples per optimizer step (length-grouped).")] = 32,
    clip: Clip = 1.0,
    weight_decay: WeightDecay = 0.0,
    warmup: Warmup = 0.03,
    max_len: Annotated[int | None, Opt(help="Truncate examples to this many tokens (default: the model's positions).")] = None,
    checkpoint_every: CheckpointEvery = 0,
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
    """Train a LoRA adapter on a base model; write a PEFT adapter folder (loads with PeftModel.from_pretrained)."""
    from lorakit.lora.train import LoraTrainConfig, train_lora as run
    from lorakit.runtime import quiet_libraries, set_threads

    quiet_libraries()
    set_threads(threads)
    quiet, json = main_process_only(quiet, json)
    cfg = LoraTrainConfig(
        base=base, data=data, out=out, prompt_field=prompt_field, completion_field=completion_field, rank=rank, alpha=alpha, dropout=dropout, targets=targets, lr=lr, epochs=epochs,
        batch_size=batch_size, clip=clip, weight_decay=weight_decay, warmup=warmup, max_len=max_len,
        checkpoint_every=checkpoint_every, resume=resume, device=device, seed=seed, force=force, grad_accum=grad_accum, log_file=log_file, compile=compile,
    )
    with progress(quiet) as report:
        result = run(cfg, report)
    if result.truncated:
        log(f"{result.truncated} prompt(s) longer than the model's positions were cut from the left", quiet)
    if json:
        emit_json(result.summary())
    log(f"wrote {out}: {result.examples} examples, {result.trainable_parameters:,} LoRA parameters, "
        f"{result.fit.steps} steps, final loss {result.fit.final_loss:.4f}, "
        f"{result.fit.tokens_per_second:,.0f} tokens/s", quiet)
