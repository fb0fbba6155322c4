"""gen-data minimal-pairs: record shape, minimal edits per task, agreement per language, balance, determinism."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from lorakit.data.lang import LANGS, Person, grammar
from lorakit.data.minimal_pairs import TASKS, MinimalPairsConfig, broken_subject, generate, swap_positions
from lorakit.errors import UsageError

N = 60


def build(lang: str, tasks: tuple[str, ...] = TASKS, **kw) -> tuple[list[dict], dict]:
    files = generate(MinimalPairsConfig(lang=lang, tasks=tasks, test_size=kw.pop("test_size", N), **kw))
    return [json.loads(line) for line in files["test.jsonl"].splitlines()], json.loads(files["manifest.json"])


@pytest.fixture(scope="module", params=LANGS)
def data(request):
    return request.param, *build(request.param)


def good_bad(r: dict) -> tuple[str, str]:
    return r["candidates"][r["label"]], r["candidates"][1 - r["label"]]


def test_record_shape_and_balance(data):
    lang, records, manifest = data
    assert all(set(r) == {"id", "lang", "task", "source", "candidates", "label", "perturbation"} for r in records)
    assert all(r["lang"] == lang and r["source"] == "" and r["perturbation"] == r["task"] for r in records)
    assert Counter(r["task"] for r in records) == {t: N // 3 for t in TASKS} == manifest["tasks"]
    assert len({r["id"] for r in records}) == N and records[0]["id"] == f"{lang}-sentence-order-00000"
    for t in TASKS:  # labels balanced per task, order shuffled
        labels = [r["label"] for r in records if r["task"] == t]
        assert sum(labels) == len(labels) // 2 and labels != sorted(labels)
    assert manifest["files"]["test.jsonl"]["count"] == N and manifest["labels"] == {"0": N // 2, "1": N // 2}


def test_sentence_order_is_a_permutation_with_the_lead_moved(data):
    _, records, _ = data
    for r in (r for r in records if r["task"] == "sentence-order"):
        good, bad = (re.split(r"(?<=[.]) ", s) for s in good_bad(r))
        assert len(good) >= 3 and sorted(good) == sorted(bad) and good != bad  # the same sentences
        assert bad[0] != good[0]  # the lead sentence moved


def test_word_order_is_one_interior_adjacent_swap(data):
    lang, records, _ = data
    for r in (r for r in records if r["task"] == "word-order"):
        good, bad = (s.split() for s in good_bad(r))
        diff = [i for i, (a, b) in enumerate(zip(good, bad)) if a != b]
        assert len(good) == len(bad) and len(diff) == 2 and diff[1] == diff[0] + 1, (good, bad)
        i = diff[0]
        assert good[i] == bad[i + 1] and good[i + 1] == bad[i] and good[i] != good[i + 1]
        assert 0 < i and i + 1 < len(good) - 1  # never the first or last word


def test_swap_positions_skip_edges_punctuation_frozen_and_names():
    words = "Anna Kowalska pochwaliła publicznie Jana Nowaka w Krakowie, 5 marca.".split()
    names = [{"Anna", "Kowalska"}, {"Jan", "Jana", "Nowak", "Nowaka"}]
    # 0 is the first word, 1 (Kowalska pochwaliła) is fine, publicznie is frozen, 4 is inside a name,
    # Krakowie, has a comma, marca. is last
    assert swap_positions(words, {"publicznie"}, names) == [1, 5]
    assert swap_positions("To to to to.".split(), set(), []) == []


def test_agreement_is_one_word(data):
    lang, records, _ = data
    kinds = set()
    for r in (r for r in records if r["task"] == "agreement"):
        good, bad = (s.split() for s in good_bad(r))
        diff = [(a, b) for a, b in zip(good, bad) if a != b]
        assert len(good) == len(bad) and len(diff) == 1, (good, bad)
        a, b = (w.rstrip(".,") for w in diff[0])
        if lang == "pl":  # the verb's gender flips: -ł <-> -ła
            assert {a[-2:], b[-2:]} & {"ła"} and (a == b + "a" or b == a + "a"), diff
        elif lang == "ka":  # ergative subject made nominative, or nominative object made ergative
            decline = grammar("ka").decline
            assert decline(b, "erg") == a or decline(a, "erg") == b, diff
            kinds.add(decline(b, "erg") == a)
        else:
            assert {a, b} == {"Văn", "Thị"}, diff
    assert lang != "ka" or kinds == {True, False}  # both directions: the longer word is not always the good one


def test_polish_agreement_really_flips_gender():
    records, _ = build("pl", ("agreement",), test_size=40)
    g = grammar("pl")
    female = {p.name for p in g.people() if p.gender == "f"}
    for r in records:
        good, bad = good_bad(r)
        subject_f = any(re.search(rf"(?<!\w){name}(?!\w)", good) for name in female)
        verb_good = next(a for a, b in zip(good.split(), bad.split()) if a != b)
        assert verb_good.endswith("ła") == subject_f, (good, bad)  # "Anna ... skrytykowała", "Jan ... skrytykował"


def test_broken_subject_forms():
    pl = {p.name: p for p in grammar("pl").people()}
    assert broken_subject("pl", pl["Anna Kowalska"]).gender == "m"
    ka = {p.name: p for p in grammar("ka").people()}
    assert ka["გიორგი ბერიძე"]["erg"] == "გიორგი ბერიძემ" and broken_subject("ka", ka["გიორგი ბერიძე"])["erg"] == "გიორგი ბერიძე"
    assert broken_subject("vi", Person((("nom", "Nguyễn Văn An"),), "m")).name == "Nguyễn Thị An"
    assert broken_subject("vi", Person((("nom", "Nguyễn An"),), "m")) is None


def test_deterministic_seeded_and_task_streams_independent():
    assert generate(MinimalPairsConfig(lang="ka", test_size=9)) == generate(MinimalPairsConfig(lang="ka", test_size=9))
    assert build("ka", test_size=9)[0] != build("ka", test_size=9, seed=1)[0]
    alone = [r for r in build("pl", ("agreement",), test_size=4)[0]]
    mixed = [r for r in build("pl", test_size=12)[0] if r["task"] == "agreement"]
    assert [r["candidates"] for r in alone] == [r["candidates"] for r in mixed]


def test_label_balance_over_a_larger_set():
    records, _ = build("vi", ("word-order",), test_size=201)
    assert abs(sum(r["label"] for r in records) - 100) <= 1
    assert len({tuple(r["candidates"]) for r in records}) == 201  # no repeated pair


def test_validation_collects_problems():
    with pytest.raises(UsageError, match="--lang must be one of vi, pl, ka.*--task must be among.*--test-size"):
        MinimalPairsConfig(lang="de", tasks=("bogus",), test_size=0).validate()
    with pytest.raises(UsageError, match="--task given twice"):
        MinimalPairsConfig(tasks=("agreement", "agreement")).validate()
    with pytest.raises(UsageError, match=r"--test-size must be in \[3, "):
        MinimalPairsConfig(test_size=2).validate()


def test_a_language_module_that_cannot_give_a_pair_is_one_error():
    import random
    from types import SimpleNamespace

    from lorakit.data.minimal_pairs import make_pair
    from lorakit.errors import LorakitError

    g = grammar("pl")
    one_sentence = SimpleNamespace(**{k: getattr(g, k) for k in dir(g) if not k.startswith("_")})
    one_sentence.body = lambda ev: ["Jedno zdanie."]
    with pytest.raises(LorakitError, match="pl: no sentence-order pair in 1000 events"):
        make_pair("sentence-order", "pl", one_sentence, g.people(), random.Random(0))
