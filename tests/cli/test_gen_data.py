"""``lorakit gen-data twohop`` through the real CLI; outputs checked with the library's loaders."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.io import PROVENANCE, read_json, read_jsonl
from tests.helpers import usage_error

runner = CliRunner()
SMALL = ["--familiar-couples", "10", "--two-hop-examples", "6", "--new-per-split", "4", "--target", "3"]


def gen(*args: str):
    return runner.invoke(app, ["gen-data", "twohop", *args])


def test_help():
    result = runner.invoke(app, ["gen-data", "--help"])
    assert result.exit_code == 0 and "twohop" in result.stdout
    result = gen("--help")
    assert result.exit_code == 0
    for flag in ("--out", "--seed", "--familiar-couples", "--test-templates", "--force", "--json"):
        assert flag in result.stdout


def test_happy_path_json_summary(tmp_path):
    out = tmp_path / "twohop"
    result = gen("--out", str(out), *SMALL, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["out"] == str(out)
    assert summary["counts"]["test_F.jsonl"] == len(read_jsonl(out / "test_F.jsonl")) == 4
    assert summary["counts"]["control.jsonl"] == len(read_jsonl(out / "control.jsonl", ["prompt", "completion"])) == 8
    assert "wrote" in result.stderr
    provenance = read_json(out / PROVENANCE)
    assert provenance["command"] == "gen-data twohop" and provenance["options"]["familiar_couples"] == 10


def test_quiet_prints_nothing(tmp_path):
    result = gen("--out", str(tmp_path / "d"), *SMALL, "--quiet")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""


def test_existing_out_refused_then_force_replaces(tmp_path):
    out = tmp_path / "twohop"
    assert gen("--out", str(out), *SMALL, "-q").exit_code == 0
    (out / "stale.txt").write_text("x")
    result = gen("--out", str(out), *SMALL, "--seed", "1")
    assert result.exit_code == 4
    assert str(out) in result.stderr and "--force" in result.stderr
    assert read_json(out / "manifest.json")["seed"] == 0
    result = gen("--out", str(out), *SMALL, "--seed", "1", "--force", "-q")
    assert result.exit_code == 0, result.output
    assert read_json(out / "manifest.json")["seed"] == 1 and not (out / "stale.txt").exists()


def test_bad_knobs_exit_2_nothing_written(tmp_path):
    out = tmp_path / "twohop"
    result = gen("--out", str(out), "--new-per-split", "0", "--familiar-couples", "5")
    assert result.exit_code == 2 and "--new-per-split" in result.stderr
    result = gen("--out", str(out), "--test-templates", "odd")
    assert result.exit_code == 2 and "'odd' is not one of 'same', 'heldout'" in usage_error(result)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_target_hops_flag_adds_the_target_couples_single_hops(tmp_path):
    assert gen("--out", str(tmp_path / "plain"), *SMALL, "-q").exit_code == 0
    result = gen("--out", str(tmp_path / "hops"), *SMALL, "--target-hops", "-q")
    assert result.exit_code == 0, result.output
    relations = {d: {r["meta"]["relation"] for r in read_jsonl(tmp_path / d / "target.jsonl")} for d in ("plain", "hops")}
    assert relations == {"plain": {"spouse_city"}, "hops": {"spouse_city", "spouse", "lives_in"}}
    assert read_json(tmp_path / "hops" / "manifest.json")["config"]["target_hops"] is True


def test_out_is_required():
    result = gen("--seed", "1")
    assert result.exit_code == 2 and "--out" in result.stderr


def test_chat_option_writes_records_that_train_lora_and_eval_render(tmp_path):
    """--chat: records.py's chat records (a system turn with --system); eval's bridge fields kept."""
    from lorakit.records import read_records

    out = tmp_path / "twohop"
    result = gen("--out", str(out), *SMALL, "--chat", "--system", "Be brief.", "-q")
    assert result.exit_code == 0, result.output
    bridge = read_records(out / "test_F_bridge.jsonl")
    assert all("prompt" not in r and r["messages"][-1]["content"] == f"{r['bridge']} lives in {r['answer']}."
               for r in bridge)
    config = read_json(out / "manifest.json")["config"]
    assert (config["chat"], config["system"]) == (True, "Be brief.")
    result = gen("--out", str(tmp_path / "x"), *SMALL, "--system", "Be brief.")
    assert result.exit_code == 2 and "--system needs --chat" in result.stderr


def test_target_format_bridge_writes_the_chain_spoken(tmp_path):
    out = tmp_path / "twohop"
    assert gen("--out", str(out), *SMALL, "--target-format", "bridge", "-q").exit_code == 0
    target = read_jsonl(out / "target.jsonl")
    assert any("bridge" in r and r["completion"] == f" {r['bridge']} lives in {r['answer']}." for r in target)
    result = gen("--out", str(tmp_path / "x"), "--target-format", "spoken")
    assert result.exit_code == 2 and "'spoken' is not one of 'latent', 'bridge', 'both'" in usage_error(result)
