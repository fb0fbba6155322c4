"""``pretrain-bert``'s data: documents as sentences of token ids, sentence pairs, masking.

Pairs are built as in BERT's ``create_pretraining_data``, per document: sentences are packed up
to ``max_seq_len - 3`` tokens and split at a random sentence boundary into segments A and B;
for NSP, B is replaced half the time by sentences of another document (label 1 = not next, the
HF convention); for SOP, A and B are swapped half the time.

A pair is planned as sentence indices (``PAIR_FIELDS``, 28 bytes) and its tokens are read from a
``SentenceStore`` only when its batch is collated, so an epoch's plan costs a few bytes per
sentence pair however large the corpus (the store reads memory-mapped Arrow columns). Pairs and
masks are pure functions of (seed, epoch, batch), so a resumed run sees the same batches.
"""

from __future__ import annotations

import random
import re
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from lorakit.models.corpus import LazySequence, TokenStore
from lorakit.errors import InputError

_SENTENCE = re.compile(r"(?<=[.!?…])\s+")
GROUP_BATCHES = 64
"""``--group-by-length`` sorts pairs by length within windows of this many batches."""
PAIR_FIELDS = ("doc", "first", "cut", "end", "other", "other_first", "label")
"""A planned pair: A = sentences first:cut of doc, B = cut:end (or other_first: of doc ``other`` when
``other`` ≥ 0); label 0 next / in order, 1 random / swapped (SOP: B before A), -100 none (no
pair task, or SOP on a one-sentence chunk)."""

Pair = tuple[list[int], list[int], int]
"""(segment A ids, segment B ids, sentence-pair label)."""


def sentences(doc: str) -> list[str]:
    return [s for s in _SENTENCE.split(doc.strip()) if s]


class SentenceStore:
    """Each document's non-empty sentences as token ids: a token store and a sentence-length store."""

    def __init__(self, ids: TokenStore, lengths: TokenStore) -> None:
        self.ids, self.lengths = ids, lengths

    @classmethod
    def from_dataset(cls, ds: Any) -> SentenceStore:
        """From ``tokenize_sentences``' columns "ids" (a document's tokens) and "sents" (its sentence lengths)."""
        return cls(TokenStore.from_dataset(ds, "ids"), TokenStore.from_dataset(ds, "sents"))

    @classmethod
    def from_lists(cls, docs: Sequence[Sequence[Sequence[int]]]) -> SentenceStore:
        docs = [[s for s in d if len(s)] for d in docs]
        docs = [d for d in docs if d]
        return cls(TokenStore.from_lists([[t for s in d for t in s] for d in docs]),
                   TokenStore.from_lists([[len(s) for s in d] for d in docs]))

    def __len__(self) -> int:
        return len(self.lengths)

    def sentence_lengths(self, doc: int) -> list[int]:
        return self.lengths.tokens(doc, 0, int(self.lengths.lengths[doc])).tolist()

    def tokens(self, doc: int, first: int, end: int | None = None, limit: int | None = None) -> list[int]:
        """Tokens of sentences ``first:end`` of ``doc`` (at most ``limit`` of them)."""
        lens = self.sentence_lengths(doc)
        start, stop = sum(lens[:first]), sum(lens[: len(lens) if end is None else end])
        if limit is not None:
            stop = min(stop, start + limit)
        return self.ids.tokens(doc, start, stop).tolist()


def check_pairs_possible(texts: Iterable[str], pairs: str | None) -> None:
    """Fail fast (before any tokenizer is trained) on a corpus that cannot give NSP/SOP pairs."""
    if pairs is None:
        return
    docs = most = 0
    for text in texts:
        docs, most = docs + 1, max(most, len(sentences(text)))
        if docs >= 2 and most >= 2:
            return
    raise InputError(f"corpus too small for {pairs.upper()} pairs: it needs at least 2 documents and one with "
                     f"2 or more sentences (has {docs} document(s), the longest with {most} sentence(s))")


def plan_pairs(store: SentenceStore, max_tokens: int, pairs: str | None, rng: random.Random) -> np.ndarray:
    """Every document's sentence pairs (BERT's ``create_instances_from_document``, simplified), one row each."""
    rows = array("i")
    n_docs = len(store)
    for d in range(n_docs):
        lens = store.sentence_lengths(d)
        target = max_tokens if rng.random() > 0.1 else rng.randint(2, max_tokens)  # BERT's short-sequence prob
        first, used = 0, 0
        for i, n in enumerate(lens):
            used += n
            if i < len(lens) - 1 and used < target:
                continue
            size = i + 1 - first
            cut = first + (rng.randint(1, size - 1) if size >= 2 else 1)
            other, other_first, label = -1, 0, -100
            if pairs == "nsp":
                label = 0
                if cut > i or rng.random() < 0.5:  # no B of its own, or half the time: B from another document
                    other = d
                    if n_docs > 1:  # = rng.choice([j for j in range(n_docs) if j != d]), without the list
                        other = rng.randrange(n_docs - 1)
                        other += other >= d
                    other_first, label = rng.randrange(int(store.lengths.lengths[other])), 1
            elif pairs == "sop" and cut <= i:  # a pair with a B: in order (0) or swapped (1)
                label = int(rng.random() < 0.5)
            rows.extend((d, first, cut, i + 1, other, other_first, label))
            first, used = i + 1, 0
    return np.frombuffer(rows, np.int32).reshape(-1, len(PAIR_FIELDS))


def read_pair(store: SentenceStore, row: Sequence[int], max_tokens: int, pairs: str | None) -> Pair:
    """A planned pair's tokens, the longer segment cut at its end until both fit ``max_tokens``."""
    d, first, cut, end, other, other_first, label = (int(x) for x in row)
    a = store.tokens(d, first, cut, max_tokens)
    b = store.tokens(other, other_first, None, max_tokens) if other >= 0 else store.tokens(d, cut, end, max_tokens)
    if pairs == "sop" and label == 1:
        a, b = b, a
    while len(a) + len(b) > max_tokens:
        (a if len(a) > len(b) else b).pop()
    return a, b, label


def pair_length(store: SentenceStore, row: Sequence[int], max_tokens: int) -> int:
    """Tokens of a planned pair once read (``read_pair``), without reading its tokens."""
    d, first, cut, end, other, other_first, _ = (int(x) for x in row)
    lens = store.sentence_lengths(d)
    b = sum(store.sentence_lengths(other)[other_first:]) if other >= 0 else sum(lens[cut:end])
    return min(max_tokens, sum(lens[first:cut]) + b)


def group_by_length(order: np.ndarray, lengths: Sequence[int], batch_size: int, rng: random.Random) -> np.ndarray:
    """``order`` (one window of an epoch) sorted by pair length, longest first, cut into batches
    and the full batches shuffled (a short last batch stays last): batches of like lengths pad less."""
    ranked = order[np.argsort(-np.asarray(lengths), kind="stable")]
    full = len(ranked) // batch_size * batch_size
    batches = [ranked[i:i + batch_size] for i in range(0, full, batch_size)]
    rng.shuffle(batches)
    return np.concatenate([*batches, ranked[full:]]) if len(ranked) else ranked


class EpochPairs(LazySequence):
    """One epoch's batches: (mask seed, planned pair rows), built on demand from numpy arrays.

    With ``group``, the order is regrouped by length window by window (``GROUP_BATCHES`` batches
    each; ``group_by_length``) when a window is first read: the same batches for a seed."""

    def __init__(self, rows: np.ndarray, order: np.ndarray, seeds: np.ndarray, batch_size: int,
                 group: tuple[SentenceStore, int, int] | None = None) -> None:
        self.rows, self.order, self.seeds, self.batch_size = rows, order, seeds, batch_size
        self.group = group  # (store, max tokens a pair, seed) with --group-by-length
        self._window: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.seeds)

    def item(self, i: int) -> tuple[int, np.ndarray]:
        if self.group is None:
            return int(self.seeds[i]), self.rows[self.order[i * self.batch_size:(i + 1) * self.batch_size]]
        w, k = divmod(i, GROUP_BATCHES)
        if self._window is None or self._window[0] != w:
            store, max_tokens, seed = self.group
            size = GROUP_BATCHES * self.batch_size
            order = self.order[w * size:(w + 1) * size]
            lengths = [pair_length(store, self.rows[j], max_tokens) for j in order]
            self._window = w, group_by_length(order, lengths, self.batch_size, random.Random(seed * 1_000_003 + w))
        return int(self.seeds[i]), self.rows[self._window[1][k * self.batch_size:(k + 1) * self.batch_size]]


class Batches:
    """Per epoch: pairs of every document (seeded by epoch), shuffled, grouped; each batch carries its mask seed."""

    def __init__(self, store: SentenceStore, cfg: Any, tokenizer: Any, word_starts: list[bool]) -> None:
        self.store, self.cfg = store, cfg
        self.cls, self.sep, self.pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
        self.mask, self.vocab = tokenizer.mask_token_id, len(tokenizer)
        self.starts = word_starts
        self.special = set(tokenizer.all_special_ids)
        self._cache: dict[int, EpochPairs] = {}

    def plan(self, epoch: int) -> EpochPairs:
        if epoch not in self._cache:
            rng = random.Random(self.cfg.seed * 1_000_003 + epoch)
            rows = plan_pairs(self.store, self.cfg.max_seq_len - 3, self.cfg.pairs, rng)
            order = np.arange(len(rows), dtype=np.int64)
            rng.shuffle(order)  # type: ignore[arg-type]
            bs = self.cfg.batch_size
            seeds = np.array([rng.getrandbits(63) for _ in range(0, len(rows), bs)], dtype=np.int64)
            group = (self.store, self.cfg.max_seq_len - 3, rng.getrandbits(63)) if self.cfg.group_by_length else None
            self._cache = {epoch: EpochPairs(rows, order, seeds, bs, group)}
        return self._cache[epoch]

    def masked_positions(self, ids: list[int], rng: random.Random) -> list[int]:
        """Positions to predict: ``mask_prob`` of the non-special tokens (whole words with ``whole_word_masking``)."""
        words: list[list[int]] = []
        for pos, t in enumerate(ids):
            if t in self.special:
                continue
            if not words or not self.cfg.whole_word_masking or self.starts[t]:
                words.append([pos])
            else:
                words[-1].append(pos)
        n = sum(map(len, words))
        want = max(1, round(n * self.cfg.mask_prob))
        rng.shuffle(words)
        chosen: list[int] = []
        for w in words:
            if len(chosen) >= want:
                break
            chosen += w
        return sorted(chosen)

    def collate(self, plan: tuple[int, np.ndarray]) -> dict[str, torch.Tensor]:
        seed, planned = plan
        rng = random.Random(seed)
        pairs = [read_pair(self.store, row, self.cfg.max_seq_len - 3, self.cfg.pairs) for row in planned]
        rows = [[self.cls, *a, self.sep, *b, self.sep] if b else [self.cls, *a, self.sep] for a, b, _ in pairs]
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        types = torch.zeros_like(ids)
        attn = torch.zeros_like(ids)
        index, labels = [], []
        for r, ((a, b, _), row) in enumerate(zip(pairs, rows)):
            for pos in self.masked_positions(row, rng):
                index.append(r * width + pos)
                labels.append(row[pos])
                p = rng.random()  # 80 % [MASK], 10 % random token, 10 % unchanged
                row[pos] = self.mask if p < 0.8 else rng.randrange(self.vocab) if p < 0.9 else row[pos]
            ids[r, : len(row)] = torch.tensor(row)
            attn[r, : len(row)] = 1
            types[r, len(a) + 2: len(row)] = 1 if b else 0
        batch = {"input_ids": ids, "token_type_ids": types, "attention_mask": attn,
                 "mlm_index": torch.tensor(index), "mlm_labels": torch.tensor(labels)}
        if self.cfg.pairs:
            batch["next_sentence_label"] = torch.tensor([lab for _, _, lab in pairs])
        return batch
