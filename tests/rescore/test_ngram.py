"""The source-blind control: a Kneser–Ney word-bigram LM (library), and ``rescore --method ngram`` (CLI)."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.io import read_jsonl
from lorakit.rescore.ngram import BOS, EOS, discount, train_bigram, words

runner = CliRunner()
CORPUS = ["the cat sat on the mat.", "the dog sat on the rug.", "a cat is not a dog.", "the cat is black."]


def test_words_lowercase_split_punctuation_and_frame():
    assert words("Kot, NIE pies.") == [BOS, "kot", ",", "nie", "pies", ".", EOS]
    assert words("Tiếng Việt") == words("Tie\u0302\u0301ng Việt")  # NFC: composed and decomposed agree
    assert words("ქართული ენა") == [BOS, "ქართული", "ენა", EOS]


def test_distributions_sum_to_one_over_the_vocabulary_and_unknown():
    lm = train_bigram(CORPUS)
    vocab = set(lm.history) | set(lm.continuation)
    for prev in ("the", "cat", BOS, "never-seen"):
        known = sum(math.exp(lm.logprob(prev, w)) for w in vocab)
        unknown = math.exp(lm.logprob(prev, "zebra"))  # every unseen word gets the unknown word's share
        assert known + unknown == pytest.approx(1.0)


def test_seen_word_order_beats_a_swap_and_unseen_words_are_finite():
    lm = train_bigram(CORPUS)
    assert lm.score("the cat sat on the mat.") > lm.score("the mat sat on the cat.")
    assert lm.score("the dog sat on the rug.") > lm.score("the dog sat on the zebra.")
    assert math.isfinite(lm.score("zebra okapi quagga"))


def test_score_is_the_mean_per_word_not_the_total():
    lm = train_bigram(["x y"] * 5 + ["x z"])
    w = words("x y")
    total = lm.logprob(BOS, "x") + lm.logprob("x", "y") + lm.logprob("y", EOS)
    assert lm.score("x y") == pytest.approx(total / (len(w) - 1))


def test_discount_from_counts_of_counts():
    from collections import Counter

    assert discount(Counter({("a", "b"): 1, ("b", "c"): 1, ("c", "d"): 2})) == pytest.approx(2 / (2 + 2))
    assert discount(Counter({("a", "b"): 3})) == 0.5  # no singletons: a fixed middle value


@pytest.fixture
def files(tmp_path):
    (tmp_path / "corpus.txt").write_text("\n".join(CORPUS * 3) + "\n", encoding="utf-8")
    records = [{"id": 0, "source": "ignored", "candidates": ["the mat sat on the cat.", "the cat sat on the mat."], "label": 1,
                "lang": "en", "perturbation": "word_swap"},
               {"id": 1, "source": "", "candidates": ["the dog sat on the rug.", "rug the on sat dog the."], "label": 0,
                "lang": "en", "perturbation": "word_swap"}]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return tmp_path


def test_cli_scores_without_the_source_and_keeps_every_field(files):
    out = files / "scored.jsonl"
    result = runner.invoke(app, ["rescore", str(files / "corpus.txt"), str(files / "test.jsonl"), "--method", "ngram",
                                 "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    scored = read_jsonl(out)
    assert [r["best"] for r in scored] == [1, 0] and all(r["method"] == "ngram" for r in scored)
    assert all(len(r["scores"]) == 2 and r["perturbation"] == "word_swap" for r in scored)
    # source-blind: another source, the same scores
    other = files / "other.jsonl"
    other.write_text("".join(json.dumps({**r, "source": "the rug is black."}) + "\n" for r in read_jsonl(files / "test.jsonl")),
                     encoding="utf-8")
    result = runner.invoke(app, ["rescore", str(files / "corpus.txt"), str(other), "--method", "ngram"])
    assert [json.loads(line)["scores"] for line in result.stdout.splitlines()] == [r["scores"] for r in scored]


def test_cli_reads_records_from_stdin(files):
    text = (files / "test.jsonl").read_text(encoding="utf-8")
    result = runner.invoke(app, ["rescore", str(files / "corpus.txt"), "-", "--method", "ngram", "--json"], input=text)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2


@pytest.mark.parametrize("corpus,args,code,message", [
    ("missing.txt", [], 3, "missing.txt: no such file (--method ngram trains on a text file"),
    ("blank.txt", [], 3, "blank.txt: no text to train the n-gram control on"),
    ("binary.txt", [], 3, "binary.txt: not UTF-8 text"),
    ("corpus.txt", ["--contrast"], 2, "--contrast applies to PLL"),
])
def test_cli_bad_corpus_or_options(files, corpus, args, code, message):
    (files / "blank.txt").write_text("\n  \n", encoding="utf-8")
    (files / "binary.txt").write_bytes(b"\xff\xfe\x00abc")
    out = files / "o.jsonl"
    result = runner.invoke(app, ["rescore", str(files / corpus), str(files / "test.jsonl"), "--method", "ngram",
                                 "--out", str(out), *args])
    assert result.exit_code == code and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()
