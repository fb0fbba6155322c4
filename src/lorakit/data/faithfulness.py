"""Synthetic faithfulness test sets: news documents, a faithful paraphrased summary and a
minimally edited unfaithful one, in Vietnamese, Polish or Georgian.

``corpus.txt`` holds pretraining documents (one a line: the body, then its summary restated in
every summary template, as a news lede and a standfirst restate the story); ``test.jsonl`` holds
other documents (never in the corpus) with ``candidates`` = [faithful, unfaithful] in seeded order.
Documents are short (the event sentence and the attendance sentence, no filler sentences) and
every fact recurs in each restatement: a tiny BERT learns to copy facts from the source only
when the copy signal is dense, and source + summary must fit a 128-token sequence.
Perturbations (``PERTURBATIONS``) change one slot of the event and re-render the same summary
template, so both candidates have the same words except the edited ones.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from lorakit.data.files import write_files
from lorakit.data.lang import LANGS, Event, grammar
from lorakit.errors import UsageError
from lorakit.io import check_output
from lorakit.runtime import finite_problems

TASK = "faithfulness"
COMMAND = "gen-data faithfulness"
PERTURBATIONS = ("entity_swap", "number_date", "negation", "role_swap", "unsupported_addition")
NUMBERS = list(range(20, 910, 10))
"""Attendance counts: multiples of ten, so Polish ``N osób`` is always the genitive plural."""
P_NEGATED = 0.25
P_ADVERB = 0.3
FILLERS = (0, 0)
"""Filler sentences per document (min, max): none — they carry no fact to copy and lengthen every step."""


@dataclass
class FaithfulnessConfig:
    lang: str = "vi"
    """vi (Vietnamese), pl (Polish) or ka (Georgian, Mkhedruli)."""
    corpus_mb: float = 2.0
    """Size of corpus.txt (pretraining documents, none in the test set) in MB."""
    test_size: int = 500
    """Records in test.jsonl, spread evenly over the perturbation types."""
    perturbations: tuple[str, ...] = PERTURBATIONS
    seed: int = 0

    def validate(self) -> None:
        problems = finite_problems(self)
        if self.lang not in LANGS:
            problems.append(f"--lang must be one of {', '.join(LANGS)}, not {self.lang!r}")
        if not 0 < self.corpus_mb <= 2000:
            problems.append(f"--corpus-mb must be in (0, 2000], not {self.corpus_mb}")
        if self.test_size < 1:
            problems.append(f"--test-size must be at least 1, not {self.test_size}")
        unknown = [p for p in self.perturbations if p not in PERTURBATIONS]
        if unknown or not self.perturbations:
            problems.append(f"--perturbation must be among {', '.join(PERTURBATIONS)}, not {', '.join(unknown) or 'none'}")
        if problems:
            raise UsageError("; ".join(problems))


# events ------------------------------------------------------------------------------------------


def random_event(g: Any, people: list[Any], rng: random.Random, adverb: bool | None = None,
                 fillers: tuple[int, int] = (1, 2)) -> Event:
    a, b = rng.sample(people, 2)
    use_adverb = rng.random() < P_ADVERB if adverb is None else adverb
    return Event(
        a=a, b=b, verb=rng.randrange(len(g.VERBS)), city=rng.randrange(len(g.CITIES)), org=rng.randrange(len(g.ORGS)),
        day=rng.randint(1, 28), month=rng.randint(1, 12), number=rng.choice(NUMBERS),
        negated=rng.random() < P_NEGATED, adverb=rng.randrange(len(g.ADVERBS)) if use_adverb else None,
        body_template=rng.randrange(g.BODY_TEMPLATES), summary_template=rng.randrange(g.SUMMARY_TEMPLATES),
        fillers=rng.sample(range(g.FILLERS), rng.randint(*fillers)),
    )  # fmt: skip


def source(g: Any, ev: Event) -> str:
    return " ".join(g.body(ev))


def restatements(g: Any, ev: Event) -> list[str]:
    """The summary in every summary template, the event's own first (a corpus document's tail)."""
    n = g.SUMMARY_TEMPLATES
    return [g.summary(replace(ev, summary_template=(ev.summary_template + k) % n)) for k in range(n)]


def perturb(ev: Event, kind: str, g: Any, people: list[Any], rng: random.Random) -> Event:
    """The event with one slot changed so that the summary no longer follows from the source."""
    if kind == "entity_swap":
        if rng.random() < 0.5:
            return replace(ev, city=rng.choice([c for c in range(len(g.CITIES)) if c != ev.city]))
        return replace(ev, b=rng.choice([p for p in people if p.name not in (ev.a.name, ev.b.name)]))
    if kind == "number_date":
        choice = rng.randrange(3)
        if choice == 0:
            return replace(ev, number=rng.choice([n for n in NUMBERS if n != ev.number]))
        if choice == 1:
            return replace(ev, day=rng.choice([d for d in range(1, 29) if d != ev.day]))
        return replace(ev, month=rng.choice([m for m in range(1, 13) if m != ev.month]))
    if kind == "negation":
        return replace(ev, negated=not ev.negated)
    if kind == "role_swap":
        return replace(ev, a=ev.b, b=ev.a)
    if kind == "unsupported_addition":
        assert ev.adverb is None, "an addition needs a source without an adverb"
        return replace(ev, adverb=rng.randrange(len(g.ADVERBS)))
    raise ValueError(f"unknown perturbation {kind!r}")


def test_record(i: int, cfg: FaithfulnessConfig, kind: str, g: Any, people: list[Any], rng: random.Random) -> dict[str, Any]:
    ev = random_event(g, people, rng, adverb=False if kind == "unsupported_addition" else None, fillers=FILLERS)
    faithful, unfaithful = g.summary(ev), g.summary(perturb(ev, kind, g, people, rng))
    label = rng.randrange(2)
    candidates = [faithful, unfaithful] if label == 0 else [unfaithful, faithful]
    return {"id": f"{cfg.lang}-{i:05d}", "lang": cfg.lang, "source": source(g, ev), "candidates": candidates,
            "label": label, "perturbation": kind}


def generate(cfg: FaithfulnessConfig) -> dict[str, str]:
    """Every file (name -> text): test.jsonl, corpus.txt, manifest.json. Deterministic per seed."""
    cfg.validate()
    g = grammar(cfg.lang)
    rng = random.Random(f"{TASK}-{cfg.lang}-{cfg.seed}")
    people = g.people()
    tests = [test_record(i, cfg, cfg.perturbations[i % len(cfg.perturbations)], g, people, rng)
             for i in range(cfg.test_size)]
    held_out = {r["source"] for r in tests}
    budget, size, docs, skipped = int(cfg.corpus_mb * 1_000_000), 0, [], 0
    while size < budget:
        ev = random_event(g, people, rng, fillers=FILLERS)
        body = source(g, ev)
        if body in held_out:  # no test document in the corpus
            skipped += 1
            continue
        doc = " ".join([body, *restatements(g, ev)])
        docs.append(doc)
        size += len(doc.encode("utf-8")) + 1
    files = {
        "test.jsonl": "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in tests),
        "corpus.txt": "".join(d + "\n" for d in docs),
    }
    counts = {"test.jsonl": len(tests), "corpus.txt": len(docs)}
    per_kind = {k: sum(r["perturbation"] == k for r in tests) for k in cfg.perturbations}
    manifest = {
        "task": TASK, "lang": cfg.lang, "seed": cfg.seed, "config": asdict(cfg),
        "perturbations": per_kind, "corpus_documents_skipped_as_test": skipped,
        "files": {name: {"count": counts[name], "bytes": len(text.encode("utf-8")),
                         "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()} for name, text in files.items()},
    }  # fmt: skip
    files["manifest.json"] = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    return files


def write(cfg: FaithfulnessConfig, out: str | Path, force: bool = False) -> dict[str, Any]:
    """Validate, refuse an existing ``out`` (unless force), generate, write atomically; return a summary."""
    cfg.validate()
    check_output(out, force)
    files = generate(cfg)
    write_files(files, out, COMMAND, asdict(cfg), cfg.seed, force)
    manifest = json.loads(files["manifest.json"])
    return {"out": str(out), "lang": cfg.lang, "counts": {k: v["count"] for k, v in manifest["files"].items()},
            "corpus_bytes": manifest["files"]["corpus.txt"]["bytes"], "perturbations": manifest["perturbations"]}
