"""Faithfulness test sets from a user's own text (``gen-data faithfulness --from-text``).

The text has one paragraph a line. A paragraph with two usable sentences or more (3–50 words,
80 % of the letters in the language's script) can give one test record: its ``source`` is a run
of 2–4 consecutive sentences (at most 120 words), the faithful candidate one of them verbatim,
the unfaithful one the same sentence with one minimal edit (``lorakit.data.edits``):

- ``negation``: the negation particle inserted or removed (pl ``nie``, vi ``không``, ka ``არ``/``ვერ``);
  in a seeded half of these records the edit is made in the source instead, and the faithful
  candidate is the edited sentence: insertions outnumber removals, so otherwise the faithful
  candidate would nearly always be the one without the particle (a length cue any scorer reads);
- ``number``: a number changed to a nearby one;
- ``word_swap_source``: a word replaced by a word of the same shape from another sentence of the
  source — the hard case for PLL, which rewards any word the source holds;
- ``word_swap_text``: a word replaced by a word of the same shape the source does not hold (from
  the rest of the paragraph, else a frequent word of the text).

Records are spread evenly over the perturbations; a perturbation that too few passages admit
leaves its share to the others (``manifest.json`` has the counts). ``corpus.txt`` is the text's
other paragraphs, minus every paragraph that holds a source sentence anywhere in it: no test
sentence is in the corpus. Byte-identical output for a text and a seed.
"""

from __future__ import annotations

import hashlib
import json
import random
from bisect import bisect_right
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lorakit.data import edits as ed
from lorakit.data.files import file_entries, jsonl_text, write_files
from lorakit.data.lang import LANGS
from lorakit.data.text import SENTENCE_SCRIPT, paragraphs, read_text, script_problem, script_share, sentences
from lorakit.errors import InputError, UsageError
from lorakit.io import STDIO, check_output, check_paths
from lorakit.runtime import finite_problems

TASK = "faithfulness"
COMMAND = "gen-data faithfulness"
PERTURBATIONS = ("negation", "number", "word_swap_source", "word_swap_text")
SCARCITY = ("number", "negation", "word_swap_source", "word_swap_text")
"""Tie-break when a passage admits several perturbations with equal need: the rarest first."""
SOURCE_SENTENCES = (2, 4)
SENTENCE_WORDS = (3, 50)
MAX_SOURCE_WORDS = 120
MIN_COUNT = 3
"""A word from the rest of the text (or a Vietnamese syllable pair) must occur this often."""
MIN_DICE = 0.1
"""vi: a syllable pair is a word when 2·n(ab) / (n(a) + n(b)) reaches this (``hiện tại``, not ``bảng hiện``)."""
FREQUENT = 30
"""Frequent words per shape a text swap draws on (Vietnamese: ten times as many syllable pairs in all)."""
MAX_PAIRS = 1_000_000


@dataclass
class TextConfig:
    text: str = STDIO
    """The text file: one paragraph a line, UTF-8 ('-': stdin)."""
    lang: str = "vi"
    """vi (Vietnamese), pl (Polish) or ka (Georgian, Mkhedruli): the language of the text."""
    pairs: int = 320
    """Records in test.jsonl, spread evenly over the perturbations."""
    seed: int = 0

    def validate(self) -> None:
        problems = finite_problems(self)
        if self.lang not in LANGS:
            problems.append(f"--lang must be one of {', '.join(LANGS)}, not {self.lang!r}")
        if not 1 <= self.pairs <= MAX_PAIRS:
            problems.append(f"--pairs must be in [1, {MAX_PAIRS}], not {self.pairs}")
        if problems:
            raise UsageError("; ".join(problems))


@dataclass
class Text:
    """A text split up: paragraphs, their sentences, and the words a swap may draw on."""

    lang: str
    paragraphs: list[str]
    sentences: list[list[str]]
    frequent: dict[tuple[bool, str], list[str]] = field(default_factory=dict)
    """pl, ka: the most frequent words of each shape."""
    known: dict[str, float] = field(default_factory=dict)
    """vi: syllable pairs frequent and cohesive enough to be words, with their Dice coefficient."""
    frequent_pairs: list[str] = field(default_factory=list)
    """vi: the most frequent of them."""


def usable(sentence: str, lang: str) -> bool:
    n = len(sentence.split())
    return SENTENCE_WORDS[0] <= n <= SENTENCE_WORDS[1] and script_share(sentence, lang) >= SENTENCE_SCRIPT


def _vi_pairs(tokens: list[str], known: dict[str, float] | None = None) -> list[str]:
    """Lower-case syllable pairs of a Vietnamese sentence (with ``known``: its two-syllable words)."""
    return [f"{ed.core(tokens[i])} {ed.core(tokens[i + 1])}" for i in ed.vi_words(tokens, known)]


def prepare(text: str, lang: str) -> Text:
    paras = paragraphs(text)
    sents = [sentences(p, lang) for p in paras]
    t = Text(lang, paras, sents)
    if lang == "vi":
        counts = Counter(pair for ss in sents for s in ss for pair in _vi_pairs(s.split()))
        syllables = Counter(ed.core(w).lower() for ss in sents for s in ss for w in s.split())
        dice = {w: 2 * n / (syllables[w.split()[0]] + syllables[w.split()[1]]) for w, n in counts.items() if n >= MIN_COUNT}
        t.known = {w: d for w, d in dice.items() if d >= MIN_DICE}
        ranked = sorted(t.known, key=lambda w: (-counts[w], w))
        t.frequent_pairs = ranked[:FREQUENT * 10]
    else:
        counts = Counter(w for ss in sents for s in ss for w in map(ed.core, s.split()[1:] if lang != "ka" else s.split())
                         if ed.swappable(w, lang))
        for w in sorted(counts, key=lambda w: (-counts[w], w)):
            if counts[w] >= MIN_COUNT:
                group = t.frequent.setdefault(ed.shape(w, lang), [])
                if len(group) < FREQUENT:
                    group.append(w)
    return t


def passage(t: Text, p: int, rng: random.Random) -> tuple[int, int] | None:
    """(first sentence, number of sentences) of a seeded run of usable sentences in paragraph p."""
    ok = [usable(s, t.lang) for s in t.sentences[p]]
    runs = [(i, k) for k in range(SOURCE_SENTENCES[0], SOURCE_SENTENCES[1] + 1) for i in range(len(ok) - k + 1)
            if all(ok[i:i + k]) and sum(len(s.split()) for s in t.sentences[p][i:i + k]) <= MAX_SOURCE_WORDS]
    return rng.choice(runs) if runs else None


def options(t: Text, p: int, start: int, k: int) -> dict[str, list[tuple[int, ed.Edit]]]:
    """Per perturbation, every (sentence of the source, edit) it admits."""
    src = t.sentences[p][start:start + k]
    rest = t.sentences[p][:start] + t.sentences[p][start + k:]
    source_text = " ".join(src)
    out: dict[str, list[tuple[int, ed.Edit]]] = {kind: [] for kind in PERTURBATIONS}
    for j, s in enumerate(src):
        tokens = s.split()
        others = [w for o in src[:j] + src[j + 1:] for w in o.split()]
        out["negation"] += [(j, e) for e in ed.negation_edits(tokens, t.lang)]
        out["number"] += [(j, e) for e in ed.number_edits(tokens)]
        if t.lang == "vi":
            from_source = [w for o in src[:j] + src[j + 1:] for w in _vi_pairs(o.split(), t.known)]
            syllables = {ed.core(w).lower() for w in source_text.split()}
            local = [w for o in rest for w in _vi_pairs(o.split(), t.known) if not set(w.split()) <= syllables]
            out["word_swap_source"] += [(j, e) for e in ed.vi_swap_edits(tokens, from_source, t.known)]
            text_edits = ed.vi_swap_edits(tokens, local, t.known) or ed.vi_swap_edits(
                tokens, [w for w in t.frequent_pairs if not set(w.split()) <= syllables], t.known)
        else:
            words = {ed.core(w).lower() for w in " ".join(src).split()}
            from_source = [ed.core(w) for w in others]
            local = [ed.core(w) for o in rest for w in o.split() if ed.core(w).lower() not in words]
            out["word_swap_source"] += [(j, e) for e in ed.swap_edits(tokens, from_source, t.lang)]
            text_edits = ed.swap_edits(tokens, local, t.lang) or ed.swap_edits(tokens, t.frequent, t.lang, words)
        out["word_swap_text"] += [(j, e) for e in text_edits]
    return out


@dataclass
class Pick:
    """A passage (paragraph p, sentences start:start+k), the perturbations it admits and the one it got."""

    p: int
    start: int
    k: int
    kinds: list[str]
    kind: str | None = None


def _augment(kind: str, picks: list[Pick], spare: list[Pick], tried: set[str]) -> bool:
    """Give ``kind`` one more passage: a spare one that admits it, or a picked one that admits it
    whose own kind gets another passage in turn (an augmenting path, as in bipartite matching)."""
    for i, s in enumerate(spare):
        if kind in s.kinds:
            s.kind = kind
            picks.append(spare.pop(i))
            return True
    tried.add(kind)
    for c in picks:
        if c.kind not in tried and kind in c.kinds:
            old = c.kind
            c.kind = kind
            if _augment(old, picks, spare, tried):  # type: ignore[arg-type]
                return True
            c.kind = old
    return False


def select(t: Text, pairs: int, rng: random.Random) -> list[Pick]:
    """Up to ``pairs`` passages with their perturbations: one per paragraph, paragraphs in seeded
    order, each given the perturbation it admits that most lacks its share (``SCARCITY`` breaks
    ties); when the paragraphs run out, shares are rebalanced by augmenting paths, and those still
    unfilled go to passages of other kinds."""
    quota = {kind: len(range(i, pairs, len(PERTURBATIONS))) for i, kind in enumerate(PERTURBATIONS)}
    first: dict[str, int] = {}
    for p, text in enumerate(t.paragraphs):  # a repeated paragraph counts once
        first.setdefault(text, p)
    order = sorted(first.values())
    rng.shuffle(order)
    picks: list[Pick] = []
    spare: list[Pick] = []
    for p in order:
        if len(picks) == pairs:
            break
        run = passage(t, p, rng)
        if run is None:
            continue
        kinds = [kind for kind, opts in options(t, p, *run).items() if opts]
        if not kinds:
            continue
        pick = Pick(p, *run, kinds)
        open_kinds = [kind for kind in kinds if quota[kind] > 0]
        if open_kinds:
            pick.kind = max(open_kinds, key=lambda kind: (quota[kind], -SCARCITY.index(kind)))
            quota[pick.kind] -= 1
            picks.append(pick)
        else:
            spare.append(pick)
    for kind in SCARCITY:
        while quota[kind] > 0 and _augment(kind, picks, spare, set()):
            quota[kind] -= 1
    for s in spare[:pairs - len(picks)]:
        s.kind = min(s.kinds, key=SCARCITY.index)
        picks.append(s)
    return picks


def too_short(name: str, t: Text, found: int, pairs: int) -> InputError:
    n_sent = sum(map(len, t.sentences))
    usable_n = sum(usable(s, t.lang) for ss in t.sentences for s in ss)
    return InputError(f"{name}: only {found} passages of {SOURCE_SENTENCES[0]}–{SOURCE_SENTENCES[1]} sentences that "
                      f"take a minimal edit ({len(t.paragraphs)} paragraphs, {n_sent} sentences, {usable_n} usable); "
                      f"--pairs {pairs} needs {pairs}")


def record(i: int, t: Text, pick: Pick, label: int, rng: random.Random, flip: bool = False) -> dict[str, Any]:
    """Test record i; with ``flip`` (negation only) the edit goes into the source instead, so the
    edited sentence is the faithful candidate and the text's own sentence the unfaithful one."""
    p, start, k, kind = pick.p, pick.start, pick.k, str(pick.kind)
    opts = options(t, p, start, k)[kind]
    j, edit = rng.choice(opts)
    src = list(t.sentences[p][start:start + k])
    faithful = src[j]
    unfaithful = " ".join(ed.apply(faithful.split(), edit))
    if flip and kind == "negation":
        faithful = src[j] = unfaithful
        unfaithful = t.sentences[p][start + j]
    candidates = [faithful, unfaithful] if label == 0 else [unfaithful, faithful]
    return {"id": f"{t.lang}-{i:05d}", "lang": t.lang, "source": " ".join(src), "candidates": candidates,
            "label": label, "perturbation": kind}


def corpus(t: Text, held_out: set[int], test_sentences: set[str]) -> tuple[list[str], int]:
    """The paragraphs not held out and holding no test sentence anywhere; how many were dropped."""
    keep = [p for p in range(len(t.paragraphs)) if p not in held_out]
    joined = "\n".join(t.paragraphs[p] for p in keep)
    starts, pos = [], 0
    for p in keep:
        starts.append(pos)
        pos += len(t.paragraphs[p]) + 1
    hit: set[int] = set()
    for s in test_sentences:
        at = joined.find(s)
        while at != -1:
            hit.add(bisect_right(starts, at) - 1)
            at = joined.find(s, at + 1)
    return [t.paragraphs[p] for n, p in enumerate(keep) if n not in hit], len(hit)


def generate(cfg: TextConfig) -> dict[str, str]:
    """test.jsonl, corpus.txt, manifest.json (name -> text) from the text; refuses a text that is
    not in the language's script or too short for ``cfg.pairs`` records (``InputError``)."""
    cfg.validate()
    name = "<stdin>" if cfg.text == STDIO else cfg.text
    raw = read_text(cfg.text)
    problem = script_problem(raw, cfg.lang)
    if problem:
        raise InputError(f"{name}: {problem}")
    t = prepare(raw, cfg.lang)
    rng = random.Random(f"{TASK}-text-{cfg.lang}-{cfg.seed}")
    chosen = select(t, cfg.pairs, rng)
    if len(chosen) < cfg.pairs:
        raise too_short(name, t, len(chosen), cfg.pairs)
    labels = [i % 2 for i in range(cfg.pairs)]
    rng.shuffle(labels)
    flips = random.Random(f"{TASK}-text-{cfg.lang}-{cfg.seed}-direction")
    tests = [record(i, t, c, label, rng, flips.random() < 0.5) for i, (c, label) in enumerate(zip(chosen, labels))]
    held_out = {c.p for c in chosen}
    test_sentences = {s for c in chosen for s in t.sentences[c.p][c.start:c.start + c.k]}
    test_sentences |= {r["candidates"][r["label"]] for r in tests}  # an edited source sentence too
    kept, dropped = corpus(t, held_out, test_sentences)
    files = {"test.jsonl": jsonl_text(tests), "corpus.txt": "".join(p + "\n" for p in kept)}
    desc = {
        "test.jsonl": "Faithfulness pairs from real text: {id, lang, source (2-4 consecutive sentences of one paragraph), "
                      "candidates [a, b] (a sentence of the source and its minimal edit), label (the faithful one), "
                      "perturbation}.",
        "corpus.txt": "The text's other paragraphs, one a line, none holding a test sentence (pretraining text).",
    }
    data = raw.encode("utf-8")
    manifest = {
        "task": TASK, "lang": cfg.lang, "seed": cfg.seed, "config": asdict(cfg),
        "text": {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                 "paragraphs": len(t.paragraphs), "sentences": sum(map(len, t.sentences)),
                 "usable_sentences": sum(usable(s, cfg.lang) for ss in t.sentences for s in ss)},
        "perturbations": {kind: sum(r["perturbation"] == kind for r in tests) for kind in PERTURBATIONS},
        "labels": {str(k): labels.count(k) for k in (0, 1)},
        "corpus": {"paragraphs_held_out": len(held_out), "paragraphs_dropped_for_a_test_sentence": dropped},
        "files": file_entries(files, {"test.jsonl": len(tests), "corpus.txt": len(kept)}, desc),
    }  # fmt: skip
    files["manifest.json"] = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    return files


def write(cfg: TextConfig, out: str | Path, force: bool = False) -> dict[str, Any]:
    """Validate, refuse an existing ``out`` (unless force), generate, write atomically with
    lorakit.json (the text's hash among its inputs); return a summary."""
    cfg.validate()
    check_paths({"--out": out}, {"--from-text": cfg.text})
    check_output(out, force)
    files = generate(cfg)
    write_files(files, out, COMMAND, asdict(cfg), cfg.seed, force, inputs=[cfg.text])
    m = json.loads(files["manifest.json"])
    return {"out": str(out), "lang": cfg.lang, "counts": {n: f["count"] for n, f in m["files"].items()},
            "corpus_bytes": len(files["corpus.txt"].encode("utf-8")), "perturbations": m["perturbations"],
            "text": m["text"]}
