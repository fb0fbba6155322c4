"""``lorakit gen-data``: synthetic data sets (one subcommand per generator)."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakit.cli.common import Force, Json, Out, Quiet, Seed, Verbose, choice, choices, command, emit_json, log
from lorakit.data.faithfulness import PERTURBATIONS, FaithfulnessConfig
from lorakit.data.from_text import TextConfig
from lorakit.data.lang import LANGS
from lorakit.data.math import MathConfig
from lorakit.data.minimal_pairs import TASKS as PAIR_TASKS, MinimalPairsConfig
from lorakit.data.twohop import EXAMPLE_FORMATS, TARGET_FORMATS, TEST_TEMPLATES, TwohopConfig
from lorakit.errors import UsageError

D = TwohopConfig()  # defaults live in the config only

app = typer.Typer(help="Generate synthetic data sets.", no_args_is_help=True)


@app.command("twohop")
@command
def twohop(
    out: Out,
    seed: Seed = 0,
    familiar_couples: Annotated[int, typer.Option("--familiar-couples", help="Couples whose spouse, city and employer are pretrained.")] = D.familiar_couples,
    two_hop_examples: Annotated[int, typer.Option("--two-hop-examples", help="Familiar couples whose two-hop fact is pretrained too; the rest form control.jsonl.")] = D.two_hop_examples,
    familiar_singles: Annotated[int, typer.Option("--familiar-singles", help="Unmarried familiar people (0: 3 × --new-per-split).")] = D.familiar_singles,
    new_per_split: Annotated[int, typer.Option("--new-per-split", help="Items in each of test_F, test_H, test_R.")] = D.new_per_split,
    target: Annotated[int, typer.Option("--target", help="Fresh couples in target.jsonl (target-relation expert data).")] = D.target,
    cities: Annotated[int, typer.Option("--cities", help="Cities (single words).")] = D.cities,
    countries: Annotated[int, typer.Option("--countries", help="Countries.")] = D.countries,
    orgs: Annotated[int, typer.Option("--orgs", help="Organisations (employers).")] = D.orgs,
    repeat: Annotated[int, typer.Option("--repeat", help="Times each pretrain.txt line is repeated (then shuffled).")] = D.repeat,
    recall_size: Annotated[int, typer.Option("--recall-size", help="Most familiar single-hop facts in recall.jsonl.")] = D.recall_size,
    test_templates: Annotated[choice(TEST_TEMPLATES), typer.Option("--test-templates", help="same: test files use the first question template; heldout: the last one, never trained on.")] = D.test_templates,
    questions_only: Annotated[bool, typer.Option("--questions-only", help="Adapter data asks each fact as questions only (default: also stated as in pretrain.txt, \"A is married to\" → \" B.\").")] = D.questions_only,
    example_format: Annotated[choice(EXAMPLE_FORMATS), typer.Option("--example-format", help="Two-hop example lines in pretrain.txt: latent (\" C\"), bridge (\" B lives in C.\") or both.")] = D.example_format,
    target_format: Annotated[choice(TARGET_FORMATS), typer.Option("--target-format", help="Two-hop questions in target.jsonl (and mixed.jsonl): latent (\" C\"), bridge (\" B lives in C.\": teaches the format to a base that never saw it) or both.")] = D.target_format,
    chat: Annotated[bool, typer.Option("--chat", help="Write the JSONL files as chat records (\"messages\": user question, assistant answer) for a model's chat template; statements: \"What do you know about A?\" → \"A is married to B.\".")] = D.chat,
    system: Annotated[str | None, typer.Option("--system", help="With --chat: a system turn first in every record (default none; the model's template may add its own).", show_default=False)] = D.system,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Two-hop facts (A spouse B, B lives in C): pretraining corpus, adapter data, test sets F/H/R."""
    from lorakit.data.twohop import write

    cfg = TwohopConfig(seed=seed, familiar_couples=familiar_couples, two_hop_examples=two_hop_examples,
                       familiar_singles=familiar_singles, new_per_split=new_per_split, target=target, cities=cities,
                       countries=countries, orgs=orgs, repeat=repeat, recall_size=recall_size,
                       test_templates=test_templates, questions_only=questions_only,
                       example_format=example_format, target_format=target_format, chat=chat, system=system)  # fmt: skip
    summary = write(cfg, out, force)
    if json:
        emit_json(summary)
    counts = ", ".join(f"{name} {n}" for name, n in summary["counts"].items())
    log(f"wrote {out}: {counts}", quiet)


F = FaithfulnessConfig()
T = TextConfig()


@app.command("faithfulness")
@command
def faithfulness(
    out: Out,
    lang: Annotated[choice(LANGS), typer.Option("--lang", help="vi (Vietnamese), pl (Polish) or ka (Georgian, Mkhedruli).")] = F.lang,
    corpus_mb: Annotated[float, typer.Option("--corpus-mb", help="Size of corpus.txt (pretraining documents, none in the test set) in MB.")] = F.corpus_mb,
    test_size: Annotated[int, typer.Option("--test-size", help="Records in test.jsonl, spread evenly over the perturbation types.")] = F.test_size,
    perturbation: choices(PERTURBATIONS, "--perturbation", help="Perturbation type(s) to use (repeatable; default all).") = None,
    from_text: Annotated[str | None, typer.Option("--from-text", help="Make the set from this real text in --lang instead (UTF-8, one paragraph a line; '-': stdin): sources are runs of 2-4 sentences of a paragraph, candidates one of them and its minimal edit (negation, number, word swap from the source or from elsewhere); corpus.txt is the other paragraphs.", show_default=False)] = None,
    pairs: Annotated[int | None, typer.Option("--pairs", help=f"With --from-text: records in test.jsonl, spread evenly over the perturbations (default {T.pairs}).", show_default=False)] = None,
    seed: Seed = 0,
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

        cfg = FaithfulnessConfig(lang=lang, corpus_mb=corpus_mb, test_size=test_size,
                                 perturbations=tuple(perturbation or PERTURBATIONS), seed=seed)
        summary = write(cfg, out, force)
        detail, unit = "", "documents"
    else:
        given = [name for name, value, default in (("--corpus-mb", corpus_mb, F.corpus_mb), ("--test-size", test_size, F.test_size),
                                                    ("--perturbation", perturbation, None)) if value != default]  # fmt: skip
        if given:
            raise UsageError(f"{', '.join(given)}: not with --from-text (the text is the corpus; --pairs sets the test size)")
        from lorakit.data.from_text import write as write_text

        summary = write_text(TextConfig(text=from_text, lang=lang, pairs=T.pairs if pairs is None else pairs, seed=seed), out, force)
        detail, unit = " (" + ", ".join(f"{k} {n}" for k, n in summary["perturbations"].items()) + ")", "paragraphs"
    if json:
        emit_json(summary)
    log(f"wrote {out}: test.jsonl {summary['counts']['test.jsonl']} pairs{detail}, corpus.txt "
        f"{summary['counts']['corpus.txt']} {unit} ({summary['corpus_bytes'] / 1e6:.2f} MB)", quiet)


M = MathConfig()


@app.command("math")
@command
def math(
    out: Out,
    seed: Seed = 0,
    skills: Annotated[str, typer.Option("--skills", help="Comma-separated skills: add (+ -), mul (× ÷), pct (p % of).")] = M.skills,
    levels: Annotated[str, typer.Option("--levels", help="Comma-separated levels: P0 base template, P1 one added clause, P2 two.")] = M.levels,
    train_per_skill: Annotated[int, typer.Option("--train-per-skill", help="Problems in each skill_<skill>.jsonl.")] = M.train_per_skill,
    train_composed: Annotated[int, typer.Option("--train-composed", help="Problems in composed.jsonl (the composed-skill control's data; names and number chains of its own).")] = M.train_composed,
    test_per_level: Annotated[int, typer.Option("--test-per-level", help="Problems per level in each test file.")] = M.test_per_level,
    min_number: Annotated[int, typer.Option("--min-number", help="Smallest quantity, operand, intermediate result or answer.")] = M.min_number,
    max_number: Annotated[int, typer.Option("--max-number", help="Largest quantity, operand, intermediate result or answer.")] = M.max_number,
    stories: Annotated[int, typer.Option("--stories", help="Unsolved problems in the adapters' templates in pretrain.txt (their words only).")] = M.stories,
    repeat: Annotated[int, typer.Option("--repeat", help="Times each pretrain.txt line is repeated (then shuffled).")] = M.repeat,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Math word problems (GSM-Symbolic style) by skill and level, solutions with <<a*b=c>> steps and '#### n'."""
    from lorakit.data.math import write

    cfg = MathConfig(seed=seed, skills=skills, levels=levels, train_per_skill=train_per_skill, train_composed=train_composed,
                     test_per_level=test_per_level, min_number=min_number, max_number=max_number, stories=stories,
                     repeat=repeat)
    summary = write(cfg, out, force)
    if json:
        emit_json(summary)
    counts = ", ".join(f"{name} {n}" for name, n in summary["counts"].items())
    log(f"wrote {out}: {counts}", quiet)


P = MinimalPairsConfig()


@app.command("minimal-pairs")
@command
def minimal_pairs(
    out: Out,
    task: choices(PAIR_TASKS, "--task", help="Minimal-pair task(s) (repeatable; default all): coherent vs shuffled document, sentence vs adjacent-word swap, correct vs broken agreement.") = None,
    lang: Annotated[choice(LANGS), typer.Option("--lang", help="vi (Vietnamese), pl (Polish) or ka (Georgian, Mkhedruli).")] = P.lang,
    test_size: Annotated[int, typer.Option("--test-size", help="Records in test.jsonl, spread evenly over the tasks.")] = P.test_size,
    seed: Seed = 0,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Zero-shot minimal pairs (sentence order, word order, agreement) in the faithfulness record shape, for rescore."""
    from lorakit.data.minimal_pairs import write

    cfg = MinimalPairsConfig(lang=lang, tasks=tuple(task or PAIR_TASKS), test_size=test_size, seed=seed)
    summary = write(cfg, out, force)
    if json:
        emit_json(summary)
    tasks = ", ".join(f"{name} {n}" for name, n in summary["tasks"].items())
    log(f"wrote {out}: test.jsonl {summary['counts']['test.jsonl']} pairs ({tasks})", quiet)
