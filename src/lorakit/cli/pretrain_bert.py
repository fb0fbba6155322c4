"""``lorakit pretrain-bert``: a SentencePiece tokenizer and a BERT trained from scratch."""

from __future__ import annotations

import typer

from lorakit.cli.common import Json, Quiet, Threads, Verbose, choice, command, config_options, emit_json, log, main_process_only, progress
from lorakit.models import OBJECTIVES, POSITION_INITS, TOKENIZER_TYPES
from lorakit.models.bert_options import BertPretrainConfig


@command
@config_options(BertPretrainConfig, corpus=typer.Argument(), objective=choice(OBJECTIVES),
                tokenizer_type=choice(TOKENIZER_TYPES), position_init=choice(POSITION_INITS))
def pretrain_bert(cfg: BertPretrainConfig, json: Json = False, quiet: Quiet = False, verbose: Verbose = False,
                  threads: Threads = None) -> None:
    """Pretrain a BERT (BertForPreTraining) and its SentencePiece tokenizer from scratch; write an HF model folder."""
    from lorakit.models.pretrain_bert import pretrain_bert as run
    from lorakit.runtime import quiet_libraries, set_threads

    quiet_libraries()
    set_threads(threads)
    quiet, json = main_process_only(quiet, json)
    with progress(quiet) as report:
        result = run(cfg, report)
    if json:
        emit_json(result.summary())
    log(f"wrote {cfg.out}: {result.parameters:,} parameters, vocab {result.vocab_size}, {result.fit.steps} steps, "
        f"final loss {result.fit.final_loss:.4f}, {result.fit.tokens_per_second:,.0f} tokens/s", quiet)
