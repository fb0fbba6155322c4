"""The example makefiles' lorakit command lines parse with the current CLI (``make -n``: nothing runs)."""

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import typer

from lorakit.cli import app

ROOT = Path(__file__).resolve().parents[1]
MAKEFILES = sorted(p.name for p in (ROOT / "examples").glob("*.mk"))
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def dry_run(makefile: str, *overrides: str) -> list[list[str]]:
    """The arguments of every ``lorakit`` command ``make -n`` prints for ``makefile`` (pipes split)."""
    return lorakit_lines(["-f", f"examples/{makefile}", "RUN=/nonexistent/dry", "LORAKIT=lorakit", *overrides])


def lorakit_lines(make_args: list[str]) -> list[list[str]]:
    out = subprocess.run(["make", "-n", "--no-print-directory", *make_args],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    commands = []
    for line in out.replace("\\\n", " ").splitlines():
        for part in line.split("|"):
            words = shlex.split(part)
            if words and Path(words[0]).name == "lorakit":
                commands.append(words[1:])
    return commands


def parse(args: list[str]):
    """Parse ``args`` as the lorakit command line would (types, choices, unknown options), without
    running it; the (sub)command's context. (Typer 0.29 carries its own click: groups are duck-typed.)"""
    cmd, name = typer.main.get_command(app), "lorakit"
    while hasattr(cmd, "commands"):  # a group: the next word names its subcommand
        name, args = args[0], args[1:]
        cmd = cmd.commands[name]
    return cmd.make_context(name, list(args))


@pytest.mark.parametrize("makefile", MAKEFILES)
def test_every_lorakit_line_of_an_example_parses(makefile):
    commands = dry_run(makefile)
    assert commands, f"make -n printed no lorakit command for {makefile}"
    for args in commands:
        parse(args)  # raises a UsageError on an unknown option or a bad value


def test_faithfulness_model_size_reaches_pretrain_bert():
    commands = dry_run("faithfulness.mk", "HIDDEN=96", "HEADS=3", "INTERMEDIATE=256")
    lines = [a for a in commands if a[0] == "pretrain-bert"]
    assert len(lines) == 3  # one BERT per language
    for args in lines:
        params = parse(args).params
        assert (params["hidden"], params["heads"], params["intermediate"]) == (96, 3, 256)


def test_faithfulness_per_language_settings_reach_their_language_only():
    commands = dry_run("faithfulness.mk", "HIDDEN_vi=64", "STEPS_ka=4000")
    got = {a[1].split("/")[-2]: parse(a).params for a in commands if a[0] == "pretrain-bert"}
    assert {k: (p["hidden"], p["steps"]) for k, p in got.items()} == \
        {"data-vi": (64, 2000), "data-pl": (128, 2000), "data-ka": (128, 4000)}


def test_faithfulness_without_minimal_pairs():
    commands = dry_run("faithfulness.mk", "PAIRS_SIZE=0")
    names = {a[0] + " " + a[1] for a in commands}
    assert "gen-data faithfulness" in names and not any("minimal-pairs" in n for n in names)
    report = [a for a in commands if a[0] == "report"][0]
    assert report[1:2] == ["faithfulness=/nonexistent/dry/eval"] and "minimal-pairs" not in " ".join(report)


def test_make_demo_runs_both_studies():
    """``make demo``'s two parts (the top Makefile, dry): the two-hop study and the rescoring study
    at demo size, every step on one thread."""
    commands = lorakit_lines(["demo-twohop", "demo-faith-small", "DEMO_RUN=/nonexistent/dry",
                              "DEMO_FAITH_RUN=/nonexistent/dry-faith"])
    names = [a[0] for a in commands]
    assert {"train-lora", "merge", "route"} <= set(names) and names.count("pretrain-bert") == 3
    for args in commands:
        params = parse(args).params
        if args[0] in ("pretrain-lm", "pretrain-bert", "train-lora", "rescore", "route"):
            assert params["threads"] == 1, args
        if args[0] == "pretrain-bert":
            size = args[1].split("/")[-2][-2:], params["hidden"], params["steps"]
            assert size in (("vi", 64, 2000), ("pl", 128, 1500), ("ka", 96, 2000)) and params["group_by_length"]
        if args[0] == "gen-data" and args[1] == "faithfulness":
            assert "--test-size" in args and args[args.index("--test-size") + 1] == "100"


def test_faithreal_scores_the_bert_and_the_source_blind_control_on_the_same_pairs():
    commands = dry_run("faithreal.mk", "REAL_TEXT=/nonexistent/text")
    gen = [a for a in commands if a[:2] == ["gen-data", "faithfulness"]]
    assert [parse(a).params["from_text"] for a in gen] == [f"/nonexistent/text/{x}.txt" for x in ("pl", "vi", "ka")]
    scored = {parse(a).params["out"].split("/")[-1]: parse(a).params for a in commands if a[0] == "rescore"}
    for lang in ("pl", "vi", "ka"):
        bert, ngram = scored[f"bert-scored-{lang}.jsonl"], scored[f"ngram-scored-{lang}.jsonl"]
        assert bert["data"] == ngram["data"] == f"/nonexistent/dry/data-{lang}/test.jsonl"
        assert (bert["method"], bert["contrast"], bert["scorer"]) == ("pll", False, f"/nonexistent/dry/bert-{lang}")
        assert (ngram["method"], ngram["scorer"]) == ("ngram", f"/nonexistent/dry/data-{lang}/corpus.txt")
    report = [a for a in commands if a[0] == "report"][0]
    assert report[1:3] == ["bert=/nonexistent/dry/eval-bert", "ngram=/nonexistent/dry/eval-ngram"]
    assert parse(report).params["tasks"] == "faithfulness,faithfulness/pl,faithfulness/vi,faithfulness/ka"
    assert any(a[0] == "plot" and parse(a).params["out"].endswith("report.png") for a in commands)
    for args in commands:
        if args[0] in ("pretrain-bert", "rescore") and parse(args).params.get("method") != "ngram":
            assert parse(args).params["threads"] == 1, args


def test_faithreal_contrast_per_language():
    commands = dry_run("faithreal.mk", "CONTRAST_pl=--contrast")
    got = {parse(a).params["scorer"].split("-")[-1]: parse(a).params["contrast"] for a in commands
           if a[0] == "rescore" and parse(a).params["method"] == "pll"}
    assert got == {"pl": True, "vi": False, "ka": False}


def test_faithreal_without_real_text_says_to_run_make_real_text(tmp_path):
    out = subprocess.run(["make", "--no-print-directory", "-f", "examples/faithreal.mk", f"RUN={tmp_path}/run",
                          f"REAL_TEXT={tmp_path}/none", "LORAKIT=false"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode != 0 and f"{tmp_path}/none/pl.txt is missing: run `make real-text` first" in out.stderr
    assert not (tmp_path / "run").exists()


def test_make_demo_faith_real_runs_the_real_text_study():
    commands = lorakit_lines(["demo-faith-real", "REAL_TEXT=/nonexistent/text"])
    names = [a[0] for a in commands]
    assert names.count("pretrain-bert") == 3 and names.count("rescore") == 6 and "report" in names
    assert all("runs/demo-faith-real/" in " ".join(a) for a in commands if a[0] in ("pretrain-bert", "eval"))


def test_pretrain_bert_defaults_are_the_real_text_study_settings():
    """pretrain-bert's defaults are the settings examples/faithreal.mk passes (README: "pretrain-bert's
    defaults"), read from the command line its dry run prints."""
    from lorakit.models.bert_options import BertPretrainConfig

    line = next(c for c in dry_run("faithreal.mk", "LANGS=pl") if c[0] == "pretrain-bert")
    given = dict(zip(line, line[1:]))  # each word -> the next: an option -> its value
    defaults = BertPretrainConfig(corpus="c.txt", out=Path("m"))
    for option in ("--hidden", "--intermediate", "--heads", "--layers", "--dropout", "--objective", "--position-init",
                   "--mask-prob", "--max-seq-len", "--tokenizer-type", "--vocab-size", "--lr", "--batch-size", "--warmup"):
        value = getattr(defaults, option[2:].replace("-", "_"))
        assert type(value)(given[option]) == value, option


def test_make_demo_real_runs_the_reuse_rows_on_the_converted_checkpoint():
    """``make demo-real`` (dry, the checkpoint taken as converted): chat-form data with bridge-format target
    data, the four adapters on REAL_MODEL (mixed first), the merges, the routes through eval (which renders
    chat records), one thread a step."""
    model = "/nonexistent/smollm2"
    commands = lorakit_lines(["demo-real", f"REAL_MODEL={model}", "DEMO_REAL_RUN=/nonexistent/dry",
                              "-o", f"{model}/lorakit.json", "-o", ".venv/.lorakit-installed"])
    gen = [parse(a).params for a in commands if a[:2] == ["gen-data", "twohop"]]
    assert len(gen) == 1 and gen[0]["chat"] and gen[0]["system"] and gen[0]["target_format"] == "both"
    trained = [parse(a).params for a in commands if a[0] == "train-lora"]
    assert [Path(p["out"]).name for p in trained] == ["mixed", "target", "hop1", "hop2"]
    assert all(str(p["base"]) == model and str(p["data"]).startswith("/nonexistent/dry/chat/") for p in trained)
    merges = {Path(parse(a).params["out"]).name: parse(a).params["method"] for a in commands if a[0] == "merge"}
    assert merges == {"avg2": "uniform", "avg3": "uniform", "ta2": "task-arithmetic"}
    evals = {Path(parse(a).params["out"]).name: parse(a).params for a in commands if a[0] == "eval"}
    assert set(evals) == {"base", "hop1", "hop2", "target", "mixed", "avg2", "avg3", "ta2", "arrow2", "arrow3", "minent2"}
    routes = {k: (p["route"], [Path(a).name for a in p["adapters"]]) for k, p in evals.items() if p["route"]}
    assert routes == {"arrow2": ("arrow", ["hop1", "hop2"]), "arrow3": ("arrow", ["hop1", "hop2", "target"]),
                      "minent2": ("min-entropy", ["hop1", "hop2"])}
    assert evals["arrow2"]["top_k"] == evals["arrow3"]["top_k"] == 2
    assert all(str(p["model"]) == model and p["threads"] == 1 for p in evals.values())
    assert all(parse(a).params["threads"] == 1 for a in commands if a[0] == "train-lora")
    assert "test_F_bridge" in parse([a for a in commands if a[0] == "report"][0]).params["tasks"]
