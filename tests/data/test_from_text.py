"""gen-data faithfulness --from-text (library): record shape, minimal edits per kind, held-out
sources, determinism, too little text."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from lorakit.data.from_text import PERTURBATIONS, TextConfig, generate
from lorakit.data.text import sentences
from lorakit.errors import InputError, UsageError
from tests.data.texts import TEXTS

PAIRS = 8


def build(tmp_path, lang: str, text: str | None = None, **kw) -> tuple[list[dict], list[str], dict]:
    path = tmp_path / f"{lang}.txt"
    path.write_text(TEXTS[lang] if text is None else text, encoding="utf-8")
    files = generate(TextConfig(text=str(path), lang=lang, **{"pairs": PAIRS, **kw}))
    tests = [json.loads(line) for line in files["test.jsonl"].splitlines()]
    return tests, files["corpus.txt"].splitlines(), json.loads(files["manifest.json"])


@pytest.fixture(params=["pl", "vi", "ka"])
def data(request, tmp_path):
    return request.param, *build(tmp_path, request.param)


def diff(a: str, b: str) -> tuple[list[str], list[str]]:
    """The tokens of a and of b between their common prefix and common suffix."""
    x, y = a.split(), b.split()
    i = 0
    while i < min(len(x), len(y)) and x[i] == y[i]:
        i += 1
    j = 0
    while j < min(len(x), len(y)) - i and x[-1 - j] == y[-1 - j]:
        j += 1
    return x[i:len(x) - j], y[i:len(y) - j]


def test_record_shape_balance_and_counts(data):
    lang, tests, corpus, manifest = data
    assert all(set(r) == {"id", "lang", "source", "candidates", "label", "perturbation"} for r in tests)
    assert [r["id"] for r in tests] == [f"{lang}-{i:05d}" for i in range(PAIRS)]
    kinds = Counter(r["perturbation"] for r in tests)
    assert set(kinds) <= set(PERTURBATIONS) and manifest["perturbations"] == {k: kinds[k] for k in PERTURBATIONS}
    assert Counter(r["label"] for r in tests) == {0: PAIRS // 2, 1: PAIRS // 2}
    assert manifest["files"]["test.jsonl"]["count"] == PAIRS and manifest["files"]["corpus.txt"]["count"] == len(corpus)
    assert manifest["text"]["paragraphs"] == 13 and manifest["corpus"]["paragraphs_held_out"] == PAIRS


@pytest.mark.parametrize("lang", ["pl", "vi", "ka"])
def test_perturbations_are_balanced_when_the_text_allows(tmp_path, lang):
    """Each paragraph also with its sentences rotated: every word recurs, so swaps find words."""
    rotated = [" ".join(ss[k:] + ss[:k]) for p in TEXTS[lang].splitlines() for ss in [sentences(p, lang)] for k in (0, 1, 2)]
    tests, _, manifest = build(tmp_path, lang, "\n".join(rotated) + "\n")
    assert manifest["perturbations"] == {k: PAIRS // len(PERTURBATIONS) for k in PERTURBATIONS}


@pytest.mark.parametrize("lang", ["pl", "vi", "ka"])
def test_negation_goes_both_ways(tmp_path, lang):
    """In some negation records the faithful candidate is the text's sentence; in the others the
    edit is in the source and the faithful candidate is the edited sentence (so the particle's
    presence does not tell which candidate is faithful)."""
    rotated = [" ".join(ss[k:] + ss[:k]) for p in TEXTS[lang].splitlines() for ss in [sentences(p, lang)] for k in (0, 1, 2)]
    text = "\n".join(rotated)
    tests, _, _ = build(tmp_path, lang, text + "\n", pairs=32)
    negation = [r for r in tests if r["perturbation"] == "negation"]
    in_text = [r["candidates"][r["label"]] in text for r in negation]
    assert len(negation) == 8 and 0 < sum(in_text) < len(negation), in_text
    for r, faithful_in_text in zip(negation, in_text):
        assert (r["source"] in text) == faithful_in_text
        assert (r["candidates"][1 - r["label"]] in text) != faithful_in_text


def test_sources_are_2_to_4_sentences_of_one_paragraph_holding_the_faithful_one(data):
    lang, tests, _, _ = data
    paragraphs = TEXTS[lang].splitlines()
    for r in tests:
        source = sentences(r["source"], lang)
        assert 2 <= len(source) <= 4
        good, bad = r["candidates"][r["label"]], r["candidates"][1 - r["label"]]
        original = r["source"].replace(good, bad) if r["perturbation"] == "negation" else None
        assert any(r["source"] in p or (original and original in p) for p in paragraphs)
        assert good in source
        assert r["candidates"][1 - r["label"]] not in source


def test_each_perturbation_is_a_minimal_edit_of_its_kind(data):
    lang, tests, _, _ = data
    for r in tests:
        good, bad = r["candidates"][r["label"]], r["candidates"][1 - r["label"]]
        old, new = diff(good, bad)
        kind = r["perturbation"]
        if kind == "negation":  # one particle in or out (Vietnamese: có thể <-> không thể), a capital moved
            particles = {"pl": {"nie", "Nie"}, "vi": {"không", "Không", "có", "Có"}, "ka": {"არ", "ვერ"}}[lang]
            assert len(old) + len(new) in (1, 2, 3) and set(old + new) & particles, (good, bad)
            assert abs(len(good.split()) - len(bad.split())) <= 1
        elif kind == "number":
            assert len(old) == len(new) == 1 and any(c.isdigit() for c in old[0]) and any(c.isdigit() for c in new[0])
        else:  # one word (a Vietnamese two-syllable word), replaced
            assert len(old) == len(new) <= (2 if lang == "vi" else 1) and old != new, (good, bad)
            swapped = {w.strip(".,:;!?()").lower() for w in new}
            in_source = swapped <= {w.strip(".,:;!?()").lower() for w in r["source"].split()}
            assert in_source == (kind == "word_swap_source"), (kind, good, bad, r["source"])


def test_no_test_sentence_is_in_the_corpus(data):
    _, tests, corpus, _ = data
    text = "\n".join(corpus)
    for r in tests:
        assert r["source"] not in text
        for s in sentences(r["source"], r["lang"]):
            assert s not in text, s


def test_same_seed_same_bytes_other_seed_other_set(tmp_path):
    a = generate(TextConfig(text=_write(tmp_path, "pl"), lang="pl", pairs=PAIRS, seed=3))
    b = generate(TextConfig(text=_write(tmp_path, "pl"), lang="pl", pairs=PAIRS, seed=3))
    c = generate(TextConfig(text=_write(tmp_path, "pl"), lang="pl", pairs=PAIRS, seed=4))
    assert a == b and a["test.jsonl"] != c["test.jsonl"]


def _write(tmp_path, lang: str) -> str:
    path = tmp_path / f"{lang}.txt"
    path.write_text(TEXTS[lang], encoding="utf-8")
    return str(path)


def test_a_paragraph_repeating_a_test_sentence_leaves_the_corpus(tmp_path):
    base = TEXTS["pl"].splitlines()
    copies = [f"Na początku. {s}" for p in base for s in sentences(p, "pl")]
    tests, corpus, manifest = build(tmp_path, "pl", "\n".join(base + copies) + "\n")
    held = {s for r in tests for s in sentences(r["source"], "pl")}
    assert manifest["corpus"]["paragraphs_dropped_for_a_test_sentence"] == len(held)
    assert not any(s in line for line in corpus for s in held)


def test_too_little_text_says_what_it_found(tmp_path):
    with pytest.raises(InputError) as e:
        build(tmp_path, "vi", pairs=50)
    message = str(e.value)
    assert message.startswith(f"{tmp_path / 'vi.txt'}: only ") and "passages of 2–4 sentences" in message
    assert "(13 paragraphs, 38 sentences, 38 usable); --pairs 50 needs 50" in message


def test_one_sentence_paragraphs_give_no_passage(tmp_path):
    text = "\n".join(s for p in TEXTS["ka"].splitlines() for s in sentences(p, "ka"))
    with pytest.raises(InputError, match="only 0 passages"):
        build(tmp_path, "ka", text)


def test_text_in_another_script_is_refused(tmp_path):
    with pytest.raises(InputError, match="not Georgian"):
        build(tmp_path, "ka", TEXTS["pl"])


def test_bad_pairs_refused():
    with pytest.raises(UsageError, match="--pairs"):
        TextConfig(text="x.txt", pairs=0).validate()
