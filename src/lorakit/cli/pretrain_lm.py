"""``lorakit pretrain-lm``: a tokenizer and a small Llama causal LM trained from scratch."""

from __future__ import annotations

import typer

from lorakit.cli.common import Json, Quiet, Threads, Verbose, choice, command, config_options, emit_json, log, main_process_only, progress
from lorakit.models.presets import PRESETS
from lorakit.models.pretrain_lm import PretrainConfig


@command
@config_options(PretrainConfig, corpus=typer.Argument(), preset=choice(PRESETS))
def pretrain_lm(cfg: PretrainConfig, json: Json = False, quiet: Quiet = False, verbose: Verbose = False,
                threads: Threads = None) -> None:
    """Pretrain a small Llama causal LM (and its tokenizer) on a text corpus; write an HF model folder."""
    from lorakit.models.pretrain_lm import pretrain
    from lorakit.runtime import quiet_libraries, set_threads

    quiet_libraries()
    set_threads(threads)
    quiet, json = main_process_only(quiet, json)
    with progress(quiet) as report:
        result = pretrain(cfg, report)
    if json:
        emit_json(result.summary())
    log(f"wrote {cfg.out}: {result.parameters:,} parameters, vocab {result.vocab_size}, {result.fit.steps} steps, "
        f"final loss {result.fit.final_loss:.4f}, {result.fit.tokens_per_second:,.0f} tokens/s", quiet)
