"""Sharding a JSONL job across processes or machines, and gathering the shards back.

A shard ``i/N`` takes a contiguous, block-aligned slice of the input records. Commands batch
within fixed windows of records (``eval``/``route``: 16 generation batches; ``rescore``: 64
records), and a shard's slice starts on a window boundary, so every batch a shard runs is the
batch a one-process run would run: the gathered output is byte-identical to a one-process run.

Each shard output ``FILE`` gets a sidecar ``FILE.shard.json`` (shard, slice, input and output
sha256); a sharded ``eval`` writes ``predictions.jsonl`` and its sidecar into its folder.
``gather`` checks that the shards are complete, of one input, and unchanged, then concatenates
them in input order: a JSONL that ``eval --predictions`` scores.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorakit.errors import IncompatibleError, InputError, UsageError
from lorakit.io import STDIO, atomic_file, check_output, check_paths, read_json_object, sha256_path, write_json

SIDECAR = ".shard.json"
PREDICTIONS = "predictions.jsonl"
"""A sharded ``eval`` writes its slice's predictions here in its output folder; gather reads it."""
_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def span(self, n: int, block: int = 1) -> tuple[int, int]:
        """[lo, hi) of this shard's records out of ``n``: whole blocks, spread evenly over the shards."""
        blocks = -(-n // block)
        lo, hi = blocks * self.index // self.count, blocks * (self.index + 1) // self.count
        return min(n, lo * block), min(n, hi * block)


def parse_shard(text: str | None) -> Shard | None:
    """``"i/N"`` (0 ≤ i < N) → Shard; None → None."""
    if text is None:
        return None
    m = _PATTERN.match(text)
    if not m or not int(m[1]) < int(m[2]):
        raise UsageError(f"--shard must be i/N with 0 ≤ i < N (e.g. 0/4), not {text!r}")
    return Shard(int(m[1]), int(m[2]))


def shard_problems(shard: str | None, out: str | Path | None, data: Sequence[str] = ()) -> list[str]:
    """Option problems of a command's ``--shard`` with its ``--out`` and inputs (for its UsageError)."""
    if shard is None:
        return []
    problems = []
    try:
        parse_shard(shard)
    except UsageError as e:
        problems.append(str(e))
    if out is None or str(out) == STDIO:
        problems.append("--shard needs --out (the shard's description goes beside its output)")
    if STDIO in data:
        problems.append("--shard needs input files, not '-' (every shard reads the whole input)")
    return problems


def sidecar(path: str | Path) -> Path:
    return Path(str(path) + SIDECAR)


def _input(data: str | Sequence[str]) -> dict[str, str]:
    paths = [data] if isinstance(data, str) else list(data)
    shas = [sha256_path(p) for p in paths]
    sha = shas[0] if len(shas) == 1 else hashlib.sha256("".join(shas).encode()).hexdigest()
    return {"path": "+".join(map(str, paths)), "sha256": sha}


def write_sidecar(out: str | Path, shard: Shard, span: tuple[int, int], total: int, data: str | Sequence[str], command: str) -> None:
    """Describe a finished shard output (written after it, atomically); ``data``: the input file(s)."""
    info = {"command": command, "shard": shard.index, "of": shard.count, "records": list(span), "total": total,
            "input": _input(data), "sha256": sha256_path(out)}
    with atomic_file(sidecar(out), force=True) as tmp:
        write_json(tmp, info)


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def _is_sidecar(info: dict[str, Any]) -> bool:
    """Whether a parsed ``.shard.json`` has every field ``gather`` uses, of the right type."""
    ints = all(isinstance(info.get(k), int) and not isinstance(info.get(k), bool) for k in ("shard", "of", "total"))
    records, inp = info.get("records"), info.get("input")
    return (ints and isinstance(records, list) and len(records) == 2 and all(isinstance(r, int) for r in records)
            and isinstance(inp, dict) and isinstance(inp.get("sha256"), str) and isinstance(inp.get("path"), str)
            and isinstance(info.get("sha256"), str) and isinstance(info.get("command"), str))


def _read_shard(path: str) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / PREDICTIONS
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    side = sidecar(p)
    if not side.is_file():
        raise InputError(f"{p}: no {side.name} beside it (not the output of a --shard run)")
    info = read_json_object(side, "a shard description")
    if not _is_sidecar(info):
        raise InputError(f"{side}: not a shard description (needs integer shard/of/total, records [first, end], "
                         "input {path, sha256}, sha256, command)")
    if sha256_path(p) != info["sha256"]:
        raise InputError(f"{p}: changed since its shard run wrote it (sha256 differs from {side.name})")
    lo, hi = info["records"]
    if (n := _count_lines(p)) != hi - lo:
        raise InputError(f"{p}: has {n} records, its shard description says {hi - lo}")
    return {**info, "path": p}


def check_complete(shards: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The shards in order; refuse mixed runs, duplicates and gaps."""
    first = shards[0]
    for s in shards[1:]:
        if (s["of"], s["total"], s["input"]["sha256"], s["command"]) != (first["of"], first["total"], first["input"]["sha256"], first["command"]):
            raise IncompatibleError(f"{s['path']} and {first['path']} are shards of different runs "
                                    f"({s['command']} {s['shard']}/{s['of']} of {s['input']['path']} vs "
                                    f"{first['command']} {first['shard']}/{first['of']} of {first['input']['path']})")
    seen: dict[int, Path] = {}
    for s in shards:
        if s["shard"] in seen:
            raise UsageError(f"shard {s['shard']}/{s['of']} given twice ({seen[s['shard']]}, {s['path']})")
        seen[s["shard"]] = s["path"]
    missing = [f"{i}/{first['of']}" for i in range(first["of"]) if i not in seen]
    if missing:
        raise InputError(f"shard(s) {', '.join(missing)} of {first['input']['path']} missing")
    ordered = sorted(shards, key=lambda s: s["shard"])
    end = 0
    for s in ordered:
        lo, hi = s["records"]
        if lo != end:
            raise IncompatibleError(f"{s['path']}: records {lo}–{hi} do not follow the previous shard's end {end}")
        end = hi
    if end != first["total"]:
        raise IncompatibleError(f"the shards cover {end} of {first['total']} records")
    return ordered


def gather(paths: Sequence[str], out: str | None, force: bool = False) -> dict[str, Any]:
    """Concatenate the shard outputs of one run in input order, into ``out`` ('-'/None = stdout)."""
    import shutil
    import sys

    if not paths:
        raise UsageError("give the shard outputs to gather")
    check_paths({"--out": out}, {"SHARDS": list(paths), "a shard's description": [str(sidecar(p)) for p in paths]})
    check_output(out, force, stdio=True)
    shards = check_complete([_read_shard(p) for p in paths])
    if out is None or str(out) == STDIO:
        for s in shards:
            with s["path"].open("rb") as fh:
                shutil.copyfileobj(fh, sys.stdout.buffer)
        sys.stdout.flush()
    else:
        with atomic_file(out, force=force) as tmp, tmp.open("wb") as dst:
            for s in shards:
                with s["path"].open("rb") as fh:
                    shutil.copyfileobj(fh, dst)
    return {"out": out, "shards": len(shards), "records": shards[0]["total"], "command": shards[0]["command"],
            "input": shards[0]["input"]["path"]}


@dataclass(frozen=True)
class ShardRun:
    """This process's part of a job: by hand (``--shard i/N``), by a launcher (torchrun), or all of it."""

    shard: Shard | None
    launched: bool
    span: tuple[int, int]
    total: int

    @property
    def by_hand(self) -> bool:
        return self.shard is not None and not self.launched

    def collect(self, part: list) -> list | None:
        """The output to write: the whole job on rank 0 under a launcher (None on the other ranks), else ``part``."""
        from lorakit.distributed import gather_to_main

        return gather_to_main(part) if self.launched else part


def plan(shard: str | None, total: int, block: int) -> ShardRun:
    """Which records [lo, hi) this process runs, from ``--shard`` or the launcher's RANK/WORLD_SIZE."""
    from lorakit.distributed import rank, world_size

    given = parse_shard(shard)
    if given is not None and world_size() > 1:
        raise UsageError("--shard splits a job by hand; under torchrun the processes shard it themselves")
    launched = Shard(rank(), world_size()) if world_size() > 1 else None
    chosen = given or launched
    return ShardRun(chosen, launched is not None, chosen.span(total, block) if chosen else (0, total), total)


def write_output(records: list | None, out: str | None, force: bool, run: ShardRun, data: str, command: str) -> bool:
    """Write a sharded command's JSONL output (and, for ``--shard``, its sidecar); False on ranks that write nothing."""
    from lorakit.io import write_jsonl

    if records is None:
        return False
    write_jsonl(records, out, force=force)
    if run.by_hand and run.shard is not None:
        assert out is not None
        write_sidecar(out, run.shard, run.span, run.total, data, command)
    return True
