"""Fictional names from a small syllable grammar: tokenizer-friendly, unique, prefix-free.

A word is 2–3 syllables: open syllables (consonant + vowel) and, last, an open or a closed one
(consonant + vowel + n/r/l/s), capitalised: "Belo", "Kamari", "Rovan". Every word a
``NamePool`` hands out is new and neither a prefix of another word nor has one as a prefix, so a
full name ("Belo Kamari") found in a text, or at the start of a generated answer, is that
entity and no other: substring checks and exact-match scoring are unambiguous.
"""

from __future__ import annotations

import random

CONSONANTS = "bdgklmnprstvz"
VOWELS = "aeiou"
CODAS = "nrls"
OPEN = [c + v for c in CONSONANTS for v in VOWELS]
CLOSED = [s + k for s in OPEN for k in CODAS]
MAX_WORDS = 20_000
"""Most words one pool hands out (validated by the generators before they start)."""


class NamePool:
    """Draws unique, mutually prefix-free capitalised words with one ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words: set[str] = set()  # membership only: never iterated (hash order)
        self.prefixes: set[str] = set()

    def _candidate(self) -> str:
        n = 2 if self.rng.random() < 0.6 else 3
        body = [self.rng.choice(OPEN) for _ in range(n - 1)]
        last = self.rng.choice(OPEN) if self.rng.random() < 0.6 else self.rng.choice(CLOSED)
        return "".join(body) + last

    def _free(self, w: str) -> bool:
        if w in self.words or w in self.prefixes:
            return False
        return not any(w[:i] in self.words for i in range(2, len(w)))

    def word(self) -> str:
        """A new capitalised word (raises RuntimeError if the grammar is exhausted: a bug)."""
        for _ in range(10_000):
            w = self._candidate()
            if self._free(w):
                self.words.add(w)
                self.prefixes.update(w[:i] for i in range(2, len(w)))
                return w.capitalize()
        raise RuntimeError("name grammar exhausted")

    def person(self) -> str:
        """A two-part name, given + family: "Belo Kamari"."""
        return f"{self.word()} {self.word()}"
