"""Corpora larger than memory: documents as memory-mapped Arrow, token ids cached on disk, packed blocks.

``open_corpus`` reads a text file (one document per non-blank line), a JSONL file (its "text"
fields) or a local ``datasets`` folder (``save_to_disk``; its "text" column) into a
``datasets.Dataset`` with one "text" row per document; ``tokenize_corpus`` adds the token ids
with ``map(batched=True, num_proc=...)``. Files go through the Hugging Face cache (``cache_dir``,
default the ``datasets`` cache, ``HF_DATASETS_CACHE``), so a second run over the same file reuses
both. Only local readers are used (``Dataset.from_text``, ``load_from_disk``, never
``load_dataset``), so reading a corpus makes no network call, whatever ``HF_*_OFFLINE`` say.
``TokenStore`` then reads one document's ids at a time straight from the memory-mapped Arrow column, and ``pack_spans`` / ``EpochPlan`` keep a per-document index in numpy (a few bytes
per document), so the memory a run needs does not grow with the corpus text.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorakit.errors import InputError
from lorakit.io import STDIO, parse_json

Span = tuple[int, int, int]
"""(document, start, end): tokens ``start:end`` of one document."""

TOKENIZE_BATCH = 1000
READ_CHUNK = 1 << 20
"""Bytes the text loader reads at a time (its default, 10 MB, costs ~150 MB of memory at the peak)."""
_FORMAT_VERSION = "lorakit-corpus-1"


@dataclass(kw_only=True)
class CorpusOptions:
    """How a pretraining command reads its corpus (keyword-only fields its config inherits)."""

    cache_dir: Path | None = None
    """Cache for the corpus as Arrow files and its token ids, reused by later runs (default: the datasets
    cache, HF_DATASETS_CACHE)."""
    num_proc: int = 1
    """Processes that tokenize the corpus."""
    tokenizer_sample: float = 32.0
    """MB of text the tokenizer trains on: a seeded random sample of documents (the whole corpus when smaller)."""

    def corpus_problems(self) -> list[str]:
        problems = []
        if self.num_proc < 1:
            problems.append(f"--num-proc must be at least 1, not {self.num_proc}")
        if self.tokenizer_sample <= 0:
            problems.append(f"--tokenizer-sample must be positive, not {self.tokenizer_sample}")
        return problems


# 1) documents -------------------------------------------------------------------------------------


def _read_stdin() -> Any:
    import datasets

    return datasets.Dataset.from_dict({"text": sys.stdin.read().splitlines()})


def _load_text(p: Path, cache_dir: str | None) -> Any:
    import datasets

    if not p.is_file():
        raise InputError(f"{p}: no such file")
    if p.stat().st_size == 0:  # datasets cannot build an empty split
        raise InputError(f"{p}: no text")
    try:
        # the text builder itself: load_dataset would first resolve "text" and ping the hub (unless HF_*_OFFLINE)
        return datasets.Dataset.from_text(str(p), split="train", cache_dir=cache_dir, chunksize=READ_CHUNK)
    except Exception as e:  # datasets wraps the reader's errors in DatasetGenerationError
        cause: BaseException | None = e
        while cause is not None and not isinstance(cause, UnicodeDecodeError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, UnicodeDecodeError):
            raise InputError(f"{p}: not UTF-8 text ({cause.reason})") from None
        raise


def load_folder(p: Path) -> Any:
    """A ``save_to_disk`` folder's "text" column (the "train" split of a DatasetDict, else its first)."""
    import datasets

    try:
        ds = datasets.load_from_disk(str(p))
    except (FileNotFoundError, ValueError) as e:
        raise InputError(f"{p}: not a datasets folder ({e})") from None
    if isinstance(ds, datasets.DatasetDict):
        ds = ds["train"] if "train" in ds else next(iter(ds.values()))
    if "text" not in ds.column_names:
        raise InputError(f"{p}: the dataset has no 'text' column (columns: {', '.join(ds.column_names)})")
    return ds.select_columns(["text"])


def kind_of(lines: Iterable[str]) -> str:
    """'jsonl' when the first non-blank line is a JSON object, else 'text'."""
    for line in lines:
        if line.strip():
            return "jsonl" if line.lstrip().startswith("{") else "text"
    return "text"


def documents(batch: dict[str, list[Any]], indices: Sequence[int], name: str, kind: str) -> dict[str, list[str]]:
    """Lines (``kind`` 'text' or 'jsonl') or rows ('folder') to documents: blank ones dropped, stripped
    (JSONL texts as they are), JSONL parsed with ``FILE:LINE`` errors (``indices``: 0-based line numbers)."""
    docs = []
    for i, line in zip(indices, batch["text"]):
        if kind == "folder":
            if isinstance(line, str) and line.strip():
                docs.append(line.strip())
            continue
        if not line.strip():
            continue
        if kind == "text":
            docs.append(line.strip())
            continue
        record = parse_json(line, f"{name}:{i + 1}", line_numbers=False)
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise InputError(f"{name}:{i + 1}: expected an object with a string field 'text'")
        docs.append(record["text"])
    return {"text": docs}


def open_corpus(path: str | Path, cache_dir: str | Path | None = None, num_proc: int | None = None) -> Any:
    """A ``datasets.Dataset`` with one "text" row per document (memory-mapped for files and folders).

    Text: one document per non-blank line, stripped. JSONL (first non-blank line a JSON object):
    each line's "text" field. A ``datasets`` folder: its non-blank "text" values, stripped (the
    "train" split of a DatasetDict, else its first). '-' reads stdin into memory.
    """
    import datasets

    cache = None if cache_dir is None else str(cache_dir)
    if str(path) == STDIO:
        name, raw, kind = "<stdin>", _read_stdin(), ""
    elif Path(path).is_dir():
        name, raw, kind = str(path), load_folder(Path(path)), "folder"
    else:
        name, raw, kind = str(path), _load_text(Path(path), cache), ""
    kind = kind or kind_of(iter_texts(raw))
    fingerprint = None if raw._fingerprint is None else _hash(_FORMAT_VERSION, raw._fingerprint, kind, name)
    try:
        docs = raw.map(documents, batched=True, batch_size=TOKENIZE_BATCH, with_indices=True,
                       fn_kwargs={"name": name, "kind": kind}, remove_columns=raw.column_names,
                       features=datasets.Features({"text": datasets.Value("string")}),
                       num_proc=_procs(num_proc, len(raw)), new_fingerprint=fingerprint)
    except InputError:
        raise
    except Exception as e:  # a worker process's InputError arrives wrapped
        inner = _input_error(e)
        if inner is None:
            raise
        raise InputError(str(inner)) from None
    if len(docs) == 0:
        raise InputError(f"{name}: no text")
    return docs


def _input_error(e: BaseException) -> InputError | None:
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, InputError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _procs(num_proc: int | None, rows: int) -> int | None:
    """``num_proc`` for ``map``: None (in this process) for 1 or for small datasets."""
    if num_proc is None or num_proc <= 1 or rows < 2 * TOKENIZE_BATCH:
        return None
    return num_proc


def _hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:16]


def iter_texts(docs: Any, indices: Sequence[int] | None = None) -> Iterator[str]:
    """The documents' texts in order (or those at sorted ``indices``), a batch at a time."""
    if indices is None:
        for start in range(0, len(docs), TOKENIZE_BATCH):
            yield from docs[start:start + TOKENIZE_BATCH]["text"]
        return
    for start in range(0, len(indices), TOKENIZE_BATCH):
        yield from docs[list(indices[start:start + TOKENIZE_BATCH])]["text"]


def text_bytes(docs: Any) -> np.ndarray:
    """UTF-8 bytes of each document, from the Arrow offsets (the text is not read)."""
    import numpy as np
    import pyarrow.compute as pc

    col = docs.data.column("text")
    return np.concatenate([pc.binary_length(c).to_numpy(zero_copy_only=False) for c in col.chunks] or [np.zeros(0)])


def sample_texts(docs: Any, max_bytes: int, seed: int = 0) -> Iterator[str]:
    """All documents in order when they hold at most ``max_bytes``; else a random sample of about
    ``max_bytes`` (seeded), in corpus order. What a tokenizer is trained on."""
    import numpy as np
    sizes = text_bytes(docs)
    if sizes.sum() <= max_bytes:
        return iter_texts(docs)
    perm = np.random.default_rng(seed).permutation(len(sizes))
    keep = max(1, int(np.searchsorted(np.cumsum(sizes[perm]), max_bytes, side="right")))
    return iter_texts(docs, np.sort(perm[:keep]).tolist())


# 2) token ids -------------------------------------------------------------------------------------


def _ids(tokenizer: Any, texts: list[str], special: bool) -> list[list[int]]:
    """``tokenizer(texts)["input_ids"]``; through the Rust backend without offsets when there is one."""
    fast = getattr(getattr(tokenizer, "backend_tokenizer", None), "encode_batch_fast", None)
    if fast is not None:
        return [e.ids for e in fast(texts, add_special_tokens=special)]
    return tokenizer(texts, add_special_tokens=special)["input_ids"]


def _encode(batch: dict[str, list[str]], tokenizer: Any, eos: int) -> dict[str, list[list[int]]]:
    return {"ids": [x + [eos] for x in _ids(tokenizer, batch["text"], True)]}


def _encode_sentences(batch: dict[str, list[str]], tokenizer: Any, split: Callable[[str], list[str]]) -> dict[str, list[list[int]]]:
    per_doc = [split(text) for text in batch["text"]]
    flat = iter(_ids(tokenizer, [s for doc in per_doc for s in doc], False))
    ids, sents = [], []
    for doc in per_doc:
        pieces = [p for p in (next(flat) for _ in doc) if p]
        if pieces:  # a document without tokens is dropped
            ids.append([t for p in pieces for t in p])
            sents.append([len(p) for p in pieces])
    return {"ids": ids, "sents": sents}


def tokenizer_hash(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return _hash(text, str(tokenizer.eos_token_id), str(getattr(tokenizer, "add_bos_token", "")))


def _map(docs: Any, fn: Callable[..., dict[str, Any]], columns: Sequence[str], key: str, num_proc: int | None,
         **kwargs: Any) -> Any:
    """``docs.map(fn)`` a batch at a time into int32 list ``columns`` (cached under ``key`` and the documents)."""
    import datasets

    fingerprint = None if docs._fingerprint is None else _hash(_FORMAT_VERSION, docs._fingerprint, key)
    return docs.map(fn, batched=True, batch_size=TOKENIZE_BATCH, remove_columns=["text"], fn_kwargs=kwargs,
                    features=datasets.Features({c: datasets.List(datasets.Value("int32")) for c in columns}),
                    num_proc=_procs(num_proc, len(docs)), new_fingerprint=fingerprint)


def tokenize_corpus(docs: Any, tokenizer: Any, num_proc: int | None = None) -> Any:
    """``docs`` with an "ids" column (int32 token ids: BOS, the text's tokens, EOS) instead of "text"."""
    return _map(docs, _encode, ["ids"], tokenizer_hash(tokenizer), num_proc, tokenizer=tokenizer,
                eos=tokenizer.eos_token_id)


def tokenize_sentences(docs: Any, tokenizer: Any, split: Callable[[str], list[str]], num_proc: int | None = None) -> Any:
    """``docs`` with "ids" (the tokens of each document's non-empty sentences, no special tokens) and
    "sents" (their lengths) instead of "text"; ``split`` (a module-level function) cuts a text into
    sentences; documents without tokens are dropped."""
    key = _hash("sentences", split.__module__, split.__qualname__, tokenizer_hash(tokenizer))
    return _map(docs, _encode_sentences, ["ids", "sents"], key, num_proc, tokenizer=tokenizer, split=split)


class TokenStore:
    """Token ids per document, read on demand: from an Arrow list column (memory-mapped) or from lists."""

    def __init__(self, offsets: list[np.ndarray], values: list[np.ndarray]) -> None:
        import numpy as np
        self._offsets, self._values = offsets, values
        rows = [len(o) - 1 for o in offsets]
        self._first = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(np.int64) if rows else np.zeros(1, np.int64)
        self.lengths = (np.concatenate([np.diff(o).astype(np.int32) for o in offsets]) if rows
                        else np.zeros(0, np.int32))
        """Tokens per document (int32; 4 bytes a document)."""

    @classmethod
    def from_dataset(cls, ds: Any, column: str = "ids") -> TokenStore:
        if getattr(ds, "_indices", None) is not None:
            ds = ds.flatten_indices()
        chunks = [c for c in ds.data.column(column).chunks if len(c)]
        return cls([c.offsets.to_numpy() for c in chunks], [c.values.to_numpy() for c in chunks])

    @classmethod
    def from_lists(cls, docs: Sequence[Sequence[int]]) -> TokenStore:
        import numpy as np
        offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype(np.int64)
        values = np.fromiter((t for d in docs for t in d), dtype=np.int64, count=int(offsets[-1]))
        return cls([offsets], [values])

    def __len__(self) -> int:
        return len(self.lengths)

    def tokens(self, doc: int, start: int, end: int) -> np.ndarray:
        import numpy as np
        k = int(np.searchsorted(self._first, doc, side="right")) - 1
        base = int(self._offsets[k][doc - self._first[k]])
        return self._values[k][base + start: base + end]


# 3) packed blocks ----------------------------------------------------------------------------------


def pack_starts(lengths: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole documents (``lengths`` in packing order) packed into blocks of at most ``block_size`` tokens.

    A document that does not fit the current block starts a new one; only a document longer
    than a block is split. Each block is a run of the token stream, given as the position of
    its first document, the offset in that document, and its number of tokens.
    """
    import numpy as np
    from array import array

    pos, off, size = array("i"), array("i"), array("i")  # int32: 12 bytes a block
    used, first, first_off, p = 0, 0, 0, 0
    for chunk in range(0, len(lengths), 1 << 16):
        for n in lengths[chunk:chunk + (1 << 16)].tolist():
            start = 0
            while start < n:
                take = min(n - start, block_size)
                if used + take > block_size:
                    pos.append(first), off.append(first_off), size.append(used)
                    used = 0
                if used == 0:
                    first, first_off = p, start
                used += take
                start += take
            p += 1
    if used:
        pos.append(first), off.append(first_off), size.append(used)
    return np.frombuffer(pos, np.int32), np.frombuffer(off, np.int32), np.frombuffer(size, np.int32)


class LazySequence(Sequence[Any]):
    """A sequence whose items are built on demand by ``item(i)`` (0 ≤ i < len); slices give lists."""

    def item(self, i: int) -> Any:
        raise NotImplementedError

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self.item(i % len(self))


class EpochPlan(LazySequence):
    """One epoch's batches (lists of blocks of spans), built on demand from numpy arrays."""

    def __init__(self, order: np.ndarray, lengths: np.ndarray, block_size: int, batch_size: int) -> None:
        import numpy as np
        self.order, self.lengths, self.batch_size = order, lengths, batch_size
        self.pos, self.off, self.size = pack_starts(lengths[order], block_size)

    @property
    def blocks(self) -> int:
        return len(self.pos)

    def __len__(self) -> int:
        return -(-self.blocks // self.batch_size)

    def block(self, b: int) -> list[Span]:
        spans, p, start, left = [], int(self.pos[b]), int(self.off[b]), int(self.size[b])
        while left > 0:
            doc = int(self.order[p])
            end = min(int(self.lengths[doc]), start + left)
            spans.append((doc, start, end))
            left -= end - start
            p, start = p + 1, 0
        return spans

    def item(self, i: int) -> list[list[Span]]:
        return [self.block(b) for b in range(i * self.batch_size, min(self.blocks, (i + 1) * self.batch_size))]

    def __eq__(self, other: object) -> bool:
        import numpy as np
        if not isinstance(other, EpochPlan):
            return NotImplemented
        return self.batch_size == other.batch_size and all(
            np.array_equal(a, b) for a, b in ((self.order, other.order), (self.lengths, other.lengths),
                                              (self.pos, other.pos), (self.off, other.off), (self.size, other.size)))

    __hash__ = None  # type: ignore[assignment]
