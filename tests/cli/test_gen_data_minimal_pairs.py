"""gen-data minimal-pairs through the real CLI, and on through rescore -> eval --task minimal-pairs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.io import PROVENANCE, read_json, read_jsonl
from tests.helpers import usage_error

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def gen(out, *args: str):
    return invoke("gen-data", "minimal-pairs", "--out", out, *args)


def test_help():
    assert "minimal-pairs" in invoke("gen-data", "--help").stdout
    result = invoke("gen-data", "minimal-pairs", "--help")
    assert result.exit_code == 0
    for flag in ("--task", "--lang", "--test-size", "--seed", "--force", "--json", "--out"):
        assert flag in result.stdout


@pytest.mark.parametrize("lang", ["vi", "pl", "ka"])
@pytest.mark.parametrize("task", ["sentence-order", "word-order", "agreement"])
def test_every_language_and_task(tmp_path, lang, task):
    out = tmp_path / "d"
    result = gen(out, "--lang", lang, "--task", task, "--test-size", "4", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["tasks"] == {task: 4} and summary["counts"] == {"test.jsonl": 4}
    assert sorted(p.name for p in out.iterdir()) == ["lorakit.json", "manifest.json", "test.jsonl"]
    records = read_jsonl(out / "test.jsonl", required=("source",))
    assert all(r["task"] == r["perturbation"] == task and r["lang"] == lang and len(r["candidates"]) == 2 for r in records)
    provenance = read_json(out / PROVENANCE)
    assert provenance["command"] == "gen-data minimal-pairs" and provenance["options"]["tasks"] == [task]
    assert "wrote" in result.stderr


def test_same_seed_same_bytes_and_force(tmp_path):
    assert gen(tmp_path / "a", "--lang", "pl", "--test-size", "9").exit_code == 0
    assert gen(tmp_path / "b", "--lang", "pl", "--test-size", "9").exit_code == 0
    assert (tmp_path / "a" / "test.jsonl").read_bytes() == (tmp_path / "b" / "test.jsonl").read_bytes()
    result = gen(tmp_path / "a", "--lang", "pl", "--test-size", "9", "--seed", "1")
    assert result.exit_code == 4 and "--force" in result.stderr
    assert gen(tmp_path / "a", "--lang", "pl", "--test-size", "9", "--seed", "1", "--force").exit_code == 0
    assert (tmp_path / "a" / "test.jsonl").read_bytes() != (tmp_path / "b" / "test.jsonl").read_bytes()


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "rhyme"], "'rhyme' is not one of 'sentence-order', 'word-order', 'agreement'"),
    (["--lang", "de"], "'de' is not one of 'vi', 'pl', 'ka'"),
    (["--test-size", "0"], "--test-size must be in [3, 1000000]"),
])  # fmt: skip
def test_bad_options(tmp_path, args, message):
    result = gen(tmp_path / "x", *args)
    assert result.exit_code == 2, result.output
    if message.startswith("--"):  # the config's check: one line
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    else:  # a value not among the option's choices: Typer's usage error
        assert message in usage_error(result)
    assert not (tmp_path / "x").exists() and list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    """A random 1-layer BERT (from a config) with a tokenizer trained on generated pl and ka documents."""
    import torch
    from transformers import BertForPreTraining

    from lorakit.data.faithfulness import FaithfulnessConfig, generate
    from lorakit.models.pretrain_bert import BertPretrainConfig, bert_config, bert_tokenizer

    d = tmp_path_factory.mktemp("mp-bert")
    docs = [doc for lang in ("pl", "ka") for doc in generate(FaithfulnessConfig(lang=lang, corpus_mb=0.02, test_size=1))["corpus.txt"].splitlines()]
    tok = bert_tokenizer(docs, 400)
    torch.manual_seed(0)
    cfg = BertPretrainConfig(corpus="-", out=d / "unused", layers=1, hidden=32, heads=2, intermediate=64, dropout=0.0, max_seq_len=512)
    BertForPreTraining(bert_config(cfg, tok)).save_pretrained(str(d / "bert"))
    tok.save_pretrained(str(d / "bert"))
    return d / "bert"


def test_gen_data_rescore_eval_reports_each_task_per_language(scorer, tmp_path):
    for lang in ("pl", "ka"):
        result = gen(tmp_path / lang, "--lang", lang, "--test-size", "6", "--quiet")
        assert result.exit_code == 0, result.output
    both = tmp_path / "pairs.jsonl"
    both.write_text("".join((tmp_path / lang / "test.jsonl").read_text(encoding="utf-8") for lang in ("pl", "ka")),
                    encoding="utf-8")
    scored = tmp_path / "scored.jsonl"
    result = invoke("rescore", scorer, both, "--out", scored, "--method", "pll", "--threads", "1", "--device", "cpu", "--quiet")
    assert result.exit_code == 0, result.output
    rows = read_jsonl(scored)
    assert len(rows) == 12 and all(len(r["scores"]) == 2 and r["best"] in (0, 1) for r in rows)
    result = invoke("eval", "--task", "minimal-pairs", scored, "--out", tmp_path / "ev", "--quiet")
    assert result.exit_code == 0, result.output
    results = read_json(tmp_path / "ev" / "results.json")
    table = results["results"]
    for lang in ("pl", "ka"):
        mine = [r for r in rows if r["lang"] == lang]
        assert table[f"minimal-pairs/{lang}"]["acc,none"] == pytest.approx(sum(r["best"] == r["label"] for r in mine) / 6)
        for task in ("sentence-order", "word-order", "agreement"):
            row = table[f"minimal-pairs/{lang}/{task}"]
            assert "n" not in row and 0 <= row["acc,none"] <= 1
            assert results["n-samples"][f"minimal-pairs/{lang}/{task}"] == {"original": 2, "effective": 2}
        typology = results["typology"][lang]  # from the labelled candidates: the sources are empty
        assert typology["words"] > 0 and typology["tokens_per_word"] > 0
    assert "mean_over_languages" in table["minimal-pairs"]
