"""inspect: factor-space norms, spectra, principal angles and cross-terms equal their dense forms."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakit.lora import diagnostics as I
from lorakit.lora.adapters import open_adapter
from tests.helpers import make_peft_adapter


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**16), st.integers(1, 5), st.integers(2, 4))
def test_factor_space_figures_equal_dense(seed, r, n):
    g = torch.Generator().manual_seed(seed)
    parts = [(torch.randn(9, r, generator=g, dtype=torch.float64), torch.randn(r, 7, generator=g, dtype=torch.float64)) for _ in range(n)]
    b, a = parts[0]
    assert I.frobenius(b, a) == pytest.approx(float((b @ a).norm()), rel=1e-9)
    merged = sum(x for x, _ in parts) / n @ (sum(y for _, y in parts) / n)
    diagonal = sum(x @ y for x, y in parts) / n**2
    cross, total = I.cross_terms(parts)
    assert cross == pytest.approx(float((merged - diagonal).norm()), rel=1e-8)
    assert total == pytest.approx(float(merged.norm()), rel=1e-9)


def test_spectrum_measures_and_angles():
    S = torch.tensor([3.0, 0.0, 0.0])
    assert I.effective_rank(S) == pytest.approx(1.0) and I.energy_rank(S) == 1
    assert I.effective_rank(torch.ones(4)) == pytest.approx(4.0) and I.energy_rank(torch.ones(4)) == 4
    q = torch.linalg.qr(torch.randn(20, 6, dtype=torch.float64)).Q
    same = I.principal_angles(q[:, :3], q[:, :3])
    orth = I.principal_angles(q[:, :3], q[:, 3:])
    assert same["overlap"] == pytest.approx(1.0) and same["min_angle_deg"] == pytest.approx(0.0, abs=1e-4)
    assert orth["overlap"] == pytest.approx(0.0, abs=1e-12) and orth["min_angle_deg"] == pytest.approx(90.0)
    assert orth["random"] == pytest.approx(3 / 20)


def test_inspect_adapters_against_peft_delta_weights(make_tiny_model, tmp_path):
    base = make_tiny_model("gpt2")
    a = make_peft_adapter(base, tmp_path / "a", r=4, alpha=8, seed=1)
    b = make_peft_adapter(base, tmp_path / "b", r=2, alpha=2, seed=2, use_rslora=True, targets=["c_attn"])
    report = I.inspect_adapters(I.InspectConfig([a, b], top=3))
    ad = open_adapter(a)
    name = "transformer.h.0.attn.c_attn"
    m = ad.modules[name]
    B, A = ad.factors(name, torch.float64)
    dense = m.scaling * B @ A
    S = torch.linalg.svdvals(dense)
    got = report["adapters"][0]["modules"][name]
    assert got["norm"] == pytest.approx(float(dense.norm()), rel=1e-9) and got["r"] == 4
    assert got["singular_values"] == pytest.approx(S[:3].tolist(), rel=1e-8)
    pair = report["pairs"][0]
    assert set(pair["modules"]) == {name, "transformer.h.1.attn.c_attn"}  # shared modules only
    assert 0 <= pair["mean_column_overlap"] <= 1 and pair["mean_row_overlap"] is not None
    assert report["uniform"]["modules"]["transformer.h.0.mlp.c_fc"]["share"] == pytest.approx(0.0, abs=1e-12)
    assert 0 < report["uniform"]["cross_share"] < 1
    assert not math.isnan(report["adapters"][1]["mean_effective_rank"])
