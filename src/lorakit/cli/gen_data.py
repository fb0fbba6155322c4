"""``lorakit gen-data``: synthetic data sets (one subcommand per generator)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from lorakit.cli.common import Force, Json, Out, Quiet, Verbose, choice, choices, command, config_options, emit_json, log
from lorakit.data.faithfulness import PERTURBATIONS, FaithfulnessConfig
from lorakit.data.from_text import TextConfig
from lorakit.data.lang import LANGS
from lorakit.data.math_problems import MathConfig
from lorakit.data.minimal_pairs import TASKS as PAIR_TASKS, MinimalPairsConfig
from lorakit.data.twohop import EXAMPLE_FORMATS, TARGET_FORMATS, TEST_TEMPLATES, TwohopConfig
from lorakit.errors import UsageError

app = typer.Typer(help="Generate synthetic data sets.", no_args_is_help=True)


def _counts(out: Path, summary: dict[str, Any], json: bool, quiet: bool) -> None:
    """The summary with --json; the files written and their records on stderr."""
    if json:
        emit_json(summary)
    counts = ", ".join(f"{name} {n}" for name, n in summary["counts"].items())
    log(f"wrote {out}: {counts}", quiet)


@app.command("twohop")
@command
@config_options(TwohopConfig, test_templates=choice(TEST_TEMPLATES), questions_only=typer.Option("--questions-only"),
                example_format=choice(EXAMPLE_FORMATS), target_format=choice(TARGET_FORMATS), chat=typer.Option("--chat"),
                target_hops=typer.Option("--target-hops"))
def twohop(cfg: TwohopConfig, out: Out, force: Force = False, json: Json = False, quiet: Quiet = False,
           verbose: Verbose = False) -> None:
    """Two-hop facts (A spouse B, B lives in C): pretraining corpus, adapter data, test sets F/H/R."""
    from lorakit.data.twohop import write

    _counts(out, write(cfg, out, force), json, quiet)


F = FaithfulnessConfig()
T = TextConfig()


@app.command("faithfulness")
@command
@config_options(FaithfulnessConfig, lang=choice(LANGS), skip=("perturbations",))
def faithfulness(
    cfg: FaithfulnessConfig,
    out: Out,
    perturbation: choices(PERTURBATIONS, "--perturbation", help="Perturbation type(s) to use (repeatable; default all).") = None,
    from_text: Annotated[str | None, typer.Option("--from-text", help="Make the set from this real text in --lang instead (UTF-8, one paragraph a line; '-': stdin): sources are runs of 2-4 sentences of a paragraph, candidates one of them and its minimal edit (negation, number, word swap from the source or from elsewhere); corpus.txt is the other paragraphs.", show_default=False)] = None,
    pairs: Annotated[int | None, typer.Option("--pairs", help=f"With --from-text: records in test.jsonl, spread evenly over the perturbations (default {T.pairs}).", show_default=False)] = None,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """News documents with a faithful summary and a minimally edited unfaithful one (vi, pl, ka), or pairs from your own text."""
    if from_text is None:
        if pairs is not None:
            raise UsageError("--pairs needs --from-text (generated documents: --test-size)")
        from lorakit.data.faithfulness import write

        summary = write(replace(cfg, perturbations=tuple(perturbation or PERTURBATIONS)), out, force)
        detail, unit = "", "documents"
    else:
        given = [name for name, value, default in (("--corpus-mb", cfg.corpus_mb, F.corpus_mb), ("--test-size", cfg.test_size, F.test_size),
                                                    ("--perturbation", perturbation, None)) if value != default]  # fmt: skip
        if given:
            raise UsageError(f"{', '.join(given)}: not with --from-text (the text is the corpus; --pairs sets the test size)")
        from lorakit.data.from_text import write as write_text

        summary = write_text(TextConfig(text=from_text, lang=cfg.lang, pairs=T.pairs if pairs is None else pairs, seed=cfg.seed), out, force)
        detail, unit = " (" + ", ".join(f"{k} {n}" for k, n in summary["perturbations"].items()) + ")", "paragraphs"
    if json:
        emit_json(summary)
    log(f"wrote {out}: test.jsonl {summary['counts']['test.jsonl']} pairs{detail}, corpus.txt "
        f"{summary['counts']['corpus.txt']} {unit} ({summary['corpus_bytes'] / 1e6:.2f} MB)", quiet)


@app.command("math")
@command
@config_options(MathConfig)
def math(cfg: MathConfig, out: Out, force: Force = False, json: Json = False, quiet: Quiet = False,
         verbose: Verbose = False) -> None:
    """Math word problems (GSM-Symbolic style) by skill and level, solutions with <<a*b=c>> steps and '#### n'."""
    from lorakit.data.math_problems import write

    _counts(out, write(cfg, out, force), json, quiet)


@app.command("minimal-pairs")
@command
@config_options(MinimalPairsConfig, tasks=choices(PAIR_TASKS, "--task"), lang=choice(LANGS),
                convert={"tasks": lambda given: tuple(given or PAIR_TASKS)})
def minimal_pairs(cfg: MinimalPairsConfig, out: Out, force: Force = False, json: Json = False, quiet: Quiet = False,
                  verbose: Verbose = False) -> None:
    """Zero-shot minimal pairs (sentence order, word order, agreement) in the faithfulness record shape, for rescore."""
    from lorakit.data.minimal_pairs import write

    summary = write(cfg, out, force)
    if json:
        emit_json(summary)
    tasks = ", ".join(f"{name} {n}" for name, n in summary["tasks"].items())
    log(f"wrote {out}: test.jsonl {summary['counts']['test.jsonl']} pairs ({tasks})", quiet)
