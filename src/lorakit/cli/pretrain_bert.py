"""``lorakit pretrain-bert``: a SentencePiece unigram tokenizer and a BERT trained from scratch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lorakit.cli.common import CacheDir, CheckpointEvery, Clip, Compile, Device, Epochs, Force, GradAccum, Json, LogFile, Lr, NumProc, Out, Quiet, Resume, Seed, Steps, Threads, TokenizerSample, Verbose, Warmup, WeightDecay, choice, command, emit_json, log, main_process_only, progress
from lorakit.models import OBJECTIVES, POSITION_INITS, TOKENIZER_TYPES

Opt = typer.Option


@command
def pretrain_bert(
    corpus: Annotated[str, typer.Argument(help="Text file (one document per line), JSONL with a \"text\" field, a local datasets folder, or '-'.")],
    out: Out,
    vocab_size: Annotated[int, Opt(help="Pieces of the SentencePiece tokenizer (an error if the corpus supports fewer).")] = 4000,
    tokenizer_type: Annotated[choice(TOKENIZER_TYPES), Opt(help="SentencePiece model: unigram, or bpe (keeps whole words on small or templated corpora).")] = "unigram",
    layers: Annotated[int, Opt(help="Transformer layers.")] = 4,
    hidden: Annotated[int, Opt(help="Hidden size.")] = 256,
    heads: Annotated[int, Opt(help="Attention heads (hidden must be a multiple).")] = 4,
    intermediate: Annotated[int, Opt(help="Feed-forward width.")] = 1024,
    dropout: Annotated[float, Opt(help="Hidden-layer dropout.")] = 0.1,
    attention_dropout: Annotated[float | None, Opt(help="Attention dropout (default: --dropout).")] = None,
    objective: Annotated[choice(OBJECTIVES), Opt(help="mlm, mlm+nsp (next sentence) or mlm+sop (sentence order).")] = "mlm+nsp",
    max_seq_len: Annotated[int, Opt(help="Tokens per sentence pair, [CLS]/[SEP] included (also the position limit).")] = 128,
    whole_word_masking: Annotated[bool, Opt(help="Mask every piece of a chosen word.")] = False,
    position_init: Annotated[choice(POSITION_INITS), Opt(help="Position embeddings' start values: random (BERT's) or sinusoidal (the transformer's sine table; copying from segment A was learned sooner on the demo).")] = "random",
    mask_prob: Annotated[float, Opt(help="Fraction of tokens to predict (80 % [MASK], 10 % random, 10 % kept).")] = 0.15,
    group_by_length: Annotated[bool, Opt(help="Batch sentence pairs of like length (sorted within windows of 64 batches; less padding).")] = False,
    tokenizer_sample: TokenizerSample = 32.0,
    cache_dir: CacheDir = None,
    num_proc: NumProc = 1,
    steps: Steps = None,
    epochs: Epochs = 3,
    batch_size: Annotated[int, Opt(help="Sentence pairs per optimizer step.")] = 32,
    lr: Lr = 5e-4,
    warmup: Warmup = 0.05,
    weight_decay: WeightDecay = 0.01,
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
    """Pretrain a BERT (BertForPreTraining) and its SentencePiece tokenizer from scratch; write an HF model folder."""
    from lorakit.models.bert import BertPretrainConfig, pretrain_bert as run
    from lorakit.runtime import quiet_libraries, set_threads

    quiet_libraries()
    set_threads(threads)
    quiet, json = main_process_only(quiet, json)
    cfg = BertPretrainConfig(
        corpus=corpus, out=Path(out), vocab_size=vocab_size, layers=layers, hidden=hidden, heads=heads,
        intermediate=intermediate, dropout=dropout, attention_dropout=attention_dropout, objective=objective,
        max_seq_len=max_seq_len, tokenizer_type=tokenizer_type, position_init=position_init,
        whole_word_masking=whole_word_masking, mask_prob=mask_prob, group_by_length=group_by_length, steps=steps,
        epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup, weight_decay=weight_decay, clip=clip,
        checkpoint_every=checkpoint_every, resume=resume, device=device, seed=seed, force=force,
        grad_accum=grad_accum, log_file=log_file, compile=compile, cache_dir=cache_dir, num_proc=num_proc, tokenizer_sample=tokenizer_sample,
    )
    with progress(quiet) as report:
        result = run(cfg, report)
    if json:
        emit_json(result.summary())
    log(f"wrote {out}: {result.parameters:,} parameters, vocab {result.vocab_size}, {result.fit.steps} steps, "
        f"final loss {result.fit.final_loss:.4f}, {result.fit.tokens_per_second:,.0f} tokens/s", quiet)
