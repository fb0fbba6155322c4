"""Zero-shot minimal pairs for the rescoring study's "three other tasks", in the shape of
``gen-data faithfulness`` test records (``rescore`` scores them, ``eval --task minimal-pairs``
reports them per language and per task).

Every candidate comes from the language modules' own renderers (``body`` / ``summary`` of a
random ``Event``, sampled as ``gen-data faithfulness`` samples them); the broken candidate is one
edit of the good one:

- ``sentence-order``: a generated news document (its ``body`` sentences) vs the same sentences
  shuffled so that the lead (event) sentence no longer comes first — the other sentences' order
  is free in the generator, so a shuffle of them alone would not be incoherent.
- ``word-order``: the lead or the summary sentence vs the same sentence with two adjacent words
  swapped; never the first or the last word (capital letter, final full stop), never a word with
  punctuation attached, an adverb (free position in Polish and Georgian) or two words of one
  person's name ("Kowalska Anna" is a valid surname-first order), never two equal words.
- ``agreement``: a sentence of the document vs the same sentence with one word broken —
  Polish: the past-tense verb takes the other gender than its subject (``Anna Kowalska
  skrytykował``); Georgian: the case of an aorist transitive verb's arguments — the subject
  nominative instead of ergative (``გიორგი ბერიძე`` for ``გიორგი ბერიძემ``) or, as often, the
  object ergative instead of nominative (so that the longer word, the case suffix, is the good one
  only half the time: a per-token PLL favours an extra well-predicted piece); Vietnamese has no inflection: the
  gendered middle name of the subject's name disagrees with the gendered given name (``Nguyễn
  Thị Minh`` for ``Nguyễn Văn Minh``, ``Văn`` for ``Thị`` likewise) — a consistency pair.

``source`` is empty: each candidate is judged on its own (as in BLiMP-style minimal pairs);
score with ``rescore --method pll`` (NSP with an empty first segment carries no signal).
Labels are balanced per task (half 0, half 1, in seeded order).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from lorakit.data.faithfulness import random_event
from lorakit.data.files import file_entries, jsonl_text, write_files
from lorakit.data.lang import LANGS, Event, Person, grammar
from lorakit.errors import LorakitError, UsageError
from lorakit.io import check_output
from lorakit.runtime import finite_problems

TASK = "minimal-pairs"
COMMAND = "gen-data minimal-pairs"
TASKS = ("sentence-order", "word-order", "agreement")
MAX_TEST_SIZE = 1_000_000
ATTEMPTS = 1000
"""Events tried for one record before giving up (a language module that cannot yield the pair)."""
AGREEMENT = {
    "vi": "consistency of the subject's gendered middle name (Văn/Thị) with the gendered given name",
    "pl": "past-tense verb gender agreeing with the subject",
    "ka": "case of an aorist transitive verb's arguments: ergative subject (broken: nominative) or nominative "
          "object (broken: ergative), about half each",
}
VI_MIDDLE = {"Văn": "Thị", "Thị": "Văn"}
_WORD = re.compile(r"\w+")


@dataclass
class MinimalPairsConfig:
    lang: str = "vi"
    """vi (Vietnamese), pl (Polish) or ka (Georgian, Mkhedruli)."""
    tasks: tuple[str, ...] = TASKS
    """Minimal-pair task(s) (repeatable; default all): coherent vs shuffled document, sentence vs
    adjacent-word swap, correct vs broken agreement."""
    test_size: int = 300
    """Records in test.jsonl, spread evenly over the tasks."""
    seed: int = 0

    def validate(self) -> None:
        problems = finite_problems(self)
        if self.lang not in LANGS:
            problems.append(f"--lang must be one of {', '.join(LANGS)}, not {self.lang!r}")
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks:
            problems.append(f"--task must be among {', '.join(TASKS)}, not {', '.join(unknown) or 'none'}")
        elif len(set(self.tasks)) != len(self.tasks):
            problems.append(f"--task given twice: {', '.join(self.tasks)}")
        if not max(1, len(self.tasks)) <= self.test_size <= MAX_TEST_SIZE:
            problems.append(f"--test-size must be in [{max(1, len(self.tasks))}, {MAX_TEST_SIZE}] (one record per "
                            f"task at least), not {self.test_size}")
        if problems:
            raise UsageError("; ".join(problems))


# pairs: (good, broken) or None when this event cannot give one --------------------------------


def sentence_order(g: Any, ev: Event, rng: random.Random) -> tuple[str, str] | None:
    """The document vs its sentences shuffled with the lead sentence moved from the front."""
    sentences = g.body(ev)
    if len(sentences) < 2:
        return None
    order = list(range(len(sentences)))
    while order[0] == 0:
        rng.shuffle(order)
    return " ".join(sentences), " ".join(sentences[i] for i in order)


def swap_positions(words: list[str], frozen: set[str], names: list[set[str]]) -> list[int]:
    """Indices i where swapping words i and i+1 breaks the order: both interior plain words, not
    equal, not in ``frozen`` (free-position words), not two words of one name."""
    return [i for i in range(1, len(words) - 2)
            if words[i] != words[i + 1]
            and all(_WORD.fullmatch(w) and w not in frozen for w in words[i:i + 2])
            and not any(words[i] in n and words[i + 1] in n for n in names)]  # fmt: skip


def word_order(g: Any, ev: Event, rng: random.Random) -> tuple[str, str] | None:
    """The lead or the summary sentence vs the same with one adjacent interior swap."""
    frozen = {w for adverb in g.ADVERBS for w in adverb.split()}
    names = [{w for _, form in p.forms for w in form.split()} for p in (ev.a, ev.b)]
    options = []
    for sentence in (g.body(ev)[0], g.summary(ev)):
        words = sentence.split()
        options += [(words, i) for i in swap_positions(words, frozen, names)]
    if not options:
        return None
    words, i = rng.choice(options)
    broken = [*words[:i], words[i + 1], words[i], *words[i + 2:]]
    return " ".join(words), " ".join(broken)


def with_form(p: Person, case: str, form: str) -> Person:
    return Person(tuple((c, form if c == case else f) for c, f in p.forms), p.gender)


def broken_subject(lang: str, p: Person) -> Person | None:
    """The subject with the form that breaks agreement: other gender (pl), nominative for
    ergative (ka), the other gendered middle name (vi); None when the name has no such part."""
    if lang == "pl":
        return Person(p.forms, "f" if p.gender == "m" else "m")
    if lang == "ka":
        return with_form(p, "erg", p["nom"])
    words = p.name.split()
    middle = [i for i, w in enumerate(words) if w in VI_MIDDLE]
    if len(middle) != 1:
        return None
    words[middle[0]] = VI_MIDDLE[words[middle[0]]]
    return with_form(p, "nom", " ".join(words))


def one_word_apart(a: str, b: str) -> bool:
    wa, wb = a.split(), b.split()
    return len(wa) == len(wb) and sum(x != y for x, y in zip(wa, wb)) == 1


def agreement(g: Any, ev: Event, rng: random.Random, lang: str) -> tuple[str, str] | None:
    """A sentence of the document (or its summary) vs the same rendered with the broken subject
    (Georgian: or, half the time, an ergative object)."""
    if lang == "ka" and rng.random() < 0.5:
        broken_ev = replace(ev, b=with_form(ev.b, "nom", ev.b["erg"]))
    else:
        bad = broken_subject(lang, ev.a)
        if bad is None:
            return None
        broken_ev = replace(ev, a=bad)
    pairs = [(s, t) for s, t in zip([*g.body(ev), g.summary(ev)], [*g.body(broken_ev), g.summary(broken_ev)])
             if s != t and one_word_apart(s, t)]
    return rng.choice(pairs) if pairs else None


def make_pair(task: str, lang: str, g: Any, people: list[Person], rng: random.Random) -> tuple[str, str]:
    for _ in range(ATTEMPTS):
        ev = random_event(g, people, rng)
        if task == "sentence-order":
            pair = sentence_order(g, ev, rng)
        elif task == "word-order":
            pair = word_order(g, ev, rng)
        elif task == "agreement":
            pair = agreement(g, ev, rng, lang)
        else:
            raise ValueError(f"unknown task {task!r}")
        if pair is not None and pair[0] != pair[1]:
            return pair
    raise LorakitError(f"{lang}: no {task} pair in {ATTEMPTS} events (has the language module changed?)")


# files --------------------------------------------------------------------------------------------


def task_records(cfg: MinimalPairsConfig, task: str, n: int) -> list[dict[str, Any]]:
    """``n`` records of one task from its own random stream (independent of the other tasks)."""
    g = grammar(cfg.lang)
    people = g.people()
    rng = random.Random(f"{TASK}:{cfg.lang}:{task}:{cfg.seed}")
    labels = [i % 2 for i in range(n)]
    rng.shuffle(labels)
    records: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for label in labels:
        pair = make_pair(task, cfg.lang, g, people, rng)
        for _ in range(ATTEMPTS):  # no repeated pair (a short filler sentence can recur)
            if pair not in seen:
                break
            pair = make_pair(task, cfg.lang, g, people, rng)
        seen.add(pair)
        good, broken = pair
        records.append({"lang": cfg.lang, "task": task, "source": "",
                        "candidates": [good, broken] if label == 0 else [broken, good], "label": label,
                        "perturbation": task})
    return records


def generate(cfg: MinimalPairsConfig) -> dict[str, str]:
    """test.jsonl and manifest.json (name -> text); byte-identical for a seed."""
    cfg.validate()
    per_task = {t: len(range(k, cfg.test_size, len(cfg.tasks))) for k, t in enumerate(cfg.tasks)}
    streams = {t: iter(task_records(cfg, t, n)) for t, n in per_task.items()}
    records = [{"id": f"{cfg.lang}-{t}-{i:05d}", **next(streams[t])}
               for i, t in ((i, cfg.tasks[i % len(cfg.tasks)]) for i in range(cfg.test_size))]
    files = {"test.jsonl": jsonl_text(records)}
    desc = {"test.jsonl": "Minimal pairs: {id, lang, task, source (empty), candidates [a, b], label (the good one), "
                          "perturbation (= task)}; score with `lorakit rescore --method pll`."}
    manifest = {
        "task": TASK, "lang": cfg.lang, "seed": cfg.seed, "config": asdict(cfg), "tasks": per_task,
        "labels": {str(k): sum(r["label"] == k for r in records) for k in (0, 1)},
        "agreement": AGREEMENT[cfg.lang],
        "files": file_entries(files, {"test.jsonl": len(records)}, desc),
    }  # fmt: skip
    files["manifest.json"] = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    return files


def write(cfg: MinimalPairsConfig, out: str | Path, force: bool = False) -> dict[str, Any]:
    """Validate, refuse an existing ``out`` (unless force), write test.jsonl + manifest.json atomically
    (with lorakit.json); return ``{"out", "lang", "counts", "tasks", "labels"}``."""
    cfg.validate()
    check_output(out, force)
    files = generate(cfg)
    write_files(files, out, COMMAND, asdict(cfg), cfg.seed, force)
    m = json.loads(files["manifest.json"])
    return {"out": str(out), "lang": cfg.lang, "counts": {n: f["count"] for n, f in m["files"].items()}} | {
        k: m[k] for k in ("tasks", "labels")}
