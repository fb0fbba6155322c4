"""Answer normalisation, exact and numeric match, and the standard error (lm-evaluation-harness style)."""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Sequence
from decimal import Decimal

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")
_SPACE = re.compile(r"\s+")
# A number: optional sign (not after a letter or digit: "10-5" is 10 and 5), thousands commas, decimals.
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|(?<![\w.])-?\.\d+")
FINAL = "####"


def normalize(text: str) -> str:
    """NFKC, case-folded, punctuation removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def exact_match(prediction: str, target: str) -> bool:
    return normalize(prediction) == normalize(target)


def final_match(prediction: str, answer: str) -> bool:
    """The prediction's last words are the answer's (normalised): a spoken chain scored on its final answer."""
    want, words = normalize(answer).split(), normalize(prediction).split()
    return bool(want) and words[-len(want):] == want


def first_match(prediction: str, entity: str) -> bool:
    """The prediction's first words are ``entity``'s (normalised): the bridge entity named first."""
    want = normalize(entity).split()
    return bool(want) and normalize(prediction).split()[: len(want)] == want


def extract_number(text: str) -> Decimal | None:
    """The answer of a solution: the first number after the last ``####``, else the last number.

    "1,234" is 1234, "-3" is −3 ("10-5" is 10 and 5), "2.50" equals 2.5; None when no number.
    """
    _, final, tail = text.rpartition(FINAL)
    found = _NUMBER.search(tail) if final else None
    if found is None:
        numbers = _NUMBER.findall(text)
        if not numbers:
            return None
        return Decimal(numbers[-1].replace(",", ""))
    return Decimal(found.group().replace(",", ""))


def numeric_match(prediction: str, target: str) -> bool:
    """Both hold a number (extract_number) and the numbers are equal."""
    t = extract_number(target)
    return t is not None and extract_number(prediction) == t


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def mean_stderr(xs: Sequence[float]) -> float:
    """Standard error of the mean with the sample standard deviation (lm-eval's ``mean_stderr``)."""
    n = len(xs)
    if n < 2:
        return float("nan")
    m = mean(xs)
    var = sum((x - m) ** 2 for x in xs) / (n - 1)
    return math.sqrt(var / n)
