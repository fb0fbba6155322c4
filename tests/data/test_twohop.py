"""The two-hop world: determinism, files, who is familiar, templates, record shape."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections import Counter

import pytest

from lorakit.data.names import NamePool
from lorakit.data.twohop import BRIDGE_CUE, CHAT_STATEMENT, FILES, QUESTIONS, STATEMENTS, TWO_HOP, TwohopConfig, build_world, generate, write
from lorakit.errors import OutputExistsError, UsageError
from lorakit.io import PROVENANCE, read_json, read_jsonl, sha256_path

TRAIN = ["hop1.jsonl", "hop2.jsonl", "target.jsonl", "mixed.jsonl"]
NAME = r"[A-Z][a-z]+(?: [A-Z][a-z]+)*"


def records(files: dict[str, str], name: str) -> list[dict]:
    return [json.loads(line) for line in files[name].splitlines()]


# The pinned counts below were measured at these knobs (the pre-demo defaults).
CFG = TwohopConfig(familiar_couples=150, two_hop_examples=100, new_per_split=40, target=60, repeat=3)


@pytest.fixture(scope="module")
def same() -> dict[str, str]:
    return generate(CFG)


@pytest.fixture(scope="module")
def heldout() -> dict[str, str]:
    return generate(TwohopConfig(test_templates="heldout", familiar_couples=30, two_hop_examples=20, new_per_split=8, target=6))


@pytest.fixture(scope="module")
def pretrain(same) -> list[str]:
    return same["pretrain.txt"].splitlines()


# Determinism ---------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs(same):
    assert generate(CFG) == same
    other = generate(TwohopConfig(seed=1))
    assert all(other[name] != same[name] for name in FILES)


def test_bytes_do_not_depend_on_hash_seed():
    code = "from lorakit.data.twohop import *; import sys; sys.stdout.write(generate(TwohopConfig(new_per_split=5))['manifest.json'])"
    outs = {
        subprocess.run([sys.executable, "-c", code], env=os.environ | {"PYTHONHASHSEED": h}, capture_output=True,
                       text=True, check=True).stdout
        for h in ("1", "2")
    }  # fmt: skip
    assert len(outs) == 1


# Files ---------------------------------------------------------------------------------------


def test_write_exact_files_manifest_and_provenance(tmp_path, same):
    out = tmp_path / "twohop"
    summary = write(CFG, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES + ["manifest.json", PROVENANCE])
    assert [p.name for p in tmp_path.iterdir()] == ["twohop"]  # no temp folder left behind
    for name, text in same.items():
        assert (out / name).read_text(encoding="utf-8") == text
    manifest = read_json(out / "manifest.json")
    assert manifest["seed"] == 0 and manifest["config"]["familiar_singles"] == 120
    for name in FILES:
        entry = manifest["files"][name]
        assert entry["sha256"] == sha256_path(out / name) and entry["description"]
        n = len(same[name].splitlines()) if name.endswith(".txt") else len(read_jsonl(out / name))
        assert entry["count"] == n == summary["counts"][name]
    assert summary["counts"] == {
        "pretrain.txt": 24336 + 3 * 600, "hop1.jsonl": 720, "hop2.jsonl": 240, "target.jsonl": 360, "mixed.jsonl": 1320,
        "test_F.jsonl": 40, "test_H.jsonl": 40, "test_R.jsonl": 40, "check_hop1.jsonl": 120,
        "check_hop2.jsonl": 40, "check_target.jsonl": 60, "recall.jsonl": 200, "control.jsonl": 100,
        "test_F_bridge.jsonl": 40, "test_H_bridge.jsonl": 40, "test_R_bridge.jsonl": 40, "control_bridge.jsonl": 100,
    }  # fmt: skip
    assert read_json(out / PROVENANCE)["command"] == "gen-data twohop"
    with pytest.raises(OutputExistsError, match="twohop"):
        write(TwohopConfig(), out)
    write(TwohopConfig(seed=3), out, force=True)
    assert read_json(out / "manifest.json")["seed"] == 3


# Records -------------------------------------------------------------------------------------


def test_record_shape(same):
    for name in FILES[1:]:
        if name.endswith("_bridge.jsonl"):
            continue
        stem = name.removesuffix(".jsonl")
        for i, r in enumerate(records(same, name)):
            assert set(r) == {"id", "prompt", "completion", "task", "split", "meta"}
            assert r["id"] == f"{stem}-{i:04d}" and r["split"] == stem and r["task"] == "twohop"
            if r["meta"].get("form") == "statement":
                assert name in TRAIN, r
                template = STATEMENTS[r["meta"]["relation"]][r["meta"]["template"]]
                assert r["prompt"] + r["completion"] == template.format(s=r["meta"]["subject"], o=r["meta"]["object"])
                continue
            assert re.fullmatch(r"Q: [^\n]+\? A:", r["prompt"]), r
            assert re.fullmatch(r" [^\s.][^\n]*[^.\s]", r["completion"]), r
            assert r["completion"] == " " + r["meta"]["object"]
            assert {"relation", "subject", "object", "set", "template"} <= set(r["meta"])


def test_bridge_twins_ask_the_same_questions_and_speak_the_chain(same):
    for stem in TWO_HOP:
        latent, bridge = records(same, f"{stem}.jsonl"), records(same, f"{stem}_bridge.jsonl")
        assert len(bridge) == len(latent) > 0
        for i, (lat, r) in enumerate(zip(latent, bridge, strict=True)):
            assert set(r) == {"id", "prompt", "completion", "answer", "bridge", "task", "split", "meta"}
            assert r["id"] == f"{stem}_bridge-{i:04d}" and r["split"] == f"{stem}_bridge"
            assert r["prompt"] == lat["prompt"].removesuffix(" A:") + f" {BRIDGE_CUE} A:"
            assert r["answer"] == lat["completion"].strip() and r["bridge"] == lat["meta"]["bridge"]
            assert r["completion"] == f" {r['bridge']} lives in {r['answer']}."
            assert r["meta"] == lat["meta"] | {"format": "bridge"}


def test_pretrain_speaks_the_chain_of_the_examples_only(same, pretrain):
    bridge_lines = [line for line in pretrain if BRIDGE_CUE in line]
    assert len(bridge_lines) == 3 * 2 * 100 * CFG.repeat  # templates × both partners × examples × repeat
    control = records(same, "control_bridge.jsonl")
    assert not any(r["bridge"] + " lives in" in line for r in control for line in bridge_lines)
    for name in TRAIN:  # no adapter sees the bridge format; the single-hop ones no two-hop fact at all
        assert BRIDGE_CUE not in same[name]
    assert {r["meta"]["relation"] for n in ("hop1.jsonl", "hop2.jsonl") for r in records(same, n)} == {"spouse", "lives_in"}
    formats = {f: generate(TwohopConfig(new_per_split=4, example_format=f))["pretrain.txt"] for f in ("latent", "bridge")}
    assert BRIDGE_CUE not in formats["latent"] and BRIDGE_CUE in formats["bridge"]
    latent_examples = re.compile(r"Q: .*spouse of .*\? A: [A-Z][a-z]+$", re.M)
    assert latent_examples.search(formats["latent"]) and not latent_examples.search(formats["bridge"])


def test_mixed_is_hop1_hop2_target(same):
    key = lambda r: (r["prompt"], r["completion"])  # noqa: E731
    parts = Counter(key(r) for name in TRAIN[:3] for r in records(same, name))
    assert Counter(key(r) for r in records(same, "mixed.jsonl")) == parts


def test_hop1_is_spouse_a_to_b_of_the_test_sets(same):
    tests = {(r["meta"]["subject"], r["meta"]["bridge"]) for s in "FHR" for r in records(same, f"test_{s}.jsonl")}
    hop1 = records(same, "hop1.jsonl")
    assert {r["meta"]["relation"] for r in hop1} == {"spouse"}
    assert {(r["meta"]["subject"], r["meta"]["object"]) for r in hop1} == tests
    forms = Counter((r["meta"].get("form", "question"), r["meta"]["template"]) for r in hop1)
    assert forms == {(form, t): 120 for form in ("question", "statement") for t in range(3)}
    no_statements = generate(TwohopConfig(new_per_split=4, questions_only=True))["hop1.jsonl"]
    assert '"statement"' not in no_statements and len(no_statements.splitlines()) == 3 * 3 * 4
    assert [r["meta"]["template"] for r in records(same, "check_hop1.jsonl")] == [0] * 120


# Who is familiar -----------------------------------------------------------------------------


def test_names_unique_and_prefix_free(same):
    world = build_world(CFG, random.Random(0))
    facts = world.familiar + world.examples + world.control + world.hop1 + world.hop2 + world.target
    folks = {f.subject for f in facts if f.relation != "city_in"} | {f.bridge for f in facts if f.bridge}
    folks |= {f.object for f in facts if f.relation == "spouse"}
    manifest = json.loads(same["manifest.json"])
    assert len(folks) == manifest["entities"]["people"] == 300 + 120 + 80 + 40 + 120
    words = [w for p in sorted(folks) for w in p.split()]
    words += manifest["entities"]["cities"] + sorted(set(manifest["entities"]["countries"].values()))
    words += [o.split()[0] for o in manifest["entities"]["orgs"]]
    assert len(words) == len(set(words))
    ordered = sorted(words)  # a prefix sorts right before the words it starts
    assert not any(b.startswith(a) for a, b in zip(ordered, ordered[1:]))
    assert all(re.fullmatch(r"[A-Z][a-z]{3,8}", w) for w in words)


def test_name_pool_grammar():
    pool = NamePool(random.Random(7))
    words = [pool.word() for _ in range(3000)]
    assert len(set(words)) == 3000
    assert all(re.fullmatch(r"(?:[bdgklmnprstvz][aeiou]){1,2}[bdgklmnprstvz][aeiou][nrls]?", w.lower()) for w in words)


def test_f_entities_never_pretrained(same):
    text = same["pretrain.txt"]
    for r in records(same, "test_F.jsonl"):
        assert r["meta"]["subject"] not in text and r["meta"]["bridge"] not in text


def test_h_bridge_pretrained_a_not(same, pretrain):
    text = same["pretrain.txt"]
    for r in records(same, "test_H.jsonl"):
        a, b, c = r["meta"]["subject"], r["meta"]["bridge"], r["meta"]["object"]
        assert a not in text and f"{b} lives in {c}." in pretrain


def test_r_link_never_pretrained_names_are(same, pretrain):
    text = same["pretrain.txt"]
    for r in records(same, "test_R.jsonl"):
        a, b, c = r["meta"]["subject"], r["meta"]["bridge"], r["meta"]["object"]
        assert a in text and f"{b} lives in {c}." in pretrain
        assert f"{a} lives in {c}." not in pretrain  # own city never answers
        assert not any(a in line and b in line for line in pretrain)


def test_target_entities_disjoint_from_everything_else(same):
    target = {n for r in records(same, "target.jsonl") for n in (r["meta"]["subject"], r["meta"]["bridge"])}
    assert len(target) == 120
    others = "".join(same[name] for name in FILES if name not in ("target.jsonl", "mixed.jsonl", "check_target.jsonl"))
    assert not any(n in others for n in target)


def test_control_facts_pretrained_two_hop_not(same, pretrain):
    control = records(same, "control.jsonl")
    assert len(control) == 2 * (150 - 100)
    for r in control:
        a, b, c = r["meta"]["subject"], r["meta"]["bridge"], r["meta"]["object"]
        assert f"{a} is married to {b}." in pretrain and f"{b} lives in {c}." in pretrain
        assert not any(a in line and c in line for line in pretrain)
    examples = [line for line in pretrain if line.startswith("The spouse of ") and " lives in " in line]
    assert len(set(examples)) == 2 * 100


def test_recall_is_familiar_single_hop(same, pretrain):
    recall = records(same, "recall.jsonl")
    assert len(recall) == 200
    assert {r["meta"]["relation"] for r in recall} == {"spouse", "lives_in", "works_for"}
    lines = set(pretrain)
    assert all(r["prompt"] + r["completion"] in lines for r in recall)


# Templates -----------------------------------------------------------------------------------


def template_regex(template: str) -> re.Pattern[str]:
    return re.compile(re.escape(template).replace(re.escape("{s}"), NAME))


def test_heldout_templates_never_trained(heldout):
    train_text = heldout["pretrain.txt"] + "".join(heldout[name] for name in TRAIN)
    for rel, questions in QUESTIONS.items():
        assert not template_regex(questions[-1]).search(train_text), rel
        assert template_regex(questions[0]).search(train_text), rel
    for name in ("test_F.jsonl", "check_hop1.jsonl", "check_hop2.jsonl", "recall.jsonl", "control.jsonl"):
        for r in records(heldout, name):
            assert r["meta"]["template"] == len(QUESTIONS[r["meta"]["relation"]]) - 1
            assert template_regex(QUESTIONS[r["meta"]["relation"]][-1]).search(r["prompt"])


def test_chat_records_hold_the_same_facts_as_turns():
    """--chat: every record's text becomes a user question and the assistant's answer (a statement record:
    CHAT_STATEMENT answered by the whole statement), everything else as in the prompt/completion files."""
    small = dict(familiar_couples=12, two_hop_examples=8, new_per_split=5, target=4)
    plain, chat = generate(TwohopConfig(**small)), generate(TwohopConfig(**small, chat=True, system="Be brief."))
    assert chat["pretrain.txt"] == plain["pretrain.txt"]
    for name in FILES[1:]:
        for p, c in zip(records(plain, name), records(chat, name), strict=True):
            turns = c.pop("messages")
            assert c == {k: v for k, v in p.items() if k not in ("prompt", "completion")}
            assert [t["role"] for t in turns] == ["system", "user", "assistant"] and turns[0]["content"] == "Be brief."
            user, answer = turns[1]["content"], turns[2]["content"]
            if p["meta"].get("form") == "statement":
                assert user == CHAT_STATEMENT.format(s=p["meta"]["subject"]) and answer == p["prompt"] + p["completion"]
            else:
                assert f"Q: {user} A:" == p["prompt"] and answer == p["completion"].removeprefix(" ")
    bridge = records(generate(TwohopConfig(**small, chat=True)), "test_F_bridge.jsonl")[0]
    assert [t["role"] for t in bridge["messages"]] == ["user", "assistant"]  # no --system: no system turn
    assert bridge["messages"][1]["content"] == f"{bridge['bridge']} lives in {bridge['answer']}."
    with pytest.raises(UsageError, match="--system needs --chat"):
        TwohopConfig(system="Be brief.").validate()


def test_target_format_puts_the_target_couples_two_hop_questions_in_that_format():
    small = dict(familiar_couples=12, two_hop_examples=8, new_per_split=5, target=4)
    by_format = {f: records(generate(TwohopConfig(**small, target_format=f)), "target.jsonl") for f in ("latent", "bridge", "both")}
    questions = {f: Counter(r["meta"].get("format", "latent") for r in recs if r["meta"].get("form") != "statement")
                 for f, recs in by_format.items()}
    assert questions == {"latent": {"latent": 12}, "bridge": {"bridge": 12}, "both": {"latent": 12, "bridge": 12}}
    for r in by_format["bridge"]:
        if r["meta"].get("form") != "statement":
            assert r["prompt"].endswith(f" {BRIDGE_CUE} A:") and r["completion"] == f" {r['bridge']} lives in {r['answer']}."
    both = generate(TwohopConfig(**small, target_format="both"))
    assert len(records(both, "mixed.jsonl")) == sum(len(records(both, f"{s}.jsonl")) for s in ("hop1", "hop2", "target"))
    assert generate(TwohopConfig(**small))["hop1.jsonl"] == both["hop1.jsonl"]



def test_target_hops_adds_the_target_couples_single_hops_and_changes_nothing_else():
    small = dict(familiar_couples=12, two_hop_examples=8, new_per_split=5, target=4, target_format="both")
    plain, hops = generate(TwohopConfig(**small)), generate(TwohopConfig(**small, target_hops=True))
    chains = {r["meta"]["subject"]: (r["meta"]["bridge"], r["meta"]["object"]) for r in records(hops, "check_target.jsonl")}
    facts = Counter((r["meta"]["relation"], r["meta"]["subject"], r["meta"]["object"]) for r in records(hops, "target.jsonl"))
    spouse = {(s, b) for s, (b, _) in chains.items()}
    lives = {(b, c) for b, c in chains.values()}
    assert {(s, o) for rel, s, o in facts if rel == "spouse"} == spouse
    assert {(s, o) for rel, s, o in facts if rel == "lives_in"} == lives
    # each single hop once per question template and once per statement template, as hop1/hop2 teach theirs
    assert all(n == len(QUESTIONS[rel]) + len(STATEMENTS[rel]) for (rel, _, _), n in facts.items() if rel != "spouse_city")
    assert Counter(r["meta"]["relation"] for r in records(plain, "target.jsonl")) == {"spouse_city": len(records(plain, "target.jsonl"))}
    assert [r for r in records(hops, "target.jsonl") if r["meta"]["relation"] == "spouse_city"] != []
    # the target expert's data and mixed differ; the draws after them (recall's sample, pretrain's
    # shuffle) come out otherwise; the facts and the test sets do not change
    for name in FILES:
        assert (plain[name] == hops[name]) == (name not in ("target.jsonl", "mixed.jsonl", "recall.jsonl", "pretrain.txt")), name
    assert sorted(plain["pretrain.txt"].splitlines()) == sorted(hops["pretrain.txt"].splitlines())

# Validation ----------------------------------------------------------------------------------


def test_validate_lists_every_problem():
    cfg = TwohopConfig(new_per_split=0, familiar_couples=5, two_hop_examples=9, cities=1, test_templates="odd", repeat=0,
                       example_format="spoken", target_format="spoken")
    with pytest.raises(UsageError) as e:
        cfg.validate()
    msg = str(e.value)
    for flag in ("--new-per-split", "--two-hop-examples", "--cities", "--test-templates", "--repeat", "--example-format",
                 "--target-format"):
        assert flag in msg
    with pytest.raises(UsageError, match="--familiar-singles"):
        TwohopConfig(familiar_singles=10).validate()
    with pytest.raises(UsageError, match="distinct name words"):
        TwohopConfig(familiar_couples=10_000).validate()
