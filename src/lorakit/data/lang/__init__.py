"""Per-language template grammars for ``gen-data faithfulness`` (Vietnamese, Polish, Georgian).

Each language module renders one news ``Event`` as a source document (``body``) and as a
one-sentence summary (``summary``); the summary uses other templates than the body, so the
faithful summary is a paraphrase, never a copied sentence. Perturbations change the event, not
the string, and the summary is re-rendered with the same template: the unfaithful summary is a
minimal edit with correct inflection (Polish verb gender and the genitive of negation, Georgian
ergative/nominative case, locatives and dates). Entity pools are lists in these modules.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

LANGS = ("vi", "pl", "ka")


@dataclass(frozen=True)
class Person:
    """A full name in the case forms the templates need (keys per language: nom, acc, gen, erg...)."""

    forms: tuple[tuple[str, str], ...]
    gender: str = "m"

    def __getitem__(self, case: str) -> str:
        return dict(self.forms)[case]

    @property
    def name(self) -> str:
        return self["nom"]


@dataclass
class Event:
    """Who did what to whom, where, when, before how many people (indices into the language's pools)."""

    a: Person
    """The actor (subject)."""
    b: Person
    """The one acted on (object)."""
    verb: int
    city: int
    org: int
    day: int
    month: int
    number: int
    negated: bool = False
    adverb: int | None = None
    body_template: int = 0
    summary_template: int = 0
    fillers: list[int] = field(default_factory=list)


def grammar(lang: str) -> ModuleType:
    """The module of ``lang`` (``lorakit.data.lang.vi`` ...)."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}")
    return importlib.import_module(f"lorakit.data.lang.{lang}")


def cap(text: str) -> str:
    """Upper-case the first letter (Georgian has no case: unchanged)."""
    return text[:1].upper() + text[1:]


def join(*parts: str | None) -> str:
    """Words joined by single spaces, empty parts skipped."""
    return " ".join(p for p in parts if p)
