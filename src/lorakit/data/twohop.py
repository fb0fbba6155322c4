"""The synthetic two-hop world: does reusing LoRAs compose knowledge?

Adapters trained on disjoint facts A→B (``hop1.jsonl``: spouse) and B→C (``hop2.jsonl``:
lives_in) are combined; the test asks the two-hop question A→C, "In which city does the spouse
of A live?". Who is familiar (in ``pretrain.txt``) decides what a test set measures:

- F: A and B fresh; spouse(A)=B in hop1, lives_in(B)=C in hop2.
- H: A fresh, B a familiar single (its city is pretrained); spouse(A)=B in hop1.
- R: A and B familiar singles, only the link spouse(A)=B is new (hop1).
- control: held-out familiar couples, every fact pretrained, only the composition asked.

Every two-hop file has a bridge-format twin (``test_F_bridge.jsonl``, …, ``control_bridge.jsonl``):
the same question with ``BRIDGE_CUE`` appended, answered by naming the bridge entity first and then
the answer, " B lives in C." — the chain spoken, each name once. Its records carry ``answer``
(C, what ``eval`` scores) and ``bridge`` (B, reported beside it: did hop 1 fire?).
``--example-format`` says which formats the example couples' two-hop lines in pretrain.txt use;
``--target-format`` which the target expert's two-hop questions use, and ``--target-hops`` adds the
target couples' single hops to its data (the chain beside the facts it is composed of, for a base
that has no example couples of its own).
``--chat`` writes the JSONL files as chat records for an instruction-tuned model (``messages``: the
user's question, the assistant's answer; a statement record asks ``CHAT_STATEMENT`` and is answered
by the whole statement), the same facts, tests and fields otherwise.

``generate(cfg)`` builds every file in memory (deterministic for a seed: one
``random.Random``, lists and dicts only); ``write(cfg, out)`` validates and writes them
atomically with a ``manifest.json`` and ``lorakit.json``.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lorakit.data.files import file_entries, jsonl_text, write_dataset
from lorakit.data.names import MAX_WORDS, NamePool
from lorakit.errors import UsageError
from lorakit.io import check_output
from lorakit.runtime import finite_problems

TASK = "twohop"
COMMAND = "gen-data twohop"
TEST_TEMPLATES = ("same", "heldout")
EXAMPLE_FORMATS = ("both", "latent", "bridge")
TARGET_FORMATS = ("latent", "bridge", "both")
BRIDGE_CUE = "Think step by step."
"""Appended to a two-hop question asked in the bridge format (the latent question has no cue)."""
BRIDGE_ANSWER = "{b} lives in {o}."
"""The bridge-format answer: the bridge entity, then hop2's own lives_in statement."""
ORG_KINDS = ["Labs", "Works", "Group", "Systems", "Partners", "Studio"]
CHAIN = ["spouse", "lives_in"]
CHAT_STATEMENT = "What do you know about {s}?"
"""A statement record's question with ``--chat`` (answered by the statement: "A is married to B.")."""

# Templates: {s} subject, {o} object. Questions become "Q: <question> A:" with " <object>".
# With --test-templates heldout the LAST question template of each relation is the test one.
QUESTIONS: dict[str, list[str]] = {
    "spouse": ["Who is {s} married to?", "Who is the spouse of {s}?", "Whom did {s} marry?"],
    "lives_in": ["In which city does {s} live?", "Where does {s} live?", "Which city is home to {s}?"],
    "works_for": ["Who does {s} work for?", "Which organisation employs {s}?", "Where does {s} work?"],
    "city_in": ["In which country is {s}?", "Which country is {s} in?", "{s} lies in which country?"],
    "spouse_city": [
        "In which city does the spouse of {s} live?",
        "Where does the spouse of {s} live?",
        "Which city is home to the spouse of {s}?",
    ],
}
STATEMENTS: dict[str, list[str]] = {
    "spouse": ["{s} is married to {o}.", "The spouse of {s} is {o}.", "{s} and {o} are married."],
    "lives_in": ["{s} lives in {o}.", "{s} has a home in {o}.", "The home of {s} is in {o}."],
    "works_for": ["{s} works for {o}.", "{s} is employed by {o}.", "{o} employs {s}."],
    "city_in": ["{s} is in {o}.", "{s} is a city in {o}.", "The city of {s} lies in {o}."],
    "spouse_city": [
        "The spouse of {s} lives in {o}.",
        "{s} is married to someone who lives in {o}.",
        "The home of the spouse of {s} is in {o}.",
    ],
}

DESCRIPTIONS: dict[str, str] = {
    "pretrain.txt": "Base-model corpus: statements and QA lines of every familiar fact, city_in facts, "
    "two-hop example lines (latent and/or bridge format, --example-format); repeated and shuffled.",
    "hop1.jsonl": "Adapter hop1 training data: spouse(A)=B for the F, H and R items (A→B only), once per train "
    "question template and (unless --questions-only) once per statement template.",
    "hop2.jsonl": "Adapter hop2 training data: lives_in(B)=C for the F items, as hop1.",
    "target.jsonl": "Target-relation expert data: two-hop facts (A→C, latent) about other fresh couples, as hop1 "
    "(with --target-hops also their single hops A→B, B→C).",
    "mixed.jsonl": "hop1 + hop2 + target records shuffled (the data-mixed upper bound).",
    "test_F.jsonl": "Two-hop test, nothing familiar: A and B fresh.",
    "test_H.jsonl": "Two-hop test, bridge familiar: A fresh, B a familiar single.",
    "test_R.jsonl": "Two-hop test, all familiar: A and B familiar singles, only the spouse link is new.",
    "check_hop1.jsonl": "Each hop1 fact once in the test template (did the adapter learn it?).",
    "check_hop2.jsonl": "Each hop2 fact once in the test template.",
    "check_target.jsonl": "Each target fact once in the test template.",
    "recall.jsonl": "Sample of familiar single-hop facts in the test template (does the base know them?).",
    "control.jsonl": "Two-hop questions about held-out familiar couples: every fact pretrained, only the "
    "composition is new (positive control).",
}
TWO_HOP = ("test_F", "test_H", "test_R", "control")
DESCRIPTIONS |= {
    f"{stem}_bridge.jsonl": f"{stem}.jsonl in the bridge format: the question with the cue "
    f"{BRIDGE_CUE!r}, answered \" B lives in C.\" (answer C, bridge B)."
    for stem in TWO_HOP
}
FILES = list(DESCRIPTIONS)


@dataclass
class TwohopConfig:
    """Knobs of the two-hop world; ``validate()`` reports every problem at once."""

    seed: int = 0
    """Random seed: the same seed gives byte-identical files."""
    familiar_couples: int = 70
    """Couples whose spouse, city and employer are pretrained."""
    two_hop_examples: int = 50
    """The first N familiar couples also get their two-hop fact in pretrain.txt; the rest form control.jsonl."""
    familiar_singles: int = 0
    """Unmarried familiar people (city and employer pretrained; 0: 3 × --new-per-split, the minimum)."""
    new_per_split: int = 30
    """Items in each of test_F, test_H, test_R."""
    target: int = 30
    """Fresh couples in target.jsonl (the target-relation expert's data)."""
    cities: int = 12
    """Cities (single words)."""
    countries: int = 4
    """Countries."""
    orgs: int = 8
    """Organisations (employers)."""
    repeat: int = 1
    """Times every pretrain.txt line is repeated (before shuffling)."""
    recall_size: int = 200
    """Most familiar single-hop facts in recall.jsonl."""
    test_templates: str = "same"
    """same: test/check files use the first question template; heldout: the last question template of
    each relation is reserved for test/check files and never trained on."""
    questions_only: bool = False
    """Adapter data (hop1, hop2, target, mixed) asks each fact in the question templates only; by default
    it also states it in the statement templates (prompt: the statement up to the object), as
    pretrain.txt does: a fact taught as questions only reaches the bridge format less often."""
    example_format: str = "both"
    """The two-hop example lines in pretrain.txt: latent (" C"), bridge (cue, " B lives in C.") or both."""
    target_format: str = "latent"
    """The two-hop questions of target.jsonl (and so mixed.jsonl): latent (" C"), bridge (cue, " B lives in C.")
    or both — a base that never saw the bridge format learns it from the target couples only."""
    target_hops: bool = False
    """target.jsonl also teaches the target couples' single hops (spouse A→B, lives_in B→C) beside their
    two-hop facts, so that the target expert (and mixed) sees the chain composed from facts it knows, as
    a pretrained base's example couples do; the F people stay apart."""
    chat: bool = False
    """Write the JSONL files as chat records (``messages``: user question, assistant answer, no "Q: … A:"),
    for a model with a chat template; statements become "What do you know about A?" → "A is married to B."."""
    system: str | None = None
    """With --chat: a system turn first in every record (default none; the model's template may add its own)."""

    @property
    def singles(self) -> int:
        return self.familiar_singles or 3 * self.new_per_split

    @property
    def people(self) -> int:
        n = self.new_per_split
        return 2 * self.familiar_couples + self.singles + 2 * n + n + 2 * self.target

    def validate(self) -> None:
        problems: list[str] = finite_problems(self)
        for name in ("familiar_couples", "two_hop_examples", "familiar_singles", "target", "recall_size"):
            if getattr(self, name) < 0:
                problems.append(f"--{name.replace('_', '-')} must be at least 0, not {getattr(self, name)}")
        for name in ("new_per_split", "countries", "orgs", "repeat"):
            if getattr(self, name) < 1:
                problems.append(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.cities < 2:
            problems.append(f"--cities must be at least 2 (spouses live apart), not {self.cities}")
        if 1 <= self.countries and 2 <= self.cities < self.countries:
            problems.append(f"--countries ({self.countries}) must be at most --cities ({self.cities})")
        if self.two_hop_examples > self.familiar_couples >= 0:
            problems.append(
                f"--two-hop-examples ({self.two_hop_examples}) must be at most --familiar-couples ({self.familiar_couples})"
            )
        if self.familiar_singles and self.new_per_split >= 1 and self.familiar_singles < 3 * self.new_per_split:
            problems.append(
                f"--familiar-singles ({self.familiar_singles}) must be at least 3 × --new-per-split "
                f"({3 * self.new_per_split}: H bridges and R pairs), or 0 for that minimum"
            )
        if self.test_templates not in TEST_TEMPLATES:
            problems.append(f"--test-templates must be one of {', '.join(TEST_TEMPLATES)}, not {self.test_templates!r}")
        if self.target_format not in TARGET_FORMATS:
            problems.append(f"--target-format must be one of {', '.join(TARGET_FORMATS)}, not {self.target_format!r}")
        if self.system is not None and not self.chat:
            problems.append("--system needs --chat (it is the chat records' system turn)")
        if self.example_format not in EXAMPLE_FORMATS:
            problems.append(f"--example-format must be one of {', '.join(EXAMPLE_FORMATS)}, not {self.example_format!r}")
        words = 2 * self.people + self.cities + self.countries + self.orgs
        if not problems and words > MAX_WORDS:
            problems.append(f"the request needs {words} distinct name words; the name grammar gives at most {MAX_WORDS}")
        if problems:
            raise UsageError("invalid twohop options: " + "; ".join(problems))

    def train_templates(self, relation: str) -> list[int]:
        n = len(QUESTIONS[relation])
        return list(range(n - 1)) if self.test_templates == "heldout" else list(range(n))

    def test_template(self, relation: str) -> int:
        return len(QUESTIONS[relation]) - 1 if self.test_templates == "heldout" else 0


@dataclass
class Fact:
    relation: str
    subject: str
    object: str
    set: str
    bridge: str | None = None

    def meta(self, template: int) -> dict[str, Any]:
        m: dict[str, Any] = {"relation": self.relation, "subject": self.subject, "object": self.object}
        if self.bridge is not None:
            m |= {"bridge": self.bridge, "chain": CHAIN}
        return m | {"set": self.set, "template": template}

    def question(self, template: int) -> str:
        return QUESTIONS[self.relation][template].format(s=self.subject)

    def statements(self) -> list[str]:
        return [t.format(s=self.subject, o=self.object) for t in STATEMENTS[self.relation]]

    def statement_parts(self, template: int) -> tuple[str, str]:
        """A statement split before its object: ("A is married to", " B.")."""
        head, tail = STATEMENTS[self.relation][template].split("{o}")
        return head.format(s=self.subject).rstrip(), f" {self.object}{tail}"

    def bridge_question(self, template: int) -> str:
        return f"{self.question(template)} {BRIDGE_CUE}"

    def bridge_answer(self) -> str:
        """The chain spoken, each name once: "B lives in C." (two-hop facts only): after the bridge
        entity, the words of the lives_in statement that hop2 is trained on."""
        return BRIDGE_ANSWER.format(b=self.bridge, o=self.object)


@dataclass
class World:
    """Entities and facts, grouped by role (lists in generation order: deterministic)."""

    cities: list[str] = field(default_factory=list)
    country: dict[str, str] = field(default_factory=dict)
    orgs: list[str] = field(default_factory=list)
    familiar: list[Fact] = field(default_factory=list)  # single-hop facts in pretrain.txt
    examples: list[Fact] = field(default_factory=list)  # two-hop facts in pretrain.txt
    control: list[Fact] = field(default_factory=list)
    hop1: list[Fact] = field(default_factory=list)
    hop2: list[Fact] = field(default_factory=list)
    target: list[Fact] = field(default_factory=list)
    target_hops: list[Fact] = field(default_factory=list)  # the target couples' single hops
    tests: dict[str, list[Fact]] = field(default_factory=dict)


def build_world(cfg: TwohopConfig, rng: random.Random) -> World:
    """Draw every entity and assign every fact."""
    pool, w = NamePool(rng), World()
    w.cities = [pool.word() for _ in range(cfg.cities)]
    countries = [pool.word() for _ in range(cfg.countries)]
    w.country = {c: countries[i % cfg.countries] for i, c in enumerate(rng.sample(w.cities, cfg.cities))}
    w.orgs = [f"{pool.word()} {rng.choice(ORG_KINDS)}" for _ in range(cfg.orgs)]

    def familiar_person(person: str, city: str) -> None:
        w.familiar.append(Fact("lives_in", person, city, "familiar"))
        w.familiar.append(Fact("works_for", person, rng.choice(w.orgs), "familiar"))

    # familiar couples: partners live apart, so "own city" never answers the two-hop question
    for i in range(cfg.familiar_couples):
        a, b = pool.person(), pool.person()
        ca, cb = rng.sample(w.cities, 2)
        w.familiar += [Fact("spouse", a, b, "familiar"), Fact("spouse", b, a, "familiar")]
        familiar_person(a, ca)
        familiar_person(b, cb)
        kind = "example" if i < cfg.two_hop_examples else "control"
        pair = [Fact("spouse_city", a, cb, kind, bridge=b), Fact("spouse_city", b, ca, kind, bridge=a)]
        (w.examples if i < cfg.two_hop_examples else w.control).extend(pair)

    # familiar singles: the first n are H bridges, the next 2n R pairs (living apart), then extras
    n = cfg.new_per_split
    singles: list[tuple[str, str]] = []
    for i in range(cfg.singles):
        person = pool.person()
        if n <= i < 3 * n and (i - n) % 2 == 1:
            city = rng.choice([c for c in w.cities if c != singles[-1][1]])
        else:
            city = rng.choice(w.cities)
        singles.append((person, city))
        familiar_person(person, city)

    w.tests = {"F": [], "H": [], "R": []}
    for _ in range(n):  # F: both fresh; B's city goes to hop2
        a, b, c = pool.person(), pool.person(), rng.choice(w.cities)
        w.hop1.append(Fact("spouse", a, b, "F"))
        w.hop2.append(Fact("lives_in", b, c, "F"))
        w.tests["F"].append(Fact("spouse_city", a, c, "F", bridge=b))
    for b, c in singles[:n]:  # H: A fresh, B familiar
        a = pool.person()
        w.hop1.append(Fact("spouse", a, b, "H"))
        w.tests["H"].append(Fact("spouse_city", a, c, "H", bridge=b))
    for (a, _), (b, c) in zip(singles[n : 3 * n : 2], singles[n + 1 : 3 * n : 2], strict=True):  # R: only the link is new
        w.hop1.append(Fact("spouse", a, b, "R"))
        w.tests["R"].append(Fact("spouse_city", a, c, "R", bridge=b))
    for _ in range(cfg.target):  # target: other fresh couples, the two-hop fact directly
        a, b = pool.person(), pool.person()
        w.target.append(Fact("spouse_city", a, rng.choice(w.cities), "target", bridge=b))
        w.target_hops += [Fact("spouse", a, b, "target"), Fact("lives_in", b, w.target[-1].object, "target")]
    return w


def _text(prompt: str, completion: str, chat: tuple[str, str] | None, system: str | None) -> dict[str, Any]:
    """The record's text: prompt/completion, or with ``chat`` = (user, assistant) a ``messages`` chat
    (``system``: its first turn)."""
    if chat is None:
        return {"prompt": prompt, "completion": completion}
    turns = [("system", system)] * (system is not None) + [("user", chat[0]), ("assistant", chat[1])]
    return {"messages": [{"role": role, "content": content} for role, content in turns]}


def _record(split: str, index: int, fact: Fact, template: int, cfg: TwohopConfig) -> dict[str, Any]:
    question = fact.question(template)
    return {
        "id": f"{split}-{index:04d}",
        **_text(f"Q: {question} A:", f" {fact.object}", (question, fact.object) if cfg.chat else None, cfg.system),
        "task": TASK,
        "split": split,
        "meta": fact.meta(template),
    }


def _bridge_record(split: str, index: int, fact: Fact, template: int, cfg: TwohopConfig) -> dict[str, Any]:
    question, answer = fact.bridge_question(template), fact.bridge_answer()
    return {
        "id": f"{split}-{index:04d}",
        **_text(f"Q: {question} A:", f" {answer}", (question, answer) if cfg.chat else None, cfg.system),
        "answer": fact.object,
        "bridge": fact.bridge,
        "task": TASK,
        "split": split,
        "meta": fact.meta(template) | {"format": "bridge"},
    }


def _statement_record(split: str, index: int, fact: Fact, template: int, cfg: TwohopConfig) -> dict[str, Any]:
    prompt, completion = fact.statement_parts(template)
    chat = (CHAT_STATEMENT.format(s=fact.subject), fact.statements()[template]) if cfg.chat else None
    text = _text(prompt, completion, chat, cfg.system)
    return {"id": f"{split}-{index:04d}", **text, "task": TASK, "split": split,
            "meta": fact.meta(template) | {"form": "statement"}}


def _train(split: str, facts: list[Fact], cfg: TwohopConfig, rng: random.Random, two_hop: str = "latent"
           ) -> list[dict[str, Any]]:
    """Each fact once per train question template (two-hop facts: in the ``two_hop`` format(s), a
    ``--target-format``), once per statement template unless ``questions_only``; shuffled."""
    items = [
        (_record, f, t) for f in facts for t in cfg.train_templates(f.relation) if f.bridge is None or two_hop != "bridge"
    ]
    if two_hop != "latent":
        items += [(_bridge_record, f, t) for f in facts if f.bridge is not None for t in cfg.train_templates(f.relation)]
    if not cfg.questions_only:
        items += [(_statement_record, f, t) for f in facts for t in range(len(STATEMENTS[f.relation]))]
    rng.shuffle(items)
    return [make(split, i, f, t, cfg) for i, (make, f, t) in enumerate(items)]


def _test(split: str, facts: list[Fact], cfg: TwohopConfig, bridge: bool = False) -> list[dict[str, Any]]:
    """Each fact once in the test template, in generation order (``bridge``: in the bridge format)."""
    make = _bridge_record if bridge else _record
    return [make(split, i, f, cfg.test_template(f.relation), cfg) for i, f in enumerate(facts)]


def _pretrain_lines(w: World, cfg: TwohopConfig, rng: random.Random) -> list[str]:
    city_in = [Fact("city_in", c, w.country[c], "familiar") for c in w.cities]
    lines: list[str] = []
    for f in w.familiar + city_in + w.examples:
        lines += f.statements()
        if f.bridge is None or cfg.example_format != "bridge":
            lines += [f"Q: {f.question(t)} A: {f.object}" for t in cfg.train_templates(f.relation)]
        if f.bridge is not None and cfg.example_format != "latent":
            lines += [f"Q: {f.bridge_question(t)} A: {f.bridge_answer()}" for t in cfg.train_templates(f.relation)]
    lines = lines * cfg.repeat
    rng.shuffle(lines)
    return lines


def generate(cfg: TwohopConfig) -> dict[str, str]:
    """Every file of the data set (name -> text), manifest.json included. Validates first."""
    cfg.validate()
    rng = random.Random(cfg.seed)
    w = build_world(cfg, rng)
    hop1, hop2 = _train("hop1", w.hop1, cfg, rng), _train("hop2", w.hop2, cfg, rng)
    target = _train("target", w.target + (w.target_hops if cfg.target_hops else []), cfg, rng, cfg.target_format)
    mixed = [r | {"meta": r["meta"] | {"source": r["split"]}} for r in hop1 + hop2 + target]
    rng.shuffle(mixed)
    mixed = [r | {"id": f"mixed-{i:04d}", "split": "mixed"} for i, r in enumerate(mixed)]
    recall = rng.sample(w.familiar, min(cfg.recall_size, len(w.familiar)))
    records = {
        "hop1": hop1, "hop2": hop2, "target": target, "mixed": mixed,
        **{f"test_{s}": _test(f"test_{s}", w.tests[s], cfg) for s in ("F", "H", "R")},
        "check_hop1": _test("check_hop1", w.hop1, cfg),
        "check_hop2": _test("check_hop2", w.hop2, cfg),
        "check_target": _test("check_target", w.target, cfg),
        "recall": _test("recall", recall, cfg),
        "control": _test("control", w.control, cfg),
    }  # fmt: skip
    two_hop = {"test_F": w.tests["F"], "test_H": w.tests["H"], "test_R": w.tests["R"], "control": w.control}
    records |= {f"{s}_bridge": _test(f"{s}_bridge", facts, cfg, bridge=True) for s, facts in two_hop.items()}
    pretrain = _pretrain_lines(w, cfg, rng)
    files = {"pretrain.txt": "".join(line + "\n" for line in pretrain)}
    files |= {f"{stem}.jsonl": jsonl_text(recs) for stem, recs in records.items()}
    counts = {"pretrain.txt": len(pretrain)} | {f"{stem}.jsonl": len(recs) for stem, recs in records.items()}
    files["manifest.json"] = json.dumps(_manifest(cfg, w, files, counts), indent=2, ensure_ascii=False) + "\n"
    return {name: files[name] for name in FILES + ["manifest.json"]}


def _manifest(cfg: TwohopConfig, w: World, files: dict[str, str], counts: dict[str, int]) -> dict[str, Any]:
    return {
        "task": TASK,
        "seed": cfg.seed,
        "config": asdict(cfg) | {"familiar_singles": cfg.singles},
        "templates": {
            rel: {
                "questions": QUESTIONS[rel],
                "statements": STATEMENTS[rel],
                "train_questions": cfg.train_templates(rel),
                "test_question": cfg.test_template(rel),
            }
            | ({"bridge_cue": BRIDGE_CUE, "bridge_answer": BRIDGE_ANSWER} if rel == "spouse_city" else {})
            for rel in QUESTIONS
        },
        "entities": {"people": cfg.people, "cities": w.cities, "countries": w.country, "orgs": w.orgs},
        "files": file_entries(files, counts, DESCRIPTIONS),
    }


def write(cfg: TwohopConfig, out: str | Path, force: bool = False) -> dict[str, Any]:
    """Validate, refuse an existing ``out`` (unless force), generate, write atomically.

    Returns the summary: ``{"out", "counts": {file: records or lines}, "pretrain_chars"}``.
    """
    cfg.validate()
    check_output(out, force)
    return write_dataset(generate(cfg), out, COMMAND, asdict(cfg), cfg.seed, force)
