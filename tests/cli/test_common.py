"""What every command shares, seen from a shell: a closed pipe, the umask, option values offered."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.errors import STDOUT_CLOSED
from lorakit.shard import Shard, write_sidecar

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
