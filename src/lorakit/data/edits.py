"""Minimal edits of a real sentence for ``gen-data faithfulness --from-text``.

A sentence is a list of space-separated tokens; an ``Edit`` ``(i, j, new)`` replaces tokens
``i:j`` by ``new``. Every function returns all the edits a sentence admits (none: the sentence
cannot take that perturbation), so a caller picks one with its own seeded random stream.

- ``negation_edits``: the language's negation particle inserted before, or removed from before, a
  verb of ``NEGATABLE`` (per-language lists in ``lorakit.data.lang``): Polish ``nie`` before the
  copula, the passive auxiliary and intransitive verbs (a transitive verb's object turns genitive
  once negated, more than one word); Vietnamese ``không`` before a listed verb after a subject
  pronoun or an auxiliary (``sẽ``, ``cũng``, ``vẫn``…), and ``có thể`` ↔
  ``không thể``; Georgian ``არ`` / ``ვერ`` right before a listed verb form, or removed before
  any word.
- ``number_edits``: a number (``12``, ``3.5``, ``50%``) changed to a nearby one in the same format;
  never a digit inside a name (``UTF-8``, ``x86``, ``1.2.3``, ``10:30``).
- ``swap_edits``: a word replaced by another word of the same shape from a pool (the source, or
  the rest of the text): same final three letters (Polish and Georgian endings) and the same
  capitalisation; in Vietnamese a two-syllable word (a syllable pair frequent in the text) by
  another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Set

from lorakit.data.lang import grammar

Edit = tuple[int, int, list[str]]
_TOKEN = re.compile(r"^(\W*)(\w+)(\W*)$")
_NUMBER = re.compile(r"^([(\[\"'„“«]?)(\d+)(?:([.,])(\d+))?([%)\]\"'”».,;:!?]*)$")
VI_BEFORE_NEGATION = frozenset("sẽ cũng vẫn thì đã bạn này đó nó họ ta tôi mình nào mà vì nếu khi nhưng".split())
"""Vietnamese words after which ``không`` may be inserted (a subject's end or an auxiliary)."""


def split(token: str) -> tuple[str, str, str] | None:
    """(leading punctuation, word, trailing punctuation), or None when the token is no plain word."""
    m = _TOKEN.match(token)
    return (m.group(1), m.group(2), m.group(3)) if m else None


def core(token: str) -> str:
    parts = split(token)
    return parts[1] if parts else ""


def apply(tokens: list[str], edit: Edit) -> list[str]:
    i, j, new = edit
    return [*tokens[:i], *new, *tokens[j:]]


def _cap(word: str) -> str:
    return word[:1].upper() + word[1:]


def _lower(word: str) -> str:
    return word[:1].lower() + word[1:]


def _plain(token: str) -> bool:
    """A word with no punctuation attached."""
    parts = split(token)
    return bool(parts) and not parts[0] and not parts[2]


# negation -------------------------------------------------------------------------------------


def _insert(tokens: list[str], i: int, particle: str, lang: str) -> Edit:
    """``particle`` before token i (at the start of a Latin-script sentence, it takes the capital)."""
    if i == 0 and lang != "ka" and tokens[0][:1].isupper():
        return (0, 1, [_cap(particle), _lower(tokens[0])])
    return (i, i, [particle])


def _remove(tokens: list[str], i: int, lang: str) -> Edit:
    """Token i removed (at the start of a Latin-script sentence, the next word takes the capital)."""
    if i == 0 and lang != "ka" and tokens[0][:1].isupper():
        return (0, 2, [_cap(tokens[1])])
    return (i, i + 1, [])


def _vi_unit(tokens: list[str], i: int) -> str | None:
    """The listed Vietnamese verb (one or two syllables) starting at token i, if any."""
    g = grammar("vi")
    words = [core(t).lower() for t in tokens[i:i + 2]]
    if len(words) == 2 and _plain(tokens[i]) and f"{words[0]} {words[1]}" in g.NEGATABLE:
        return f"{words[0]} {words[1]}"
    return words[0] if words and words[0] in g.NEGATABLE else None


def negation_edits(tokens: list[str], lang: str) -> list[Edit]:
    g = grammar(lang)
    words = [core(t).lower() for t in tokens]
    edits: list[Edit] = []
    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        prev = words[i - 1] if i else ""
        if lang == "pl":
            if w == "nie" and _plain(tokens[i]) and nxt in g.NEGATABLE:
                edits.append(_remove(tokens, i, lang))
            elif w in g.NEGATABLE and prev != "nie" and not split(tokens[i])[0] and (i == 0 or _plain(tokens[i - 1]) or tokens[i - 1][-1:] == ","):
                edits.append(_insert(tokens, i, "nie", lang))
        elif lang == "vi":
            pair = f"{w} {nxt}"
            swaps = g.NEGATION_SWAPS | {v: k for k, v in g.NEGATION_SWAPS.items()}
            if _plain(tokens[i]) and pair in swaps:  # có thể <-> không thể
                word = swaps[pair].split()[0]
                edits.append((i, i + 1, [_cap(word) if tokens[i][:1].isupper() else word]))
            elif w == "không" and _plain(tokens[i]) and i + 1 < len(tokens) and _vi_unit(tokens, i + 1):
                edits.append(_remove(tokens, i, lang))
            elif (i > 0 and _vi_unit(tokens, i) and prev in VI_BEFORE_NEGATION and _plain(tokens[i - 1])
                  and not (w == "có" and nxt == "thể")):
                edits.append(_insert(tokens, i, "không", lang))
        else:
            if w in g.NEGATIONS and _plain(tokens[i]) and i + 1 < len(tokens) and core(tokens[i + 1]).isalpha():
                edits.append(_remove(tokens, i, lang))
            elif w in g.NEGATABLE and prev not in (*g.NEGATIONS, "არც", "ვერც", "ნუ") and split(tokens[i])[0] == "":
                edits.append(_insert(tokens, i, g.NEGATABLE[w], lang))
    return edits


# numbers --------------------------------------------------------------------------------------


def _nearby(n: int) -> list[int]:
    values = [n + 1, n - 1, n + 2, n + 10] + ([n * 2] if 0 < n < 100 else [])
    return sorted({v for v in values if v >= 0 and v != n})


def number_edits(tokens: list[str]) -> list[Edit]:
    edits: list[Edit] = []
    for i, t in enumerate(tokens):
        m = _NUMBER.match(t)
        if not m or (len(m.group(2)) > 1 and m.group(2).startswith("0")):
            continue
        lead, whole, sep, frac, trail = m.groups()
        if trail.count(".") + trail.count(",") > 1:
            continue
        for v in _nearby(int(whole)):
            edits.append((i, i + 1, [f"{lead}{v}{sep + frac if sep else ''}{trail}"]))
    return edits


# word swaps -----------------------------------------------------------------------------------


def shape(word: str, lang: str) -> tuple[bool, str]:
    """Words of one shape may replace each other: same capitalisation, same last three letters
    (Polish and Georgian endings: case, number, part of speech)."""
    return (lang != "ka" and word[:1].isupper(), word[-3:].lower())


def swappable(word: str, lang: str) -> bool:
    """A word worth swapping: letters only, 4 letters or more, not a function word."""
    return word.isalpha() and len(word) >= 4 and word.lower() not in grammar(lang).STOPWORDS


def swap_targets(tokens: list[str], lang: str) -> list[int]:
    """Token positions a swap may replace (never the first word in Latin script: its capital is
    the sentence's)."""
    return [i for i, t in enumerate(tokens) if (i > 0 or lang == "ka") and split(t) and swappable(core(t), lang)]


def by_shape(words: Iterable[str], lang: str) -> dict[tuple[bool, str], list[str]]:
    """Swappable words grouped by shape, each once, in order."""
    out: dict[tuple[bool, str], list[str]] = {}
    for w in dict.fromkeys(words):
        if swappable(w, lang):
            out.setdefault(shape(w, lang), []).append(w)
    return out


def swap_edits(tokens: list[str], pool: Iterable[str] | Mapping[tuple[bool, str], list[str]], lang: str,
               exclude: Set[str] = frozenset()) -> list[Edit]:
    """Each target word replaced by each pool word of its shape (``pool``: words, or words grouped
    by ``by_shape``) absent from the sentence and from ``exclude`` (lower case)."""
    groups = pool if isinstance(pool, Mapping) else by_shape(pool, lang)
    present = {core(t).lower() for t in tokens}
    edits: list[Edit] = []
    for i in swap_targets(tokens, lang):
        lead, word, trail = split(tokens[i])  # type: ignore[misc]
        edits += [(i, i + 1, [f"{lead}{w}{trail}"]) for w in groups.get(shape(word, lang), [])
                  if w.lower() not in present and w.lower() not in exclude]
    return edits


def vi_words(tokens: list[str], known: Set[str] | Mapping[str, float] | None = None) -> list[int]:
    """Positions i where tokens i, i+1 are a known two-syllable Vietnamese word (lower case, no
    punctuation between, neither syllable a function word; ``known`` None: any such pair). With
    ``known`` a mapping of pairs to cohesion scores, of two overlapping pairs only the more cohesive
    counts (``bảng hiện tại``: ``hiện tại``, not ``bảng hiện``)."""
    stop = grammar("vi").STOPWORDS
    pairs: dict[int, str] = {}
    for i in range(len(tokens) - 1):
        a, b = split(tokens[i]), split(tokens[i + 1])
        if not a or not b or a[2] or b[0] or not (a[1].isalpha() and b[1].isalpha()):
            continue
        if a[1].islower() and b[1].islower() and a[1] not in stop and b[1] not in stop:
            pairs[i] = f"{a[1]} {b[1]}"
    if known is None:
        return list(pairs)
    score = known if isinstance(known, Mapping) else dict.fromkeys(known, 1.0)
    ok = {i: score[w] for i, w in pairs.items() if w in score}
    return [i for i, s in ok.items() if ok.get(i - 1, -1.0) <= s and ok.get(i + 1, -1.0) < s]


def vi_swap_edits(tokens: list[str], pool: Iterable[str], known: Set[str] | Mapping[str, float]) -> list[Edit]:
    """Each known two-syllable word of the sentence replaced by each pool word absent from it."""
    present = {f"{core(tokens[i])} {core(tokens[i + 1])}" for i in vi_words(tokens, known)}
    syllables = {core(t).lower() for t in tokens}
    words = [w for w in dict.fromkeys(pool) if w not in present and not set(w.split()) <= syllables]
    edits: list[Edit] = []
    for i in vi_words(tokens, known):
        lead, trail = split(tokens[i])[0], split(tokens[i + 1])[2]  # type: ignore[index]
        for w in words:
            a, b = w.split()
            edits.append((i, i + 2, [lead + a, b + trail]))
    return edits
