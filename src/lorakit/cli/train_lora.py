"""``lorakit train-lora``: a LoRA adapter on prompt/completion or chat records (loss on the completion only)."""

from __future__ import annotations

import typer

from lorakit.cli.common import Json, Quiet, Threads, Verbose, command, config_options, emit_json, log, main_process_only, progress
from lorakit.lora.train import LoraTrainConfig


@command
@config_options(LoraTrainConfig, base=typer.Argument(), data=typer.Argument())
def train_lora(cfg: LoraTrainConfig, json: Json = False, quiet: Quiet = False, verbose: Verbose = False,
               threads: Threads = None) -> None:
    """Train a LoRA adapter on a base model; write a PEFT adapter folder (loads with PeftModel.from_pretrained)."""
    from lorakit.lora.train import train_lora as run
    from lorakit.runtime import quiet_libraries, set_threads

    quiet_libraries()
    set_threads(threads)
    quiet, json = main_process_only(quiet, json)
    with progress(quiet) as report:
        result = run(cfg, report)
    if result.truncated:
        log(f"{result.truncated} prompt(s) longer than the model's positions were cut from the left", quiet)
    if json:
        emit_json(result.summary())
    log(f"wrote {cfg.out}: {result.examples} examples, {result.trainable_parameters:,} LoRA parameters, "
        f"{result.fit.steps} steps, final loss {result.fit.final_loss:.4f}, "
        f"{result.fit.tokens_per_second:,.0f} tokens/s", quiet)
