"""A source-blind control: a word-bigram language model with interpolated Kneser–Ney smoothing.

It is trained on the same text as the BERT (one document per line) and scores each candidate
*alone*: a scorer that beats it must be using the source, not just the fluency of the candidate.

Words are ``\\w+`` runs and single punctuation marks of the NFC-normalised, lower-cased text; each
line (document or candidate) is framed by ``<s>`` … ``</s>``. Smoothing (Chen & Goodman's
interpolated Kneser–Ney, one discount ``D = n1 / (n1 + 2 n2)`` from the bigram counts of counts)::

    P(w | v) = max(c(v w) − D, 0) / c(v) + D · N1+(v •) / c(v) · P_cont(w)
    P_cont(w) = max(N1+(• w) − D, 0) / N1+(• •) + D · N1+(• •>0 types) / N1+(• •) · 1 / (V + 1)

The last term spreads mass uniformly over the V known words and one unknown word, so every word,
seen or not, gets a finite log-probability; an unseen history backs off to ``P_cont``.

A candidate's score is its mean log-probability per predicted word (``</s>`` included), not the
total: minimal-edit pairs differ in length (a negation particle inserted or removed), and a total
would prefer the shorter candidate whatever it says. The mean is also what ``--method pll`` reports
for a BERT, so the two are read the same way.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

BOS, EOS = "<s>", "</s>"
WORD = re.compile(r"\w+|[^\w\s]")


def words(text: str) -> list[str]:
    """The LM's tokens of one line, framed by BOS and EOS."""
    return [BOS, *WORD.findall(unicodedata.normalize("NFC", text).lower()), EOS]


@dataclass
class BigramLM:
    bigrams: Counter[tuple[str, str]]
    history: Counter[str]
    """c(v): how often v starts a bigram."""
    followers: Counter[str]
    """N1+(v •): distinct words after v."""
    continuation: Counter[str]
    """N1+(• w): distinct words before w."""
    discount: float
    vocab: int
    """V: distinct words seen (BOS and EOS included)."""
    types: int
    """N1+(• •): distinct bigrams."""

    def logprob(self, prev: str, word: str) -> float:
        """log P(word | prev), natural log."""
        d, types = self.discount, self.types
        # unigram: continuation counts, discounted, the rest uniform over V + 1 words
        p = max(self.continuation[word] - d, 0) / types + d * len(self.continuation) / types / (self.vocab + 1)
        # bigram: discounted counts, interpolated with the unigram
        if (c := self.history[prev]) > 0:
            p = max(self.bigrams[prev, word] - d, 0) / c + d * self.followers[prev] / c * p
        return math.log(p)

    def score(self, text: str) -> float:
        """Mean log-probability per predicted word of one line (source-blind)."""
        w = words(text)
        return sum(self.logprob(a, b) for a, b in zip(w, w[1:])) / (len(w) - 1)


def discount(bigrams: Counter[tuple[str, str]]) -> float:
    """Ney's estimate n1 / (n1 + 2 n2) from the counts of counts, kept inside (0, 1)."""
    n = Counter(c for c in bigrams.values() if c <= 2)
    return min(max(n[1] / (n[1] + 2 * n[2]), 0.1), 0.9) if n[1] else 0.5


def train_bigram(lines: Iterable[str]) -> BigramLM:
    """Count the bigrams of every non-blank line; the model for ``BigramLM.score``."""
    bigrams: Counter[tuple[str, str]] = Counter()
    for line in lines:
        if line.strip():
            w = words(line)
            bigrams.update(zip(w, w[1:]))
    history: Counter[str] = Counter()
    followers: Counter[str] = Counter()
    continuation: Counter[str] = Counter()
    for (v, w), c in bigrams.items():
        history[v] += c
        followers[v] += 1
        continuation[w] += 1
    vocab = len(set(history) | set(continuation))
    return BigramLM(bigrams, history, followers, continuation, discount(bigrams), vocab, len(bigrams))
