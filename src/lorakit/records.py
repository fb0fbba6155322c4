"""Prompt/completion records (``train-lora``, ``eval``) from the files users already have.

Formats, told apart by content: JSONL (one object a line), a JSON array of objects, a
``datasets`` folder written by ``save_to_disk`` (one split), a Parquet file. A record is either

- ``prompt`` + ``completion`` strings (other names with ``--prompt-field`` / ``--completion-field``;
  the record is read with the two fields renamed), or
- a chat: ``messages`` = [{"role", "content"}, ...] ending with the assistant's turn. The prompt is
  the conversation before that turn rendered with the model's chat template (``apply_chat_template``,
  generation prompt added); the completion is that turn's content, the only text with a loss.

Errors name the place: ``FILE:LINE`` (JSONL), ``FILE: item N`` (JSON array), ``FOLDER: row N``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorakit.errors import InputError
from lorakit.io import STDIO, numbered_jsonl, parse_json, read_text

MESSAGES = "messages"


@dataclass(frozen=True)
class Fields:
    """Which record fields hold the prompt and the completion."""

    prompt: str = "prompt"
    completion: str = "completion"


def field_problems(prompt: str, completion: str) -> list[str]:
    """``--prompt-field`` / ``--completion-field``: non-empty and different."""
    problems = [f"{opt} must not be empty" for opt, v in (("--prompt-field", prompt), ("--completion-field", completion))
                if not v]
    if prompt and prompt == completion:
        problems.append(f"--prompt-field and --completion-field must differ (both {prompt!r})")
    return problems


def _where(path: str | Path) -> str:
    return "<stdin>" if str(path) == STDIO else str(path)


def _json_array(p: Path) -> Iterator[tuple[str, Any]]:
    items = parse_json(read_text(p), p)
    if not isinstance(items, list):
        raise InputError(f"{p}: expected a JSON array of objects")
    for i, item in enumerate(items, start=1):
        yield f"{p}: item {i}", item


def _table(p: Path, rows: list[dict[str, Any]]) -> Iterator[tuple[str, Any]]:
    for i, row in enumerate(rows, start=1):
        yield f"{p}: row {i}", row


def _datasets_folder(p: Path) -> list[dict[str, Any]]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(p))
    except (FileNotFoundError, ValueError) as e:
        raise InputError(f"{p}: not a datasets folder ({e})") from None
    if isinstance(ds, datasets.DatasetDict):
        splits = list(ds)
        if len(splits) != 1:
            raise InputError(f"{p}: a DatasetDict with splits {', '.join(splits)}: give one split's folder "
                             f"(e.g. {p / splits[0]})")
        ds = ds[splits[0]]
    return ds.to_list()


def _parquet(p: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(str(p)).to_pylist()
    except Exception as e:  # pyarrow's ArrowInvalid / OSError on a damaged file
        raise InputError(f"{p}: not a readable Parquet file ({str(e).splitlines()[0]})") from None


def _first_char(p: Path) -> str:
    with p.open("rb") as fh:
        head = fh.read(4096)
    return head.decode("utf-8", errors="ignore").lstrip()[:1]


def _rows(path: str | Path) -> Iterator[tuple[str, Any]]:
    """``(place, record)`` pairs in file order, whatever the format."""
    if str(path) != STDIO:
        p = Path(path)
        if p.is_dir():
            yield from _table(p, _datasets_folder(p))
            return
        if p.is_file():
            with p.open("rb") as fh:
                magic = fh.read(4)
            if magic == b"PAR1":
                yield from _table(p, _parquet(p))
                return
            if _first_char(p) == "[":
                yield from _json_array(p)
                return
    name = _where(path)
    for lineno, record in numbered_jsonl(path):
        yield f"{name}:{lineno}", record


def _chat_problem(messages: Any, completion: bool = True) -> str | None:
    if not isinstance(messages, list) or not messages:
        return f"{MESSAGES!r} must be a non-empty list of {{\"role\", \"content\"}} objects"
    for i, m in enumerate(messages, start=1):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            return f"{MESSAGES!r} item {i} must be an object with string 'role' and 'content'"
    if completion and messages[-1]["role"] != "assistant":
        return f"the last of {MESSAGES!r} must be the assistant's turn (the completion), not {messages[-1]['role']!r}"
    return None


def read_records(path: str | Path, fields: Fields = Fields(), completion: bool = True) -> list[dict[str, Any]]:
    """Every record of ``path``, checked before any work starts: prompt/completion ones renamed to
    ``prompt`` / ``completion``, chat ones kept with their ``messages`` (``render_chats`` next).

    ``completion=False`` (``route``): the completion is optional — a record needs only its prompt,
    and a chat may end with any turn (one that ends with the user's is all prompt)."""
    records = []
    for place, record in _rows(path):
        if not isinstance(record, dict):
            raise InputError(f"{place}: expected a JSON object, got {type(record).__name__}")
        if MESSAGES in record and fields.prompt not in record:
            if (problem := _chat_problem(record[MESSAGES], completion)) is not None:
                raise InputError(f"{place}: {problem}")
            records.append(record)
            continue
        wanted = (fields.prompt, fields.completion) if completion else (fields.prompt,)
        missing = [k for k in wanted if k not in record]
        if missing:
            raise InputError(f"{place}: missing field(s) {', '.join(map(repr, missing))}")
        for k in (fields.prompt, fields.completion):
            if k in record and not isinstance(record[k], str):
                raise InputError(f"{place}: field {k!r} must be a string")
        if fields != Fields():
            record = {k: v for k, v in record.items() if k not in (fields.prompt, fields.completion)} | {
                "prompt": record[fields.prompt], "completion": record[fields.completion]}
        records.append(record)
    if not records:
        raise InputError(f"{_where(path)}: no records")
    return records


def has_chats(records: list[dict[str, Any]]) -> bool:
    return any(MESSAGES in r and "prompt" not in r for r in records)


def render_chats(records: list[dict[str, Any]], tokenizer: Any, source: str | Path, model: str | Path) -> int:
    """Give each chat record its ``prompt`` (the template's rendering of the turns before the last,
    with the generation prompt) and ``completion`` (the last turn's content); returns how many.
    A chat that ends with another turn than the assistant's (``read_records(completion=False)``)
    is all prompt: every turn rendered, with the generation prompt, and no completion.
    A tokenizer without a chat template → InputError naming the model."""
    chats = [r for r in records if MESSAGES in r and "prompt" not in r]
    if chats and not getattr(tokenizer, "chat_template", None):
        raise InputError(f"{model}: the tokenizer has no chat template, which the 'messages' records of "
                         f"{_where(source)} need (set tokenizer.chat_template, or give prompt/completion records)")
    for r in chats:
        turns = r[MESSAGES]
        answered = turns[-1]["role"] == "assistant"
        r["prompt"] = tokenizer.apply_chat_template(turns[:-1] if answered else turns, tokenize=False,
                                                    add_generation_prompt=True)
        if answered:
            r["completion"] = turns[-1]["content"]
    return len(chats)
