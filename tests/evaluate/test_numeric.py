"""Numeric answers: extraction edge cases, numeric match, the metric choice, the per-level breakdown."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lorakit.evaluate.metrics import extract_number, numeric_match
from lorakit.evaluate.run import EvalConfig, compare_of, levels_of, results_file, score


@pytest.mark.parametrize(
    ("text", "number"),
    [
        (" 6+3=<<6+3=9>>9. 9*2=<<9*2=18>>18. #### 18", Decimal(18)),  # after ####, not the last step
        ("#### 7 and then 9", Decimal(7)),
        ("5 #### 1 #### 12", Decimal(12)),  # the last ####
        ("The answer is 42.", Decimal(42)),  # no ####: the last number
        ("#### 1,234", Decimal(1234)),  # thousands commas
        ("paid 1,000,000.25 in total", Decimal("1000000.25")),
        ("3, 4", Decimal(4)),  # a list, not a thousands comma
        ("12,34", Decimal(34)),
        ("#### -12", Decimal(-12)),  # negative
        ("it was =-7 degrees", Decimal(-7)),
        ("10-5", Decimal(5)),  # a minus between numbers is subtraction, not a sign
        ("-3.5 apples", Decimal("-3.5")),  # decimals
        ("costs 2.50.", Decimal("2.5")),
        (".5", Decimal("0.5")),
        ("#### ", None),  # no number at all
        ("no number here", None),
        ("", None),
        ("#### none, it was 3", Decimal(3)),  # nothing numeric after ####: the last number
        ("Q3 and x2", None),  # digits glued to letters are not numbers
    ],
)
def test_extract_number(text, number):
    assert extract_number(text) == number


@pytest.mark.parametrize(
    ("prediction", "target", "ok"),
    [
        ("9+9=<<9+9=18>>18. #### 18", " 9+9=<<9+9=18>>18. #### 18", True),
        ("9+9=<<9+9=17>>17. #### 18", " 9+9=<<9+9=18>>18. #### 18", True),  # only the final answer counts
        ("#### 18.0", "18", True),
        ("#### 1,800", "#### 1800", True),
        ("#### 19", "#### 18", False),
        ("no idea", "#### 18", False),
        ("", "no number in the target", False),  # a target without a number never matches
    ],
)
def test_numeric_match(prediction, target, ok):
    assert numeric_match(prediction, target) is ok


@given(st.integers(-10**9, 10**9))
def test_extract_formatted_integer_roundtrip(n):
    assert extract_number(f"so {n:,} in all. #### {n:,}") == n
    assert extract_number(f"{n}") == n


def _records(targets, levels=None, preds=None):
    return [{"prompt": "Q", "completion": t, "prediction": p if preds else t,
             **({"meta": {"level": lv}} if levels else {})}
            for t, lv, p in zip(targets, levels or [None] * len(targets), preds or [None] * len(targets))]


def test_compare_auto_is_numeric_only_for_gsm8k_style_targets():
    assert compare_of(_records([" 1+1=<<1+1=2>>2. #### 2", " #### 5"])) == "numeric"
    assert compare_of(_records([" #### 2", " Belo Kamari"])) == "exact"  # one non-numeric target: exact
    assert compare_of(_records([" 42"])) == "exact"  # a bare number keeps exact match unless asked
    assert compare_of(_records([" 42"]), "numeric") == "numeric"
    assert compare_of(_records([" #### 2"]), "exact") == "exact"


def test_levels_breakdown_only_with_several_levels():
    assert levels_of(_records(["#### 1"] * 3, ["P1", "P0", "P1"])) == ["P1", "P0"]
    assert levels_of(_records(["#### 1"] * 2, ["P0", "P0"])) == []
    assert levels_of(_records(["#### 1"])) == []


def test_score_numeric_with_breakdown_and_results_layout():
    recs = _records(["#### 1", "#### 2", "#### 3", "#### 4"], ["P0", "P0", "P1", "P1"],
                    ["1+0=<<1+0=1>>1. #### 1", "#### 5", "#### 3", "#### 4"])
    results, samples, compares, counts = score({"t": recs})
    assert results["t"]["exact_match,none"] == 0.75 and "n" not in results["t"]
    assert results["t_P0"]["exact_match,none"] == 0.5 and results["t_P1"]["exact_match,none"] == 1.0
    assert compares == {"t": "numeric", "t_P0": "numeric", "t_P1": "numeric"}
    assert samples[0]["prediction"] == "1+0=<<1+0=1>>1. #### 1" and samples[0]["extracted"] == 1  # full solution kept
    assert samples[1]["extracted"] == 5 and samples[1]["correct"] is False
    res = results_file(EvalConfig(predictions="p.jsonl"), results, 0.1, "none", compares, counts)
    assert res["configs"]["t_P1"]["metric_list"][0] == {"metric": "exact_match", "aggregation": "mean",
                                                        "higher_is_better": True, "compare": "numeric"}
    assert res["n-samples"]["t_P0"] == {"original": 2, "effective": 2}


def test_score_exact_has_no_extracted_field():
    results, samples, compares, _ = score({"t": _records([" Belo"], preds=["belo"])})
    assert results["t"]["exact_match,none"] == 1.0 and "extracted" not in samples[0] and compares == {"t": "exact"}


def test_bad_metric_is_a_usage_error():
    from lorakit.errors import UsageError

    with pytest.raises(UsageError, match=r"--metric must be one of auto\|exact\|numeric, not 'fuzzy'"):
        EvalConfig(predictions="p.jsonl", metric="fuzzy").validate()
