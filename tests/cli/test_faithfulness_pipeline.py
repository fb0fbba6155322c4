"""gen-data faithfulness -> pretrain-bert -> rescore -> eval --task faithfulness, through the real CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.io import PROVENANCE, read_json, read_jsonl
from tests.helpers import usage_error

runner = CliRunner()
TINY = ["--layers", "2", "--hidden", "32", "--heads", "2", "--intermediate", "64", "--max-seq-len", "96",
        "--vocab-size", "400", "--steps", "3", "--batch-size", "8", "--threads", "1", "--device", "cpu"]


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("faith") / "pl"
    result = invoke("gen-data", "faithfulness", "--lang", "pl", "--out", str(out), "--corpus-mb", "0.03",
                    "--test-size", "10", "--json")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def bert(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("bert") / "bert"
    result = invoke("pretrain-bert", str(data / "corpus.txt"), "--out", str(out), *TINY, "--whole-word-masking", "--objective", "mlm+nsp", "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_help():
    for cmd in (["gen-data", "faithfulness"], ["pretrain-bert"], ["rescore"]):
        result = invoke(*cmd, "--help")
        assert result.exit_code == 0
    assert "--objective" in invoke("pretrain-bert", "--help").stdout
    assert "--pll-variant" in invoke("rescore", "--help").stdout


def test_gen_data_files(data):
    assert sorted(p.name for p in data.iterdir()) == ["corpus.txt", "lorakit.json", "manifest.json", "test.jsonl"]
    records = read_jsonl(data / "test.jsonl", required=("source",))
    assert len(records) == 10 and all(len(r["candidates"]) == 2 for r in records)
    assert read_json(data / PROVENANCE)["command"] == "gen-data faithfulness"


def test_gen_data_bad_lang(tmp_path):
    result = invoke("gen-data", "faithfulness", "--lang", "de", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and "'de' is not one of 'vi', 'pl', 'ka'" in usage_error(result)
    assert not (tmp_path / "x").exists()


def test_pretrain_bert_writes_a_folder_plain_transformers_loads(bert):
    from transformers import AutoTokenizer, BertForPreTraining

    out, summary = bert
    assert summary["steps"] == 3 and summary["vocab_size"] == 401  # 400 pieces + [MASK]
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "lorakit.json", "model.safetensors",
                                                     "tokenizer.json", "tokenizer_config.json"]
    tok = AutoTokenizer.from_pretrained(str(out))
    enc = tok("Jan Nowak", "Anna Kowalska")
    ids = enc["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id and ids.count(tok.sep_token_id) == 2
    assert set(enc["token_type_ids"]) == {0, 1} and tok.mask_token == "[MASK]"
    model = BertForPreTraining.from_pretrained(str(out))
    assert model.config.num_hidden_layers == 2 and model.config.vocab_size == len(tok)
    assert read_json(out / PROVENANCE)["options"]["objective"] == "mlm+nsp"


def test_pretrain_bert_bad_input(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    result = invoke("pretrain-bert", str(empty), "--out", str(tmp_path / "a"), *TINY)
    assert result.exit_code == 3 and "no text" in result.stderr
    one = tmp_path / "one.txt"
    one.write_text("Jedno zdanie. Drugie zdanie.\n", encoding="utf-8")
    result = invoke("pretrain-bert", str(one), "--out", str(tmp_path / "b"), *TINY, "--objective", "mlm+nsp")
    assert result.exit_code == 3 and "corpus too small for NSP pairs" in result.stderr
    small = tmp_path / "small.txt"
    small.write_text("Ala ma kota. Kot ma Alę.\nPies je kość. Kość je pies.\n", encoding="utf-8")
    result = invoke("pretrain-bert", str(small), "--out", str(tmp_path / "c"), *TINY[:-12], "--vocab-size", "5000",
                    "--steps", "1", "--threads", "1")
    assert result.exit_code == 2 and "--vocab-size 5000 is larger than this corpus supports" in result.stderr
    result = invoke("pretrain-bert", str(small), "--out", str(tmp_path / "d"), "--objective", "clm")
    assert result.exit_code == 2 and "'clm' is not one of 'mlm', 'mlm+nsp', 'mlm+sop'" in usage_error(result)
    result = invoke("pretrain-bert", str(small), "--out", str(tmp_path / "d"), "--hidden", "30")
    assert result.exit_code == 2 and "multiple of --heads" in result.stderr
    assert not any((tmp_path / n).exists() for n in "abcd")


def test_rescore_file_and_eval(bert, data, tmp_path):
    out = tmp_path / "scored.jsonl"
    result = invoke("rescore", str(bert[0]), str(data / "test.jsonl"), "--out", str(out), "--method", "pll+nsp",
                    "--pll-variant", "within-word", "--threads", "1")
    assert result.exit_code == 0, result.output
    scored = read_jsonl(out)
    originals = read_jsonl(data / "test.jsonl")
    for r, o in zip(scored, originals):
        assert {k: r[k] for k in o} == o  # every input field kept
        assert len(r["scores"]) == 2 and r["best"] == max((0, 1), key=r["scores"].__getitem__)
    res = invoke("eval", "--task", "faithfulness", str(out), "--out", str(tmp_path / "ev"))
    assert res.exit_code == 0, res.output
    results = read_json(tmp_path / "ev" / "results.json")
    acc = sum(r["best"] == r["label"] for r in scored) / len(scored)
    assert results["results"]["faithfulness/pl"]["acc,none"] == pytest.approx(acc)
    assert {"faithfulness", "faithfulness/pl/negation", "faithfulness/pl/role_swap"} <= set(results["results"])
    assert set(results["typology"]["pl"]) == {"words", "type_token_ratio", "mean_word_length", "tokens_per_word"}


def test_rescore_stdin_to_stdout(bert, data):
    text = (data / "test.jsonl").read_text(encoding="utf-8")
    result = invoke("rescore", str(bert[0]), "-", "--method", "pll", "--contrast", "--threads", "1", input=text)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 10 and all(r["method"] == "pll-contrast" for r in rows)


@pytest.mark.parametrize("record,message", [
    ({"source": "a", "candidates": "b"}, "bad.jsonl:2: 'candidates' must be a list of at least two strings"),
    ({"source": "a", "candidates": ["b"]}, "bad.jsonl:2: 'candidates' must be a list of at least two strings"),
    ({"source": "a", "candidates": ["b", 3]}, "bad.jsonl:2: 'candidates' must be a list of at least two strings"),
    ({"candidates": ["b", "c"]}, "bad.jsonl:2: missing field(s) 'source'"),
    ({"source": 1, "candidates": ["b", "c"]}, "bad.jsonl:2: field 'source' must be a string"),
    (None, "bad.jsonl: no records"),
])
def test_rescore_bad_records(bert, tmp_path, record, message):
    bad = tmp_path / "bad.jsonl"
    good = json.dumps({"source": "a", "candidates": ["b", "c"]}) + "\n"
    bad.write_text("" if record is None else good + json.dumps(record) + "\n", encoding="utf-8")
    result = invoke("rescore", str(bert[0]), str(bad), "--out", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 3 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert not (tmp_path / "o.jsonl").exists()


def test_rescore_scorer_without_mlm_head(tiny_llama_dir, bert, data, tmp_path):
    from transformers import BertModel

    out = tmp_path / "o.jsonl"
    result = invoke("rescore", str(tiny_llama_dir), str(data / "test.jsonl"), "--out", str(out))
    assert result.exit_code == 5 and "no masked-LM head" in result.stderr
    BertModel.from_pretrained(str(bert[0])).save_pretrained(str(tmp_path / "encoder"))
    result = invoke("rescore", str(tmp_path / "encoder"), str(data / "test.jsonl"), "--out", str(out))
    assert result.exit_code == 5 and "no masked-LM head (architecture BertModel)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()
