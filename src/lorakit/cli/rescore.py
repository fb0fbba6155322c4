"""``lorakit rescore``: rerank candidates with a BERT (pseudo-log-likelihood and/or NSP) or the n-gram control."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakit.cli.common import Device, Force, Json, OutFile, Quiet, ShardOpt, Threads, Verbose, choice, command, emit_json, log, main_process_only
from lorakit.rescore import METHODS, VARIANTS

Opt = typer.Option


@command
def rescore(
    scorer: Annotated[str, typer.Argument(help="BERT folder (from pretrain-bert, or any BertForPreTraining/BertForMaskedLM); with the ngram method, a text file (one document per line).")],
    data: Annotated[str, typer.Argument(help="JSONL with 'source' and 'candidates' (a list of ≥ 2 strings); '-' = stdin.")],
    out: OutFile = None,
    method: Annotated[choice(METHODS), Opt(help="pll (pseudo-log-likelihood of the candidate given the source), nsp (log P(IsNext)), pll+nsp (sum), or ngram (source-blind control: a word-bigram LM trained on SCORER, mean log-prob per word).")] = "pll",
    pll_variant: Annotated[choice(VARIANTS), Opt(help="original (mask one token) or within-word (also mask the word's later pieces).")] = "original",
    contrast: Annotated[bool, Opt(help="Subtract the candidate's PLL without the source (cancels plain fluency).")] = False,
    batch_size: Annotated[int | None, Opt(help="Masked copies per forward pass (default: 32 on the CPU, 256 on an accelerator).", show_default=False)] = None,
    shard: ShardOpt = None,
    device: Device = "auto",
    threads: Threads = None,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Add 'scores' (per candidate, higher = better) and 'best' to every record; keep every input field."""
    import json as jsonlib

    from lorakit.errors import UsageError
    from lorakit.io import check_output, path_problems
    from lorakit.rescore.run import RescoreConfig, dumps_summary, rescore as run
    from lorakit.shard import shard_problems, write_output

    cfg = RescoreConfig(scorer=scorer, data=data, method=method, pll_variant=pll_variant, contrast=contrast,
                        batch_size=batch_size, device=device, threads=threads)
    cfg.validate()
    if problems := shard_problems(shard, out, [data]) + path_problems({"--out": out}, {"SCORER": scorer, "DATA": data}):
        raise UsageError("; ".join(problems))
    check_output(out, force, stdio=True)
    quiet, json = main_process_only(quiet, json)
    records, plan = run(cfg, shard)
    if not write_output(records, out, force, plan, data, "rescore"):
        return
    summary = jsonlib.loads(dumps_summary(records))
    if json and out not in (None, "-"):
        emit_json({"out": out, **summary})
    acc = "" if summary["accuracy"] is None else f", best = label in {summary['accuracy']:.1%}"
    log(f"scored {summary['records']} records ({cfg.method}{' contrast' if contrast else ''}){acc}", quiet)
