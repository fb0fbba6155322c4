"""``lorakit gen-data``: synthetic data sets (one subcommand per generator)."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakit.cli.common import Force, Json, Out, Quiet, Seed, Verbose, command, emit_json, log
from lorakit.data.twohop import TwohopConfig

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
    test_templates: Annotated[str, typer.Option("--test-templates", help="same: test files use the first question template; heldout: the last one, never trained on.")] = D.test_templates,
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
                       test_templates=test_templates)  # fmt: skip
    summary = write(cfg, out, force)
    if json:
        emit_json(summary)
    counts = ", ".join(f"{name} {n}" for name, n in summary["counts"].items())
    log(f"wrote {out}: {counts}", quiet)
