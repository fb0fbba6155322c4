"""What every command shares, seen from a shell: a closed pipe, the umask, option values offered."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.data.faithfulness import PERTURBATIONS
from lorakit.data.lang import LANGS
from lorakit.data.minimal_pairs import TASKS as PAIR_TASKS
from lorakit.data.twohop import TEST_TEMPLATES
from lorakit.errors import STDOUT_CLOSED
from lorakit.evaluate.run import COMPARES
from lorakit.lora.merge import DTYPES
from lorakit.lora.merge_math import METHODS as MERGE_METHODS
from lorakit.lora.route_methods import METHODS as ROUTE_METHODS
from lorakit.lora.per_example import SPANS
from lorakit.models import OBJECTIVES, POSITION_INITS, TOKENIZER_TYPES
from lorakit.models.presets import PRESETS
from lorakit.rescore import METHODS as RESCORE_METHODS, VARIANTS
from lorakit.runtime import DEVICES
from lorakit.shard import Shard, write_sidecar
from tests.cli.test_app import _leaf_commands

runner = CliRunner()


# stdout closed by its reader -----------------------------------------------------------------


def _gathered(tmp_path, n: int = 20_000):
    """A one-shard `route` output of ``n`` records (about 1.5 MB, far more than a pipe holds)."""
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    records = "".join(json.dumps({"id": i, "prompt": "Q: x A:", "prediction": " y" * 20}) + "\n" for i in range(n))
    data.write_text(records)
    out.write_text(records)
    write_sidecar(out, Shard(0, 1), (0, n), n, str(data), "route")
    return out


def test_head_closing_the_pipe_exits_quietly(tmp_path):
    out = _gathered(tmp_path)
    lorakit = subprocess.Popen([sys.executable, "-m", "lorakit", "gather", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-1"], stdin=lorakit.stdout, stdout=subprocess.PIPE)
    lorakit.stdout.close()  # head alone holds the read end
    first, _ = head.communicate(timeout=60)
    err = lorakit.stderr.read().decode()
    lorakit.stderr.close()
    assert lorakit.wait(timeout=60) in (0, STDOUT_CLOSED), err
    assert json.loads(first)["id"] == 0
    assert "internal error" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err


def test_shell_pipeline_status_is_that_of_cat(tmp_path):
    out = _gathered(tmp_path)
    script = f'"{sys.executable}" -m lorakit gather "{out}" | head -1 >/dev/null; echo "${{PIPESTATUS[0]}}"'
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() in ("0", str(STDOUT_CLOSED)) and done.stderr == "", done.stderr


def test_broken_pipe_inside_a_command_is_exit_141_without_a_message(monkeypatch):
    def closed(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("lorakit.shard.gather", closed)
    result = runner.invoke(app, ["gather", "x.jsonl"])
    assert result.exit_code == STDOUT_CLOSED and result.stderr == "", result.stderr


# Outputs honour the umask ------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_outputs_are_readable_as_the_umask_allows(tmp_path, mask):
    shards = _gathered(tmp_path, n=10)
    old = os.umask(mask)
    try:
        made = runner.invoke(app, ["gen-data", "twohop", "--out", str(tmp_path / "twohop"), "--familiar-couples", "10",
                                   "--two-hop-examples", "6", "--new-per-split", "4", "--target", "3", "--quiet"])
        gathered = runner.invoke(app, ["gather", str(shards), "--out", str(tmp_path / "all.jsonl"), "--quiet"])
    finally:
        os.umask(old)
    assert made.exit_code == 0 and gathered.exit_code == 0, made.output + gathered.output
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [tmp_path / "twohop", *(tmp_path / "twohop").iterdir()]}
    assert modes.pop("twohop") == 0o777 & ~mask
    assert modes and set(modes.values()) == {0o666 & ~mask}, modes
    assert stat.S_IMODE((tmp_path / "all.jsonl").stat().st_mode) == 0o666 & ~mask


# Option values offered in --help and completions ---------------------------------------------


CHOICES = [  # (command, option, the names its config validates)
    ("pretrain-lm", "--preset", tuple(PRESETS)),
    ("eval", "--route", tuple(ROUTE_METHODS)),
    ("eval", "--span", SPANS),
    ("eval", "--metric", COMPARES),
    ("merge", "--method", MERGE_METHODS),
    ("merge", "--dtype", DTYPES),
    ("pretrain-bert", "--tokenizer-type", TOKENIZER_TYPES),
    ("pretrain-bert", "--objective", OBJECTIVES),
    ("pretrain-bert", "--position-init", POSITION_INITS),
    ("rescore", "--method", RESCORE_METHODS),
    ("rescore", "--pll-variant", VARIANTS),
    ("route", "--method", tuple(ROUTE_METHODS)),
    ("route", "--span", SPANS),
    ("gen-data twohop", "--test-templates", TEST_TEMPLATES),
    ("gen-data faithfulness", "--lang", LANGS),
    ("gen-data faithfulness", "--perturbation", PERTURBATIONS),
    ("gen-data minimal-pairs", "--task", PAIR_TASKS),
    ("gen-data minimal-pairs", "--lang", LANGS),
] + [(c, "--device", DEVICES) for c in ("pretrain-lm", "train-lora", "eval", "pretrain-bert", "rescore", "route")]


def complete(words: str) -> list[str]:
    """What bash completion offers for the command line ``words`` (the last word being typed)."""
    env = {"_LORAKIT_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    result = runner.invoke(app, [], prog_name="lorakit", env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.split()


@pytest.mark.parametrize("cmd,option,names", CHOICES, ids=[f"{c} {o}" for c, o, _ in CHOICES])
def test_completion_offers_the_values(cmd, option, names):
    assert complete(f"lorakit {cmd} {option} ") == list(names)
    first = names[1][0]
    assert complete(f"lorakit {cmd} {option} {first}") == [n for n in names if n.startswith(first)]


@pytest.mark.parametrize("cmd,option,names", CHOICES, ids=[f"{c} {o}" for c, o, _ in CHOICES])
def test_help_lists_the_values(cmd, option, names, monkeypatch):
    monkeypatch.setattr("typer.rich_utils.MAX_WIDTH", 2000)  # no wrapping inside a value list
    result = runner.invoke(app, [*cmd.split(), "--help"])
    line = next(ln for ln in result.stdout.splitlines() if f" {option} " in ln)
    assert "|".join(names) in line, line


def test_every_device_option_offers_the_devices():
    with_device = [path for path, cmd in _leaf_commands(typer.main.get_command(app), "lorakit")
                   if any("--device" in p.opts for p in cmd.params)]
    assert {p.removeprefix("lorakit ") for p in with_device} == {c for c, o, _ in CHOICES if o == "--device"}


def test_the_bash_script_offers_the_values(tmp_path):
    shim = tmp_path / "lorakit"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m lorakit "$@"\n')
    shim.chmod(0o755)
    script = ('source completions/lorakit.bash; COMP_WORDS=(lorakit rescore --method pll); COMP_CWORD=3; '
              '_lorakit_completion lorakit; printf "%s\\n" "${COMPREPLY[@]}"')
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert done.stdout.split() == ["pll", "pll+nsp"]


def test_choices_reach_the_config_as_plain_strings(monkeypatch):
    seen = []

    def write(cfg, out, force):
        seen.append(cfg)
        return {"counts": {"test.jsonl": 0}, "tasks": {}}

    monkeypatch.setattr("lorakit.data.minimal_pairs.write", write)
    result = runner.invoke(app, ["gen-data", "minimal-pairs", "--out", "p", "--task", "agreement", "--task", "word-order",
                                 "--lang", "ka", "--quiet"])
    assert result.exit_code == 0, result.output
    assert seen[0].tasks == ("agreement", "word-order") and seen[0].lang == "ka"
    assert all(type(v) is str for v in (*seen[0].tasks, seen[0].lang))


@pytest.mark.parametrize("args,option,bad", [
    (["merge", "a", "--out", "m", "--method", "mean"], "--method", "mean"),
    (["gen-data", "minimal-pairs", "--out", "p", "--task", "rhyme"], "--task", "rhyme"),
    (["rescore", "s", "d.jsonl", "--device", "gpu"], "--device", "gpu"),
])
def test_other_values_are_refused_with_the_valid_ones(tmp_path, monkeypatch, args, option, bad):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    err = " ".join(result.stderr.replace("│", " ").split())
    assert f"Invalid value for '{option}'" in err and f"'{bad}' is not one of" in err, err
    assert list(tmp_path.iterdir()) == []


def test_error_messages_keep_square_brackets(tmp_path):
    """Rich markup must not eat a path or a hint with [brackets] in it."""
    from typer.testing import CliRunner

    from lorakit.cli import app

    missing = tmp_path / "runs[old]" / "results.json"
    result = CliRunner().invoke(app, ["report", str(missing)])
    assert result.exit_code == 3
    assert f"{missing}: no such file" in result.stderr
