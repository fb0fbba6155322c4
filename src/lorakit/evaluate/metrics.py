"""Answer normalisation, exact match and its standard error (lm-evaluation-harness style)."""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Sequence

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, case-folded, punctuation removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def exact_match(prediction: str, target: str) -> bool:
    return normalize(prediction) == normalize(target)


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
