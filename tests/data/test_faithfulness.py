"""gen-data faithfulness: record shape, minimal edits, paraphrase, inflection, held-out documents."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import pytest

from lorakit.data.faithfulness import PERTURBATIONS, FaithfulnessConfig, generate, random_event, restatements
from lorakit.data.lang import grammar
from lorakit.errors import UsageError


def build(lang: str, **kw) -> tuple[list[dict], list[str], dict]:
    files = generate(FaithfulnessConfig(lang=lang, corpus_mb=0.03, test_size=50, **kw))
    tests = [json.loads(line) for line in files["test.jsonl"].splitlines()]
    return tests, files["corpus.txt"].splitlines(), json.loads(files["manifest.json"])


@pytest.fixture(scope="module", params=["vi", "pl", "ka"])
def data(request):
    return request.param, *build(request.param)


def test_record_shape_and_balance(data):
    lang, tests, corpus, manifest = data
    assert all(set(r) == {"id", "lang", "source", "candidates", "label", "perturbation"} for r in tests)
    assert Counter(r["perturbation"] for r in tests) == {p: 10 for p in PERTURBATIONS}
    assert {r["label"] for r in tests} == {0, 1}  # order shuffled by seed
    assert manifest["files"]["test.jsonl"]["count"] == 50 and manifest["files"]["corpus.txt"]["count"] == len(corpus)


def test_unfaithful_is_a_minimal_edit_and_faithful_is_not_a_copy(data):
    lang, tests, _, _ = data
    for r in tests:
        good, bad = r["candidates"][r["label"]], r["candidates"][1 - r["label"]]
        assert good != bad
        assert abs(len(good.split()) - len(bad.split())) <= 2, (good, bad)
        diff = Counter(good.split()) - Counter(bad.split()) + (Counter(bad.split()) - Counter(good.split()))
        assert sum(diff.values()) <= 10, (good, bad)  # role swap: two names (2-3 words) + the verb
        sentences = re.split(r"(?<=[.])\s+", r["source"])
        assert good not in sentences


def test_vietnamese_addition_is_one_syllable():
    """Vietnamese adverbs are one syllable: with two, each predicts the other under PLL and the
    unsupported addition scored higher than the faithful summary (32 % pairwise, measured)."""
    additions = [r for r in build("vi")[0] if r["perturbation"] == "unsupported_addition"]
    assert len(additions) == 10
    for r in additions:
        good, bad = r["candidates"][r["label"]].split(), r["candidates"][1 - r["label"]].split()
        assert len(bad) == len(good) + 1 and not Counter(good) - Counter(bad), (good, bad)


def test_no_test_document_in_the_corpus(data):
    _, tests, corpus, _ = data
    sources = {r["source"] for r in tests}
    assert not any(doc.startswith(s) for doc in corpus for s in sources)


def test_scripts_and_diacritics():
    vi, pl, ka = (build(lang)[0] for lang in ("vi", "pl", "ka"))
    assert re.search("[ăâđêôơư]", vi[0]["source"] + vi[1]["source"])
    assert all(re.search("[\u10d0-\u10fa]", r["source"]) and not re.search("[a-zA-Z]", r["source"]) for r in ka)
    assert any(re.search("[ąćęłńóśźż]", r["source"]) for r in pl)


def test_polish_inflection_under_role_swap_and_negation():
    g = grammar("pl")
    people = {p.name: p for p in g.people()}
    from lorakit.data.lang import Event

    ev = Event(a=people["Anna Kowalska"], b=people["Jan Nowak"], verb=0, city=1, org=0, day=5, month=3, number=20)
    assert g.summary(ev) == "5 marca Anna Kowalska zganiła Jana Nowaka w Krakowie w obecności 20 osób."
    ev.a, ev.b, ev.negated = ev.b, ev.a, True
    assert g.summary(ev) == "5 marca Jan Nowak nie zganił Anny Kowalskiej w Krakowie w obecności 20 osób."


def test_georgian_case_marks_roles():
    g = grammar("ka")
    people = {p.name: p for p in g.people()}
    from lorakit.data.lang import Event

    ev = Event(a=people["გიორგი ბერიძე"], b=people["ნინო გელაშვილი"], verb=0, city=0, org=0, day=5, month=3, number=20)
    assert g.summary(ev).startswith("გიორგი ბერიძემ ნინო გელაშვილი დაგმო თბილისში 5 მარტს")


def test_deterministic_and_seeded():
    assert build("pl")[0] == build("pl")[0]
    assert build("pl")[0] != build("pl", seed=1)[0]


def test_validation_collects_problems():
    with pytest.raises(UsageError, match="--lang.*--corpus-mb.*--test-size"):
        FaithfulnessConfig(lang="xx", corpus_mb=0, test_size=0).validate()


def test_documents_are_short_and_the_corpus_restates_every_summary_template(data):
    lang, tests, corpus, _ = data
    g = grammar(lang)
    split = re.compile(r"(?<=[.])\s+")
    assert all(len(split.split(r["source"])) == 2 for r in tests)  # event + attendance, no filler
    assert all(len(split.split(doc)) == 2 + g.SUMMARY_TEMPLATES for doc in corpus)
    ev = random_event(g, g.people(), random.Random(0))
    summaries = restatements(g, ev)
    assert summaries[0] == g.summary(ev) and len(set(summaries)) == g.SUMMARY_TEMPLATES
