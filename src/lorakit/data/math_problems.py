"""Math word problems in the GSM-Symbolic style, one family per skill: does reusing LoRAs compose skills?

A problem is a story about one quantity ("Vela has 6 pens.") changed by a chain of operations,
each one sentence, each one step of the solution in the GSM8K calculator style::

    Q: Vela has 6 pens. She buys 3 more. Then she ends up with 2 times as many. How many pens does Vela have now? A:
     6+3=<<6+3=9>>9. 9*2=<<9*2=18>>18. #### 18

Skills are families of operations: ``add`` (+, -), ``mul`` (×, ÷: bags of n, equal piles) and
``pct`` (keeps p % of them). Levels follow GSM-Symbolic: P0 is the base template, P1 adds one
clause, P2 two, each clause another operation. An in-skill problem uses one skill throughout
(P0: one step); a composed problem's base template needs two skills, the opening of one and a
clause of the other (P0: two steps), its added clauses come from either. Every quantity, every
intermediate result and the answer lie in [min_number, max_number]; percentages are 10/20/25/50.

The solution is one line (steps joined by spaces, then ``#### answer``): lorakit's corpora and
generation are line based, so GSM8K's line breaks become spaces. ``pretrain.txt`` teaches a tiny
base to compute: every arithmetic fact in range, each also as a solved single-step problem, bare
("What is 9 plus 5?") and in words of its own ("Vela had 9 pens and found 5 more."), plus
unsolved problems in the adapters' templates for their words. The adapters' templates are solved
only in the adapters' data.

``generate(cfg)`` builds every file in memory (deterministic for a seed: string-seeded
``random.Random`` per file, lists only); ``write(cfg, out)`` validates and writes them atomically.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from itertools import permutations
from pathlib import Path
from typing import Any

from lorakit.data.files import file_entries, jsonl_text, write_dataset
from lorakit.data.names import NamePool
from lorakit.errors import UsageError
from lorakit.runtime import finite_problems

TASK = "math"
COMMAND = "gen-data math"
SKILLS: dict[str, tuple[str, ...]] = {"add": ("+", "-"), "mul": ("*", "/"), "pct": ("%",)}
LEVELS = ("P0", "P1", "P2")
PERCENTS = (10, 20, 25, 50)
MAX_NUMBER = 200
"""Largest --max-number: pretrain.txt holds every fact in range (about max²) ."""
ATTEMPTS = 1000
"""Draws per problem before giving up (numbers out of range, or the prompt already drawn)."""
NAMES = 24
OBJECTS = ["apples", "pens", "stamps", "marbles", "cards", "books", "shells", "coins", "cookies", "stickers",
           "beads", "eggs"]  # fmt: skip

# {name} owner, {x} quantity, {obj} object, {b} operand, {He}/{he} pronoun, {friend} another name.
OPENINGS = {
    "+": "{name} has {x} {obj}. {He} buys {b} more.",
    "-": "{name} has {x} {obj}. {He} gives {b} to {friend}.",
    "*": "{name} buys {x} bags of {obj} with {b} in each bag.",
    "/": "{name} has {x} {obj} and splits them into {b} equal piles. {He} keeps one pile.",
    "%": "{name} has {x} {obj}. {He} keeps {b}% of them.",
}
CLAUSES = {
    "+": "Then {he} gets {b} more.",
    "-": "Then {he} gives {b} to {friend}.",
    "*": "Then {he} ends up with {b} times as many.",
    "/": "Then {he} splits them into {b} equal piles and keeps one pile.",
    "%": "Then {he} keeps {b}% of them.",
}
QUESTION = "How many {obj} does {name} have now?"
BARE = {"+": "What is {x} plus {b}?", "-": "What is {x} minus {b}?", "*": "What is {x} times {b}?",
        "/": "What is {x} divided by {b}?", "%": "What is {b}% of {x}?"}  # fmt: skip
# Solved single-step word problems in pretrain.txt: their own phrasing, never the adapters' templates.
PRETRAIN_PROBLEMS = {
    "+": "{name} had {x} {obj} and found {b} more.",
    "-": "{name} had {x} {obj} and lost {b} of them.",
    "*": "{name} had {x} boxes with {b} {obj} in each box.",
    "/": "{name} cut {x} {obj} into {b} equal groups and took one group.",
    "%": "{name} had {x} {obj} and saved {b}% of them.",
}
PRETRAIN_QUESTION = "How many {obj} did {name} end up with?"
PRONOUNS = (("She", "she"), ("He", "he"))


def _names(text: str, kind: str, known: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(names, problems) of a comma-separated option."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    problems = []
    if not names:
        problems.append(f"--{kind} is empty (choose from {', '.join(known)})")
    unknown = [n for n in names if n not in known]
    if unknown:
        problems.append(f"unknown {kind[:-1]}(s) {', '.join(unknown)} in --{kind} (choose from {', '.join(known)})")
    if len(set(names)) < len(names):
        problems.append(f"--{kind} names one twice ({text})")
    return names, problems


@dataclass
class MathConfig:
    """Knobs of the math word problems; ``validate()`` reports every problem at once."""

    seed: int = 0
    """Random seed: the same seed gives byte-identical files."""
    skills: str = "add,mul,pct"
    """Comma-separated skills: add (+ -), mul (× ÷), pct (p % of); one training file and one in-skill test each."""
    levels: str = "P0,P1,P2"
    """Comma-separated difficulty levels (P0 base template, P1 one added clause, P2 two)."""
    train_per_skill: int = 600
    """Problems in each skill_<skill>.jsonl, the levels in turn."""
    test_per_level: int = 50
    """Problems per level in each in-skill test and in each test_composed_<level>.jsonl."""
    min_number: int = 2
    """Smallest quantity, operand, intermediate result or answer."""
    max_number: int = 20
    """Largest quantity, operand, intermediate result or answer (small numbers: a tiny model computes)."""
    train_composed: int = 1800
    """Problems in composed.jsonl (the composed-skill positive control's data): levels and skill pairs in
    turn, names of their own (never a test's) and no test problem's chain of numbers."""
    stories: int = 100
    """Unsolved problems in the adapters' templates in pretrain.txt (their words, never their solutions)."""
    repeat: int = 2
    """Times every pretrain.txt line is repeated (before shuffling)."""

    def skill_names(self) -> list[str]:
        return _names(self.skills, "skills", tuple(SKILLS))[0]

    def level_names(self) -> list[str]:
        return _names(self.levels, "levels", LEVELS)[0]

    def validate(self) -> None:
        problems = finite_problems(self) + _names(self.skills, "skills", tuple(SKILLS))[1] + _names(self.levels, "levels", LEVELS)[1]
        for name in ("train_per_skill", "test_per_level", "train_composed", "stories"):
            if getattr(self, name) < 0:
                problems.append(f"--{name.replace('_', '-')} must be at least 0, not {getattr(self, name)}")
        for name in ("min_number", "repeat"):
            if getattr(self, name) < 1:
                problems.append(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.max_number < self.min_number:
            problems.append(f"--max-number ({self.max_number}) is below --min-number ({self.min_number})")
        elif self.max_number < 2 * self.min_number:
            problems.append(f"--max-number ({self.max_number}) must be at least 2 × --min-number ({2 * self.min_number}): "
                            "a sum of two numbers must fit")
        elif self.max_number > MAX_NUMBER:
            problems.append(f"--max-number must be at most {MAX_NUMBER}, not {self.max_number}: pretrain.txt holds every fact in range")
        elif not problems:  # the longest level's chains must exist (a shorter one is a prefix)
            top = max(LEVELS.index(lv) for lv in self.level_names())
            skills = self.skill_names()
            plans = [in_skill_plan(s, LEVELS[top]) for s in skills]
            plans += [composed_plan(pair, LEVELS[top]) for pair in permutations(skills, 2)]
            for plan in plans:
                if not reachable(plan, self.min_number, self.max_number):
                    problems.append(f"no {'+'.join(dict.fromkeys(s for step in plan for s in step))} problem at "
                                    f"{LEVELS[top]} has every number in [{self.min_number}, {self.max_number}]: "
                                    "raise --max-number or drop the level")
        if problems:
            raise UsageError("invalid math options: " + "; ".join(problems))


# Arithmetic ------------------------------------------------------------------------------------


def apply(op: str, x: int, b: int) -> int:
    """``x op b`` for an operation that candidates() allowed (exact integer results)."""
    if op == "+":
        return x + b
    if op == "-":
        return x - b
    if op == "*":
        return x * b
    if op == "/":
        return x // b
    if op == "%":
        return x * b // 100
    raise ValueError(f"unknown operation {op!r}")


def reachable(plan: list[tuple[str, ...]], lo: int, hi: int) -> set[int]:
    """The answers a plan (per step: the skills it may use) can reach with every number in [lo, hi]."""
    values = set(range(lo, hi + 1))
    for step in plan:
        values = {apply(op, x, b) for x in values for s in step for op in SKILLS[s] for b in candidates(op, x, lo, hi)}
    return values


def candidates(op: str, x: int, lo: int, hi: int) -> list[int]:
    """Operands b for which ``x op b`` is exact and in [lo, hi] (b itself in [lo, hi], or a percentage)."""
    if op == "+":
        return list(range(lo, hi - x + 1))
    if op == "-":
        return list(range(lo, x - lo + 1))
    if op == "*":
        return list(range(max(lo, 2), hi // x + 1))
    if op == "/":
        return [b for b in range(max(lo, 2), x + 1) if x % b == 0 and x // b >= lo]
    if op == "%":
        return [p for p in PERCENTS if x * p % 100 == 0 and x * p // 100 >= lo]
    raise ValueError(f"unknown operation {op!r}")


@dataclass(frozen=True)
class Step:
    op: str
    x: int
    b: int

    @property
    def result(self) -> int:
        return apply(self.op, self.x, self.b)

    @property
    def expr(self) -> str:
        return f"{self.x}*{self.b}/100" if self.op == "%" else f"{self.x}{self.op}{self.b}"

    def solution(self) -> str:
        """GSM8K calculator style, ``6 + 3 = <<6+3=9>>9.``: the spaced numbers tokenise as in the question."""
        return f"{self.expr.replace('+', ' + ').replace('-', ' - ').replace('*', ' * ').replace('/', ' / ')} = " \
               f"<<{self.expr}={self.result}>>{self.result}."


@dataclass
class Problem:
    skills: list[str]
    level: str
    steps: list[Step]
    story: str
    question: str

    @property
    def answer(self) -> int:
        return self.steps[-1].result

    def record(self, split: str, index: int) -> dict[str, Any]:
        solution = " ".join(s.solution() for s in self.steps) + f" #### {self.answer}"
        meta = {"skills": self.skills, "level": self.level, "ops": [s.op for s in self.steps],
                "operands": [[s.x, s.b] for s in self.steps], "answer": self.answer}
        return {"id": f"{split}-{index:04d}", "prompt": f"Q: {self.story} {self.question} A:",
                "completion": f" {solution}", "task": TASK, "split": split, "meta": meta}


class Drawer:
    """Draws problems whose numbers stay in [lo, hi], each prompt at most once over the data set."""

    def __init__(self, cfg: MathConfig, names: list[str]) -> None:
        self.lo, self.hi, self.names = cfg.min_number, cfg.max_number, names
        self.seen: set[str] = set()  # membership only: never iterated
        self.chains: set[tuple[Step, ...]] = set()
        """Chains of numbers (the steps) no problem drawn may repeat (membership only)."""

    def _steps(self, rng: random.Random, plan: list[tuple[str, ...]]) -> list[Step] | None:
        op = rng.choice([o for s in plan[0] for o in SKILLS[s]])
        xs = [x for x in range(self.lo, self.hi + 1) if candidates(op, x, self.lo, self.hi)]
        if not xs:
            return None
        x = rng.choice(xs)
        steps = [Step(op, x, rng.choice(candidates(op, x, self.lo, self.hi)))]
        for step in plan[1:]:
            x = steps[-1].result
            ops = [o for s in step for o in SKILLS[s] if candidates(o, x, self.lo, self.hi)]
            if not ops:
                return None
            op = rng.choice(ops)
            steps.append(Step(op, x, rng.choice(candidates(op, x, self.lo, self.hi))))
        return steps

    def _text(self, rng: random.Random, steps: list[Step]) -> tuple[str, str]:
        name, obj = rng.choice(self.names), rng.choice(OBJECTS)
        he_cap, he = rng.choice(PRONOUNS)
        others = [n for n in self.names if n != name]
        sentences = []
        for i, s in enumerate(steps):
            template = OPENINGS[s.op] if i == 0 else CLAUSES[s.op]
            sentences.append(template.format(name=name, x=s.x, obj=obj, b=s.b, He=he_cap, he=he, friend=rng.choice(others)))
        return " ".join(sentences), QUESTION.format(obj=obj, name=name)

    def story(self, rng: random.Random, plan: list[tuple[str, ...]]) -> str:
        """A problem without its solution: the words of the problems, for pretrain.txt."""
        for _ in range(ATTEMPTS):
            steps = self._steps(rng, plan)
            if steps:
                return " ".join(self._text(rng, steps))
        raise self._impossible(plan, "story")

    def problem(self, rng: random.Random, plan: list[tuple[str, ...]], level: str, skills: list[str]) -> Problem:
        for _ in range(ATTEMPTS):
            steps = self._steps(rng, plan)
            if steps is None:
                continue
            if tuple(steps) in self.chains:
                continue
            story, question = self._text(rng, steps)
            if story not in self.seen:
                self.seen.add(story)
                return Problem(skills, level, steps, story, question)
        raise self._impossible(plan, level)

    def _impossible(self, plan: list[tuple[str, ...]], level: str) -> UsageError:
        return UsageError(
            f"could not draw a new {'+'.join(dict.fromkeys(s for step in plan for s in step))} problem at {level} with every number in "
            f"[{self.lo}, {self.hi}] in {ATTEMPTS} tries: widen --min-number/--max-number or ask for fewer problems"
        )


def in_skill_plan(skill: str, level: str) -> list[tuple[str, ...]]:
    """Per step, the skills it may use: one skill throughout, one step per level."""
    return [(skill,)] * (LEVELS.index(level) + 1)


def composed_plan(pair: tuple[str, str], level: str) -> list[tuple[str, ...]]:
    """The opening of one skill, a clause of the other, then the level's added clauses from either."""
    return [(pair[0],), (pair[1],), *[pair] * LEVELS.index(level)]


# Files -----------------------------------------------------------------------------------------


def descriptions(cfg: MathConfig) -> dict[str, str]:
    skills, levels = cfg.skill_names(), cfg.level_names()
    d = {"pretrain.txt": "Base-model corpus: every arithmetic fact in range, bare single-step problems solved in "
         "the calculator style, story sentences without question or solution; repeated and shuffled."}
    d |= {f"skill_{s}.jsonl": f"Adapter data for skill {s} ({'/'.join(SKILLS[s])}): levels {'/'.join(levels)} in turn."
          for s in skills}
    d["mixed.jsonl"] = "Every skill_*.jsonl record, shuffled (the data-mixed upper bound)."
    if len(skills) > 1:
        d["composed.jsonl"] = (f"Composed problems (levels {'/'.join(levels)} and skill pairs in turn) for the composed-skill "
                               "positive control: names of their own, never a test problem's chain of numbers.")
    d |= {f"test_{s}.jsonl": f"In-skill test for {s}: {cfg.test_per_level} problems per level (meta.level)."
          for s in skills}
    if len(skills) > 1:
        d |= {f"test_composed_{lv}.jsonl": f"Composed test at {lv}: the base template needs two skills "
              "(opening of one, clause of the other), plus the level's added clauses." for lv in levels}
    return d


def _pretrain_lines(cfg: MathConfig, drawer: Drawer, rng: random.Random) -> list[str]:
    lo, hi, skills = cfg.min_number, cfg.max_number, cfg.skill_names()
    top = max(LEVELS.index(lv) for lv in cfg.level_names())
    lines = []
    for op in (op for s in skills for op in SKILLS[s]):
        for x in range(lo, hi + 1):
            for b in candidates(op, x, lo, hi):
                step = Step(op, x, b)
                lines.append(f"<<{step.expr}={step.result}>>{step.result}")
                lines.append(f"Q: {BARE[op].format(x=x, b=b)} A: {step.solution()} #### {step.result}")
                name, obj = rng.choice(drawer.names), rng.choice(OBJECTS)
                story = PRETRAIN_PROBLEMS[op].format(name=name, x=x, b=b, obj=obj)
                lines.append(f"Q: {story} {PRETRAIN_QUESTION.format(obj=obj, name=name)} A: {step.solution()} #### {step.result}")
    for _ in range(cfg.stories):
        lines.append(drawer.story(rng, [tuple(skills)] * rng.randint(1, top + 1)))
    lines = lines * cfg.repeat
    rng.shuffle(lines)
    return lines


def _composed(cfg: MathConfig, pool: NamePool, records: dict[str, list[dict[str, Any]]], seen: set[str],
              r: random.Random) -> list[dict[str, Any]]:
    """composed.jsonl: composed problems told with names of their own, none with a test's chain."""
    drawer = Drawer(cfg, [pool.word() for _ in range(NAMES)])
    drawer.seen = seen
    drawer.chains = {tuple(Step(op, x, b) for op, (x, b) in zip(t["meta"]["ops"], t["meta"]["operands"]))
                     for stem, recs in records.items() if stem.startswith("test_") for t in recs}
    levels, pairs = cfg.level_names(), list(permutations(cfg.skill_names(), 2))
    problems = []
    for i in range(cfg.train_composed):
        pair, level = pairs[i % len(pairs)], levels[i // len(pairs) % len(levels)]
        problems.append(drawer.problem(r, composed_plan(pair, level), level, list(pair)))
    r.shuffle(problems)
    return [p.record("composed", i) for i, p in enumerate(problems)]


def generate(cfg: MathConfig) -> dict[str, str]:
    """Every file of the data set (name -> text), manifest.json included. Validates first."""
    cfg.validate()
    skills, levels = cfg.skill_names(), cfg.level_names()
    pool = NamePool(random.Random(cfg.seed))
    drawer = Drawer(cfg, [pool.word() for _ in range(NAMES)])

    def rng(name: str) -> random.Random:  # one stream per file: a file does not depend on other files' sizes
        return random.Random(f"{TASK}:{cfg.seed}:{name}")

    records: dict[str, list[dict[str, Any]]] = {}
    for s in skills:  # tests first: training problems never repeat a test problem
        r = rng(f"test_{s}")
        problems = [drawer.problem(r, in_skill_plan(s, lv), lv, [s]) for lv in levels for _ in range(cfg.test_per_level)]
        records[f"test_{s}"] = [p.record(f"test_{s}", i) for i, p in enumerate(problems)]
    pairs = list(permutations(skills, 2))
    for lv in levels if pairs else []:
        r, name = rng(f"test_composed_{lv}"), f"test_composed_{lv}"
        problems = [drawer.problem(r, composed_plan(pairs[i % len(pairs)], lv), lv, list(pairs[i % len(pairs)]))
                    for i in range(cfg.test_per_level)]
        records[name] = [p.record(name, i) for i, p in enumerate(problems)]
    mixed = []
    for s in skills:
        r = rng(f"skill_{s}")
        plans = [levels[i % len(levels)] for i in range(cfg.train_per_skill)]
        problems = [drawer.problem(r, in_skill_plan(s, lv), lv, [s]) for lv in plans]
        r.shuffle(problems)
        records[f"skill_{s}"] = [p.record(f"skill_{s}", i) for i, p in enumerate(problems)]
        mixed += [rec | {"meta": rec["meta"] | {"source": rec["split"]}} for rec in records[f"skill_{s}"]]
    rng("mixed").shuffle(mixed)
    records["mixed"] = [rec | {"id": f"mixed-{i:04d}", "split": "mixed"} for i, rec in enumerate(mixed)]
    if pairs:
        records["composed"] = _composed(cfg, pool, records, drawer.seen, rng("composed"))

    pretrain = _pretrain_lines(cfg, drawer, rng("pretrain"))
    files = {"pretrain.txt": "".join(line + "\n" for line in pretrain)}
    files |= {f"{stem}.jsonl": jsonl_text(recs) for stem, recs in records.items()}
    counts = {"pretrain.txt": len(pretrain)} | {f"{stem}.jsonl": len(recs) for stem, recs in records.items()}
    desc = descriptions(cfg)
    manifest = {
        "task": TASK,
        "seed": cfg.seed,
        "config": asdict(cfg),
        "skills": {s: list(SKILLS[s]) for s in skills},
        "levels": levels,
        "percents": list(PERCENTS),
        "templates": {"openings": OPENINGS, "clauses": CLAUSES, "question": QUESTION, "bare": BARE,
                      "pretrain_problems": PRETRAIN_PROBLEMS, "pretrain_question": PRETRAIN_QUESTION},
        "distinct_solutions": {  # few distinct chains (e.g. pct at P2 in a small range) make a level easy
            stem: {lv: n for lv in levels if (n := len({r["completion"] for r in recs if r["meta"]["level"] == lv}))}
            for stem, recs in records.items() if stem.startswith("test_")
        },
        "names": drawer.names,
        "objects": OBJECTS,
        "files": file_entries(files, counts, desc),
    }
    files["manifest.json"] = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    return {name: files[name] for name in [*desc, "manifest.json"]}


def write(cfg: MathConfig, out: str | Path, force: bool = False) -> dict[str, Any]:
    """Validate, refuse an existing ``out`` (unless force), generate, write atomically.

    Returns the summary: ``{"out", "counts": {file: records or lines}, "pretrain_chars"}``.
    """
    from lorakit.io import check_output

    cfg.validate()
    check_output(out, force)
    return write_dataset(generate(cfg), out, COMMAND, asdict(cfg), cfg.seed, force)
