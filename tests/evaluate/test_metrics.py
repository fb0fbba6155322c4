import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lorakit.evaluate.metrics import exact_match, mean_stderr, normalize


@pytest.mark.parametrize(
    ("pred", "target", "ok"),
    [
        ("Tavi Monu", " Tavi Monu", True),
        ("tavi  monu.", "Tavi Monu", True),
        ("Tavi", "Tavi Monu", False),
        ("Tavi Monu lives", "Tavi Monu", False),
        ("", "", True),
        ("Kraków", "KRAKÓW", True),
    ],
)
def test_exact_match(pred, target, ok):
    assert exact_match(pred, target) is ok


@given(st.text())
def test_normalize_is_idempotent(s):
    assert normalize(normalize(s)) == normalize(s)


def test_mean_stderr_matches_sample_formula():
    xs = [1.0, 0.0, 1.0, 1.0]
    m = 0.75
    expected = math.sqrt(sum((x - m) ** 2 for x in xs) / 3 / 4)
    assert mean_stderr(xs) == pytest.approx(expected)
    assert math.isnan(mean_stderr([1.0]))
