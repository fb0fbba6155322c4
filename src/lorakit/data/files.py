"""What every generator shares: JSONL text, manifest file entries, the atomic write of a data set."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lorakit.io import atomic_dir, check_output, dumps, write_provenance


def jsonl_text(records: list[dict[str, Any]]) -> str:
    return "".join(dumps(r) for r in records)


def file_entries(files: dict[str, str], counts: dict[str, int], descriptions: dict[str, str]) -> dict[str, Any]:
    """The manifest's ``files`` object: records (or lines), characters, SHA-256, description."""
    return {
        name: {
            "count": counts[name],
            "chars": len(files[name]),
            "sha256": hashlib.sha256(files[name].encode("utf-8")).hexdigest(),
            "description": descriptions[name],
        }
        for name in descriptions
    }


def write_files(files: dict[str, str], out: str | Path, command: str, options: dict[str, Any], seed: int,
                force: bool = False, inputs: list[str | Path] | tuple[str | Path, ...] = ()) -> None:
    """Write ``files`` (name -> text) into the folder ``out`` atomically, with lorakit.json (which
    records the SHA-256 of each of ``inputs``)."""
    check_output(out, force)
    with atomic_dir(out, force=force) as tmp:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8", newline="\n")
        write_provenance(tmp, command, options | {"out": str(out)}, inputs, seed=seed)


def write_dataset(files: dict[str, str], out: str | Path, command: str, options: dict[str, Any], seed: int,
                  force: bool = False) -> dict[str, Any]:
    """``write_files`` for a data set with ``manifest.json`` and ``pretrain.txt``; returns the summary
    ``{"out", "counts": {file: records or lines}, "pretrain_chars"}``.
    """
    write_files(files, out, command, options, seed, force)
    manifest = json.loads(files["manifest.json"])
    return {
        "out": str(out),
        "counts": {name: m["count"] for name, m in manifest["files"].items()},
        "pretrain_chars": manifest["files"]["pretrain.txt"]["chars"],
    }
