"""Math word problems: determinism, solutions that recompute, levels and skills, files, bad knobs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lorakit.data.math_problems import LEVELS, SKILLS, MathConfig, apply, candidates, generate, write
from lorakit.errors import OutputExistsError, UsageError
from lorakit.evaluate.metrics import extract_number
from lorakit.io import PROVENANCE, read_json, read_jsonl, sha256_path

SMALL = MathConfig(train_per_skill=12, test_per_level=6, train_composed=36, stories=20, repeat=1)
STEP = re.compile(r"(\d[\d +*/-]*) = <<([^=<>]+)=(-?\d+)>>(-?\d+)\.")
SOLUTION = re.compile(rf"^ (?:{STEP.pattern} )+#### (-?\d+)$")
OPS = {op for ops in SKILLS.values() for op in ops}


def records(files: dict[str, str], name: str) -> list[dict]:
    return [json.loads(line) for line in files[name].splitlines()]


def calc(expr: str) -> Fraction:
    """A calculator for the solutions' expressions: numbers and + - * / evaluated left to right."""
    tokens = re.findall(r"\d+|[-+*/]", expr)
    assert "".join(tokens) == expr, expr
    value = Fraction(tokens[0])
    for op, n in zip(tokens[1::2], tokens[2::2], strict=True):
        value = {"+": value + int(n), "-": value - int(n), "*": value * int(n), "/": value / int(n)}[op]
    return value


def check_solution(record: dict, lo: int, hi: int) -> int:
    """Every step recomputes, chains on the previous result, stays in range; returns the #### answer."""
    completion = record["completion"]
    assert SOLUTION.match(completion), completion
    steps = STEP.findall(completion)
    previous = None
    for shown, expr, inner, result in steps:
        assert shown.replace(" ", "") == expr and inner == result
        assert calc(expr) == int(result), f"{expr} != {result}"
        assert lo <= int(result) <= hi
        first = int(re.match(r"\d+", expr).group())
        assert previous is None or first == previous  # each step works on the last result
        previous = int(result)
    answer = int(completion.rsplit("#### ", 1)[1])
    assert answer == previous == record["meta"]["answer"] == extract_number(completion)
    assert len(steps) == len(record["meta"]["ops"])
    first_numbers = re.findall(r"\d+", steps[0][1])[:2]
    assert all(n in re.findall(r"\d+", record["prompt"]) for n in first_numbers)  # read from the question
    return answer


@pytest.fixture(scope="module")
def small() -> dict[str, str]:
    return generate(SMALL)


# Determinism ---------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs(small):
    assert generate(SMALL) == small
    other = generate(MathConfig(seed=1, train_per_skill=12, test_per_level=6, stories=20))
    assert all(other[name] != small[name] for name in small)


def test_bytes_do_not_depend_on_hash_seed():
    code = ("from lorakit.data.math_problems import *; import sys; "
            "sys.stdout.write(generate(MathConfig(train_per_skill=5, test_per_level=2, stories=5))['manifest.json'])")
    outs = {
        subprocess.run([sys.executable, "-c", code], env=os.environ | {"PYTHONHASHSEED": h}, capture_output=True,
                       text=True, check=True).stdout
        for h in ("1", "2")
    }
    assert len(outs) == 1


def test_test_sets_do_not_depend_on_training_size(small):
    bigger = generate(MathConfig(train_per_skill=40, test_per_level=6, stories=20))
    assert bigger["test_add.jsonl"] == small["test_add.jsonl"]
    assert bigger["test_composed_P1.jsonl"] == small["test_composed_P1.jsonl"]


# The property: every answer recomputes from its solution steps --------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), lo=st.integers(1, 3), span=st.integers(0, 30))
def test_every_answer_recomputes_from_its_steps(seed, lo, span):
    hi = 8 * lo + 4 + span  # pct at P2 needs room for three halvings
    cfg = MathConfig(seed=seed, train_per_skill=6, test_per_level=3, stories=0, min_number=lo, max_number=hi)
    files = generate(cfg)
    for name in files:
        if name.endswith(".jsonl"):
            for r in records(files, name):
                check_solution(r, lo, hi)


@given(op=st.sampled_from(sorted(OPS)), x=st.integers(1, 60), lo=st.integers(1, 5), hi=st.integers(10, 60))
def test_candidates_give_exact_results_in_range(op, x, lo, hi):
    assume(lo <= x <= hi)  # x is always a number in range: a quantity or an earlier result
    for b in candidates(op, x, lo, hi):
        r = apply(op, x, b)
        expr = f"{x}*{b}/100" if op == "%" else f"{x}{op}{b}"
        assert calc(expr) == r and lo <= r <= hi


# Levels, skills, files ----------------------------------------------------------------------


def test_levels_add_clauses_and_composed_needs_two_skills(small):
    for skill in SKILLS:
        for r in records(small, f"test_{skill}.jsonl"):
            assert r["meta"]["skills"] == [skill]
            assert len(r["meta"]["ops"]) == LEVELS.index(r["meta"]["level"]) + 1
            assert {op for op in r["meta"]["ops"]} <= set(SKILLS[skill])
        assert [r["meta"]["level"] for r in records(small, f"test_{skill}.jsonl")] == [lv for lv in LEVELS for _ in range(6)]
    pairs = set()
    for level in LEVELS:
        for r in records(small, f"test_composed_{level}.jsonl"):
            a, b = r["meta"]["skills"]
            ops = r["meta"]["ops"]
            assert len(ops) == LEVELS.index(level) + 2 and r["meta"]["level"] == level
            assert ops[0] in SKILLS[a] and ops[1] in SKILLS[b]
            assert all(op in SKILLS[a] + SKILLS[b] for op in ops)
            pairs.add((a, b))
    assert len(pairs) == 6  # every ordered pair of the three skills


def test_record_shape_and_prompt_format(small):
    r = records(small, "skill_add.jsonl")[0]
    assert set(r) == {"id", "prompt", "completion", "task", "split", "meta"}
    assert r["task"] == "math" and r["split"] == "skill_add" and r["id"] == "skill_add-0000"
    assert r["prompt"].startswith("Q: ") and r["prompt"].endswith("? A:") and "\n" not in r["completion"]


def test_no_test_problem_is_trained_on_and_mixed_is_the_union(small):
    tests = {r["prompt"] for n in small if n.startswith("test_") for r in records(small, n)}
    train = [r for s in SKILLS for r in records(small, f"skill_{s}.jsonl")]
    assert not tests & {r["prompt"] for r in train}
    mixed = records(small, "mixed.jsonl")
    assert sorted(r["prompt"] for r in mixed) == sorted(r["prompt"] for r in train)
    assert {r["meta"]["source"] for r in mixed} == {f"skill_{s}" for s in SKILLS}


def test_pretrain_has_every_fact_solved_three_ways_and_no_solved_template(small):
    lines = small["pretrain.txt"].splitlines()
    assert "<<7+5=12>>12" in lines and "<<12/3=4>>4" in lines and "<<20*25/100=5>>5" in lines
    assert "Q: What is 7 plus 5? A: 7 + 5 = <<7+5=12>>12. #### 12" in lines
    stories = [line for line in lines if "have now?" in line]
    assert len(stories) == 20 and not any("=" in line or line.startswith("Q:") for line in stories)  # unsolved
    facts = [line for line in lines if line.startswith("<<")]
    worded = [line for line in lines if " did " in line and "end up with? A:" in line]
    assert len(facts) == len(worded) == sum(line.startswith("Q: What is") for line in lines) == sum(len(candidates(op, x, 2, 20)) for op in OPS for x in range(2, 21)) == 377


def test_manifest_describes_every_file(small):
    manifest = json.loads(small["manifest.json"])
    assert set(manifest["files"]) == set(small) - {"manifest.json"}
    assert manifest["files"]["test_add.jsonl"]["count"] == 18
    assert manifest["skills"] == {s: list(ops) for s, ops in SKILLS.items()}
    assert manifest["distinct_solutions"]["test_pct"]["P2"] == 1  # [2, 20] leaves one chain: 16 halved three times
    assert set(manifest["distinct_solutions"]) == {n[:-6] for n in small if n.startswith("test_")}


def test_subset_of_skills_and_levels():
    files = generate(MathConfig(skills="pct,add", levels="P2", train_per_skill=4, test_per_level=3, stories=0))
    assert sorted(files) == ["composed.jsonl", "manifest.json", "mixed.jsonl", "pretrain.txt", "skill_add.jsonl",
                             "skill_pct.jsonl", "test_add.jsonl", "test_composed_P2.jsonl", "test_pct.jsonl"]
    assert {r["meta"]["level"] for r in records(files, "skill_add.jsonl")} == {"P2"}
    assert not any("*" in line and "/100" not in line for line in files["pretrain.txt"].splitlines())  # no mul facts
    one = generate(MathConfig(skills="mul", train_per_skill=2, test_per_level=1, stories=0))
    assert not any(name.startswith(("test_composed", "composed")) for name in one)


def test_composed_training_data_is_disjoint_from_the_tests(small):
    """The positive control's data: composed problems in turn by level and skill pair, each solved, with
    names no test uses and no test problem's chain of numbers."""
    composed = records(small, "composed.jsonl")
    assert len(composed) == 36 and [r["id"] for r in composed][:2] == ["composed-0000", "composed-0001"]
    assert {(tuple(r["meta"]["skills"]), r["meta"]["level"]) for r in composed} == {
        (pair, lv) for pair in [("add", "mul"), ("add", "pct"), ("mul", "add"), ("mul", "pct"), ("pct", "add"),
                                ("pct", "mul")] for lv in LEVELS}
    tests = [r for n in small if n.startswith("test_") for r in records(small, n)]
    name = re.compile(r"^Q: ([A-Z][a-z]+) ")
    test_names = {name.match(r["prompt"]).group(1) for r in tests}
    assert test_names and not test_names & {name.match(r["prompt"]).group(1) for r in composed}
    chain = lambda r: (tuple(r["meta"]["ops"]), json.dumps(r["meta"]["operands"]))  # noqa: E731
    assert not {chain(r) for r in tests} & {chain(r) for r in composed}
    for r in composed:
        check_solution(r, SMALL.min_number, SMALL.max_number)
        assert len(r["meta"]["ops"]) == 2 + LEVELS.index(r["meta"]["level"])


# Bad knobs, writing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (MathConfig(skills="add,div"), "unknown skill(s) div in --skills (choose from add, mul, pct)"),
        (MathConfig(levels="P0,P4"), "unknown level(s) P4 in --levels (choose from P0, P1, P2)"),
        (MathConfig(skills=" , "), "--skills is empty"),
        (MathConfig(levels="P1,P1"), "--levels names one twice"),
        (MathConfig(min_number=10, max_number=5), "--max-number (5) is below --min-number (10)"),
        (MathConfig(min_number=5, max_number=9), "--max-number (9) must be at least 2 × --min-number (10)"),
        (MathConfig(min_number=5, max_number=12), "no mul problem at P2 has every number in [5, 12]"),
        (MathConfig(max_number=10), "no pct problem at P2 has every number in [2, 10]: raise --max-number or drop the level"),
        (MathConfig(max_number=5000), "--max-number must be at most 200, not 5000"),
        (MathConfig(min_number=0, repeat=0), "--min-number must be at least 1, not 0; --repeat must be at least 1, not 0"),
        (MathConfig(test_per_level=-1), "--test-per-level must be at least 0, not -1"),
    ],
)
def test_bad_knobs_are_usage_errors(cfg, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        cfg.validate()


def test_too_many_problems_for_the_range_is_a_usage_error(tmp_path):
    cfg = MathConfig(skills="pct", levels="P0", min_number=2, max_number=4, test_per_level=600, stories=0)
    with pytest.raises(UsageError, match=r"could not draw a new pct problem at P0 with every number in \[2, 4\]"):
        write(cfg, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_write_files_provenance_and_refusal(tmp_path):
    out = tmp_path / "math"
    summary = write(SMALL, out)
    assert summary["counts"]["skill_mul.jsonl"] == len(read_jsonl(out / "skill_mul.jsonl", ["prompt", "completion"])) == 12
    manifest = read_json(out / "manifest.json")
    assert manifest["files"]["test_pct.jsonl"]["sha256"] == sha256_path(out / "test_pct.jsonl")
    assert read_json(out / PROVENANCE)["command"] == "gen-data math"
    with pytest.raises(OutputExistsError):
        write(SMALL, out)
    write(MathConfig(seed=3, train_per_skill=2, test_per_level=1, stories=0), out, force=True)
    assert read_json(out / "manifest.json")["seed"] == 3
