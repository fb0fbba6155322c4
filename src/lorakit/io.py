"""Files: JSONL streaming ('-' = stdin/stdout), atomic writes, output checks, provenance."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import re
import secrets
import shutil
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from lorakit import __version__
from lorakit.errors import InputError, OutputExistsError, UsageError

STDIO = "-"
PROVENANCE = "lorakit.json"


# JSONL -------------------------------------------------------------------------------------


def _lines(path: str | Path) -> Iterator[str]:
    if str(path) == STDIO:
        yield from sys.stdin
        return
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        with p.open(encoding="utf-8") as fh:
            yield from fh
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not UTF-8 text ({e.reason})") from None


def read_text(path: str | Path) -> str:
    """A whole UTF-8 file (``InputError``: no such file, not UTF-8 text)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not UTF-8 text ({e.reason})") from None


def numbered_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` per non-blank line; a bad line raises ``InputError('FILE:LINE: reason')``."""
    name = "<stdin>" if str(path) == STDIO else str(path)
    for lineno, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        record = parse_json(line, f"{name}:{lineno}", line_numbers=False)
        if not isinstance(record, dict):
            raise InputError(f"{name}:{lineno}: expected a JSON object, got {type(record).__name__}")
        yield lineno, record


def iter_jsonl(path: str | Path, required: Iterable[str] = ()) -> Iterator[dict[str, Any]]:
    """Yield one dict per non-blank line, each with the ``required`` string fields (``FILE:LINE: reason``)."""
    name = "<stdin>" if str(path) == STDIO else str(path)
    required = tuple(required)
    for lineno, record in numbered_jsonl(path):
        missing = [k for k in required if k not in record]
        if missing:
            raise InputError(f"{name}:{lineno}: missing field(s) {', '.join(map(repr, missing))}")
        for k in required:
            if not isinstance(record[k], str):
                raise InputError(f"{name}:{lineno}: field {k!r} must be a string")
        yield record


def read_jsonl(path: str | Path, required: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Read and validate a whole JSONL file before any work starts (so nothing is half-written)."""
    records = list(iter_jsonl(path, required))
    if not records:
        raise InputError(f"{'<stdin>' if str(path) == STDIO else path}: no records")
    return records


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def write_jsonl(records: Iterable[dict[str, Any]], path: str | Path | None, force: bool = False) -> None:
    """Write records to ``path`` atomically, or to stdout when ``path`` is None or '-'."""
    if path is None or str(path) == STDIO:
        for r in records:
            sys.stdout.write(dumps(r))
        sys.stdout.flush()
        return
    with atomic_file(path, force=force) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            for r in records:
                fh.write(dumps(r))


# Atomic outputs -------------------------------------------------------------------------------

_HOST = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "host"


def _temp_prefix(target: Path, kind: str, pid: int | None = None) -> str:
    """``.NAME.tmp-PID@HOST-`` (or ``old``): who owns a temp output beside ``target``."""
    return f".{target.name}.{kind}-{os.getpid() if pid is None else pid}@{_HOST}-"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host exists (where that cannot be asked, assume it does)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's live process
        return True
    return True


def clean_stale(path: str | Path) -> int:
    """Remove the temp outputs that dead processes of this host left beside ``path``; their count.

    A ``.old`` folder is an output being replaced when its process died: it is put back when
    ``path`` is missing. Temps of live processes and of other hosts (a shared disk) stay.
    """
    target = Path(path)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(tmp|old)-(\d+)@{re.escape(_HOST)}-\w+")
    if not target.parent.is_dir():
        return 0
    removed = 0
    for p in sorted(target.parent.iterdir()):
        m = pattern.fullmatch(p.name)
        if m is None or _alive(int(m[2])):
            continue
        try:
            if m[1] == "old" and not os.path.lexists(target):
                os.replace(p, target)
            elif p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        except OSError:  # another process cleaned it first
            continue
        removed += 1
    return removed


def check_output(path: str | Path | None, force: bool, stdio: bool = False, option: str = "--out") -> None:
    """Refuse an existing output early, before any expensive work (after ``clean_stale``).

    '-' is stdout only for outputs that can be written there (``stdio``: JSONL, markdown); for a
    folder or another file it is refused, whatever exists on disk under that name.
    """
    if path is None:
        return
    if str(path) == STDIO:
        if stdio:
            return
        raise UsageError(f"{option} -: '-' (stdout) cannot take this output (a folder or file); "
                         "give its path (a folder named '-': its full path)")
    p = Path(path)
    if problem := unwritable(p):
        raise UsageError(f"{option} {path}: {problem}")
    clean_stale(p)
    if p.exists() and not force:
        raise OutputExistsError(f"{p}: already exists (pass --force to replace it)")


def unwritable(path: Path) -> str | None:
    """Why no output can be created at ``path`` (a file on the way, a read-only folder), or None."""
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write in {folder} (read-only or no permission)"
    return None


@contextlib.contextmanager
def _creating(target: Path) -> Iterator[None]:
    """OS errors while making an output's temp beside ``target`` as one UsageError line."""
    try:
        yield
    except OSError as e:
        raise UsageError(f"{target}: cannot create the output there ({e.strerror or e})") from None


def _relation(a: Path, b: Path) -> str | None:
    if a == b or (a.exists() and b.exists() and os.path.samefile(a, b)):
        return "is"
    if a.is_relative_to(b):
        return "is inside"
    return "contains" if b.is_relative_to(a) else None


def _named(paths: Mapping[str, Any]) -> list[tuple[str, str, Path]]:
    """(option, path as given, resolved path) for each path of each option ('-' and None skipped)."""
    out = []
    for name, value in paths.items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is not None and str(v) != STDIO:
                out.append((name, str(v), Path(v).resolve()))
    return out


def path_problems(outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> list[str]:
    """Outputs that are, contain or lie inside an input or another output (for a UsageError).

    ``outputs`` / ``inputs`` map an option name (``--out``, ``DATA``) to a path, a list of paths
    or None; '-' (stdin/stdout) is skipped. Symbolic links are resolved.
    """
    outs, ins = _named(outputs), _named(inputs)
    problems = []
    for i, (opt, given, p) in enumerate(outs):
        for name, other, q in ins:
            if rel := _relation(p, q):
                what = f"the input {name}" if rel == "is" else f"the input {name} {other}"
                problems.append(f"{opt} {given}: {rel} {what} (an output must not be, contain or lie inside an input)")
        for name, other, q in outs[i + 1:]:
            if rel := _relation(p, q):
                problems.append(f"{opt} {given}: {rel} {name} {other} (one output would destroy the other)")
    return problems


def check_paths(outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
    """Raise ``path_problems`` as one UsageError (exit 2), before any work."""
    if problems := path_problems(outputs, inputs):
        raise UsageError("; ".join(problems))


def _replace(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing folder (or a file where a folder goes) is moved aside first."""
    is_dir = target.is_dir() and not target.is_symlink()
    if is_dir or (tmp.is_dir() and os.path.lexists(target)):
        old = target.with_name(_temp_prefix(target, "old") + secrets.token_hex(4))
        os.replace(target, old)
        os.replace(tmp, target)
        if is_dir:
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()
    else:
        os.replace(tmp, target)


def _umask() -> int:
    """The process's umask: read from /proc on Linux, else set and put back at once (racy only
    against another thread creating a file at that moment)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _honour_umask(path: Path) -> None:
    """Give ``path`` and, for a folder, everything under it what ``open`` / ``mkdir`` give under
    the umask (0644 / 0755 under umask 022); symbolic links are left alone."""
    mask = _umask()
    for p in [path, *(path.rglob("*") if path.is_dir() and not path.is_symlink() else [])]:
        if not p.is_symlink():
            os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)


@contextlib.contextmanager
def atomic_file(path: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it into place, on error delete it.

    The file gets the permissions a plain ``open`` would (0644 under umask 022), not mkstemp's 0600.
    """
    target = Path(path)
    check_output(target, force)
    with _creating(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=_temp_prefix(target, "tmp"), dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        yield tmp
        _honour_umask(tmp)  # a writer may have replaced the temp with its own (safetensors: 0600)
        _replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temp folder beside ``path``; on success rename it into place, on error remove it.

    The folder gets the permissions a plain ``mkdir`` would (0755 under umask 022), not mkdtemp's
    0700, and so does everything written inside: files 0644 under umask 022, also those a library
    wrote through its own temp file (safetensors writes 0600).
    """
    target = Path(path)
    check_output(target, force)
    with _creating(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target, "tmp"), dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        _honour_umask(tmp)
        _replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | Path, obj: Any) -> None:
    """Write pretty JSON (used inside an atomic folder, or atomically on its own)."""
    Path(path).write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def parse_json(text: str | bytes, where: str | Path, line_numbers: bool = True) -> Any:
    """``json.loads`` with every way it can fail as ``InputError("WHERE[:LINE]: reason")``.

    The one JSON parser of every reader: bad syntax, nesting too deep for the parser
    (RecursionError), bytes that are not UTF-8. ``line_numbers``: add the line of a syntax error.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}{f':{e.lineno}' if line_numbers else ''}: invalid JSON ({e.msg})") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{where}: not UTF-8 text ({e.reason})") from None
    except RecursionError:
        raise InputError(f"{where}: invalid JSON (nested too deeply)") from None


def read_json(path: str | Path) -> Any:
    """A JSON file (UTF-8); a missing, unreadable or malformed file raises ``InputError("FILE: reason")``."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror or e})") from None
    return parse_json(data, p)


def read_json_object(path: str | Path, what: str = "a JSON object") -> dict[str, Any]:
    """``read_json`` of a file that must hold an object (``what`` names it in the error)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: not {what} (expected a JSON object, got {type(data).__name__})")
    return data


# Safetensors --------------------------------------------------------------------------------

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
         "F8_E4M3": 1, "F8_E5M2": 1}
"""Bytes per element of the safetensors dtypes."""
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
MAX_HEADER = 100_000_000
"""The safetensors library's own limit on the JSON header's size."""


def _tensor_problem(name: str, info: Any, data_size: int) -> str | None:
    """What is wrong with one header entry (dtype, shape, offsets inside the data section), or None."""
    if not isinstance(info, dict) or info.get("dtype") not in SIZES:
        return f"{name}: unknown dtype {info.get('dtype') if isinstance(info, dict) else info!r}"
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        return f"{name}: bad shape {shape!r}"
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
            and 0 <= offsets[0] <= offsets[1]):
        return f"{name}: bad data_offsets {offsets!r}"
    if offsets[1] > data_size:
        return f"truncated: {name} ends at byte {offsets[1]} of a {data_size}-byte data section"
    n = SIZES[info["dtype"]] * math.prod(shape)
    if offsets[1] - offsets[0] != n:
        return f"{name} has {offsets[1] - offsets[0]} bytes for shape {shape}"
    return None


def read_safetensors_header(path: str | Path) -> tuple[dict[str, Any], int]:
    """A safetensors file's JSON header (with ``__metadata__``, if any) and where its data starts.

    Checked against the file's size before anything is read or allocated: the header length, its
    JSON, each tensor's dtype, shape and byte range (so a truncated file or a header claiming
    absurd sizes is an ``InputError("FILE: not a readable safetensors file (reason)")``).
    """
    p = Path(path)

    def bad(reason: str) -> InputError:
        return InputError(f"{p}: not a readable safetensors file ({reason})")

    try:
        size = p.stat().st_size
        with p.open("rb") as fh:
            raw = fh.read(8)
            if len(raw) < 8:
                raise bad("no header")
            (n,) = struct.unpack("<Q", raw)
            if n > min(size - 8, MAX_HEADER):
                raise bad(f"header length {n} in a {size}-byte file")
            text = fh.read(n)
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror or e})") from None
    try:
        header = parse_json(text, p)
    except InputError:
        raise bad("bad header") from None
    if not isinstance(header, dict):
        raise bad("bad header")
    for name, info in header.items():
        if name != "__metadata__" and (problem := _tensor_problem(name, info, size - 8 - n)):
            raise bad(problem)
    return header, 8 + n


def load_safetensors(path: str | Path) -> dict[str, Any]:
    """Every tensor of a safetensors file (torch), the header checked first; errors as ``InputError``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    read_safetensors_header(path)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, RuntimeError) as e:
        raise InputError(f"{path}: not a readable safetensors file ({e})") from None


# Provenance ---------------------------------------------------------------------------------


def sha256_path(path: str | Path) -> str:
    """sha256 of a file, or of a folder's files (names and contents, sorted)."""
    p = Path(path)
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"lorakit": __version__, "python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "safetensors", "accelerate"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def provenance(command: str, options: dict[str, Any], inputs: Iterable[str | Path] = (), seed: int | None = None) -> dict[str, Any]:
    """The ``lorakit.json`` record: command, resolved options, input hashes, seed, versions."""
    return {
        "command": command,
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()},
        "inputs": [
            {"path": str(p), "sha256": sha256_path(p)} for p in inputs if str(p) != STDIO and Path(p).exists()
        ],
        "seed": seed,
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_provenance(folder: str | Path, command: str, options: dict[str, Any], inputs: Iterable[str | Path] = (), seed: int | None = None) -> None:
    write_json(Path(folder) / PROVENANCE, provenance(command, options, inputs, seed))
