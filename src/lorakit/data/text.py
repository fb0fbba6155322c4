"""Real text in Polish, Vietnamese or Georgian: reading a user's file, checking its script,
paragraphs (one a line) and sentences.

``read_text`` refuses what is not text (missing, empty, NUL bytes, not UTF-8) with ``InputError``;
``script_problem`` says why a text is not in the language's script (Georgian letters for ka;
Latin letters for pl and vi, with enough words carrying the language's own letters:
``ąćęłńóśźż`` for Polish, the Vietnamese vowels and tone marks for Vietnamese).
``sentences`` splits a paragraph after ``. ! ? …`` followed by a space, except after an
abbreviation (``np.``, ``m.in.``, ``TP.``, ``მაგ.``), an initial (``J.``) or a list number (``3.``);
a full stop inside a number (``3.5``) or a name (``lorakit.json``) is never followed by a space.
In Polish and Vietnamese the next sentence must not start with a lower-case letter; Georgian
(Mkhedruli) has no case.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from pathlib import Path

from lorakit.data.lang import grammar
from lorakit.errors import InputError
from lorakit.io import STDIO

SCRIPTS = {"ka": "Georgian", "pl": "Latin", "vi": "Latin"}
LANG_NAMES = {"ka": "Georgian", "pl": "Polish", "vi": "Vietnamese"}
MIN_SCRIPT = 0.6
"""Share of a text's letters that must be in the language's script."""
MIN_MARKED = {"pl": 0.04, "vi": 0.2}
"""Share of a Latin-script text's words that must carry letters of the language the other one
lacks (``ąćęłńśźż`` Polish; ``ăâđêơư`` and the tone marks but ``ó`` Vietnamese): typical Polish
0.1–0.2, Vietnamese 0.5–0.8, English 0."""
MAX_MARKED_OTHER = 0.1
"""Polish text: at most this share of words with Vietnamese letters."""
SENTENCE_SCRIPT = 0.8
"""Share of a sentence's letters in the language's script for it to count as usable."""
_NAMED = {n.upper(): n for n in ("Latin", "Cyrillic", "Greek", "Arabic", "Hebrew", "Armenian", "Thai", "Devanagari",
                                  "Hangul", "Hiragana", "Katakana")} | {"CJK": "CJK"}
_END = re.compile(r"[.!?…]+[\"'”»)\]]*\s+")


@functools.lru_cache(maxsize=None)
def script_of(ch: str) -> str:
    """``Georgian``, ``Latin``, ``Cyrillic``, ``Greek``, … (the first word of the character's Unicode
    name, for the scripts in ``_NAMED``), else ``other``."""
    o = ord(ch)
    if 0x10A0 <= o <= 0x10FF or 0x1C90 <= o <= 0x1CBF or 0x2D00 <= o <= 0x2D2F:
        return "Georgian"
    first = unicodedata.name(ch, "other").split()[0]
    return _NAMED.get(first, "other")


def letter_scripts(text: str) -> dict[str, int]:
    """Letters of ``text`` counted by script."""
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            s = script_of(ch)
            counts[s] = counts.get(s, 0) + 1
    return counts


def script_share(text: str, lang: str) -> float:
    counts = letter_scripts(text)
    total = sum(counts.values())
    return counts.get(SCRIPTS[lang], 0) / total if total else 0.0


def marked_share(words: list[str], letters: str) -> float:
    """Share of ``words`` holding at least one of ``letters`` (case-insensitive)."""
    marks = set(letters)
    return sum(any(c in marks for c in w.lower()) for w in words) / len(words) if words else 0.0


def script_problem(text: str, lang: str) -> str | None:
    """Why ``text`` is not in ``lang``'s script and language (None when it is)."""
    counts = letter_scripts(text)
    total = sum(counts.values())
    if not total:
        return "no letters"
    main, n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    want = SCRIPTS[lang]
    if counts.get(want, 0) / total < MIN_SCRIPT:
        return (f"not {LANG_NAMES[lang]}: {counts.get(want, 0) / total:.0%} of its letters are {want}, "
                f"{n / total:.0%} {main}")
    if lang in MIN_MARKED:
        words = [w for w in text.split() if any(c.isalpha() for c in w)]
        own = marked_share(words, _only_in(lang))
        other = marked_share(words, _only_in("vi" if lang == "pl" else "pl"))
        if own < MIN_MARKED[lang]:
            return (f"not {LANG_NAMES[lang]}: {own:.0%} of its words have {LANG_NAMES[lang]} letters "
                    f"({_only_in(lang)[:8]}…), {MIN_MARKED[lang]:.0%} needed")
        if lang == "pl" and other > MAX_MARKED_OTHER:
            return f"not Polish: {other:.0%} of its words have Vietnamese letters ({_only_in('vi')[:8]}…)"
    return None


def _only_in(lang: str) -> str:
    """Letters of ``lang`` that the other Latin-script language lacks (Polish ó is Vietnamese too)."""
    other = grammar("vi" if lang == "pl" else "pl").LETTERS
    return "".join(c for c in grammar(lang).LETTERS if c not in other)


def read_text(path: str | Path) -> str:
    """The file's text (``-``: stdin), NFC-normalised; ``InputError`` naming the file for a missing,
    empty or binary file (NUL bytes, not UTF-8)."""
    name = "<stdin>" if str(path) == STDIO else str(path)
    if str(path) == STDIO:
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
    else:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{name}: no such file")
        data = p.read_bytes()
    if b"\x00" in data:
        raise InputError(f"{name}: binary file (NUL bytes), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    text = unicodedata.normalize("NFC", text.removeprefix("\ufeff"))
    if not text.strip():
        raise InputError(f"{name}: empty (no text)")
    return text


def paragraphs(text: str) -> list[str]:
    """Non-blank lines, spaces collapsed."""
    return [p for p in (" ".join(line.split()) for line in text.splitlines()) if p]


def _no_break(before: str, lang: str) -> bool:
    """True when the text of a sentence so far, ending at a full stop, does not end there: after an
    abbreviation, an initial, or a list number that is all the sentence holds yet (``3.``)."""
    token = before.rsplit(" ", 1)[-1].lstrip("([{\"'„“«")
    core = token.rstrip(".")
    if token.lower() in grammar(lang).ABBREVIATIONS:
        return True
    if len(core) == 1 and core.isalpha():  # an initial
        return True
    return core.isdigit() and before.strip() == token


def sentences(paragraph: str, lang: str) -> list[str]:
    """The paragraph split into sentences (see the module docstring)."""
    out, start = [], 0
    for m in _END.finditer(paragraph):
        nxt = paragraph[m.end():m.end() + 1]
        if not nxt or (lang != "ka" and nxt.islower()):
            continue
        if m.group().startswith(".") and len(m.group().strip()) == 1 and _no_break(paragraph[start:m.start() + 1], lang):
            continue
        out.append(paragraph[start:m.end()].strip())
        start = m.end()
    tail = paragraph[start:].strip()
    if tail:
        out.append(tail)
    return out
