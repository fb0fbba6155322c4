"""Merge maths: exactness (Hypothesis), the elementwise pieces, seeded DARE."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakit.lora import merge_math as M

FAST = settings(max_examples=15, deadline=None)


@st.composite
def modules(draw, min_n=1, max_n=4):
    """(parts [(B, A, scaling)], weights) of one random module, float64."""
    out, inp = draw(st.integers(3, 12)), draw(st.integers(3, 12))
    n = draw(st.integers(min_n, max_n))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    parts = []
    for _ in range(n):
        r = draw(st.integers(1, 4))
        s = draw(st.floats(0.1, 4.0))
        parts.append((torch.randn(out, r, generator=g, dtype=torch.float64), torch.randn(r, inp, generator=g, dtype=torch.float64), s))
    weights = draw(st.lists(st.floats(-2, 2).filter(lambda w: abs(w) > 1e-3), min_size=n, max_size=n))
    return parts, weights


def dense_sum(parts, weights):
    return sum(w * s * b @ a for (b, a, s), w in zip(parts, weights))


def rel(x, y):
    return float((x - y).norm() / max(y.norm(), 1e-30))


# exactness -------------------------------------------------------------------------------------


@FAST
@given(modules())
def test_cat_and_task_arithmetic_equal_the_dense_sum(mod):
    parts, weights = mod
    want = dense_sum(parts, weights)
    cat = M.merge_module("cat", "m", parts, weights)
    assert cat.rank == sum(b.shape[1] for b, _, _ in parts)
    assert rel(cat.B @ cat.A, want) <= 1e-5
    full = sum(b.shape[1] for b, _, _ in parts)
    ta = M.merge_module("task-arithmetic", "m", parts, weights, rank=full)
    assert rel(ta.B @ ta.A, want) <= 1e-5 and ta.truncation_error <= 1e-6


@FAST
@given(modules(min_n=2), st.integers(1, 3))
def test_recompression_is_the_best_rank_r_and_reports_its_error(mod, rank):
    parts, weights = mod
    want = dense_sum(parts, weights)
    res = M.merge_module("svd", "m", parts, weights, rank=rank)
    S = torch.linalg.svdvals(want)
    best = float(S[rank:].square().sum().sqrt() / S.square().sum().sqrt())
    assert res.truncation_error == pytest.approx(best, abs=1e-6)
    assert rel(res.B @ res.A, want) == pytest.approx(best, abs=1e-6)


@FAST
@given(modules())
def test_uniform_is_the_product_of_averaged_factors_and_one_input_reproduces_itself(mod):
    parts, weights = mod
    res = M.merge_module("linear", "m", parts, weights)
    B = sum(w * s**0.5 * M.pad_rank(b, res.rank, 1) for (b, _, s), w in zip(parts, weights))
    A = sum(w * s**0.5 * M.pad_rank(a, res.rank, 0) for (_, a, s), w in zip(parts, weights))
    assert rel(res.B @ res.A, B @ A) <= 1e-10
    b, a, s = parts[0]
    for method in ("uniform", "cat", "task-arithmetic"):
        one = M.merge_module(method, "m", [parts[0]], [1.0])
        assert rel(one.B @ one.A, s * b @ a) <= 1e-10


def test_elementwise_pieces():
    t = torch.tensor([[3.0, -1.0], [0.5, -4.0]])
    assert torch.equal(M.trim(t, 0.5), torch.tensor([[3.0, 0.0], [0.0, -4.0]]))
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    big = torch.ones(200, 200)
    d = M.dare(big, 0.25, g1)
    assert torch.equal(d, M.dare(big, 0.25, g2)) and set(d.unique().tolist()) == {0.0, 4.0}
    assert abs(float(d.mean()) - 1) < 0.05
    # TIES: signs elected on the weighted sum, disjoint mean over the agreeing inputs
    stacked = torch.tensor([[[2.0, -1.0]], [[4.0, 3.0]], [[-1.0, 0.0]]])
    assert torch.allclose(M.disjoint_mean(stacked, torch.ones(3)), torch.tensor([[3.0, 3.0]]))


def test_dense_methods_with_density_one_equal_their_linear_counterpart():
    g = torch.Generator().manual_seed(0)
    parts = [(torch.randn(6, 2, generator=g), torch.randn(2, 5, generator=g), 2.0) for _ in range(3)]
    want = dense_sum(parts, [0.5, 1.0, -0.25])
    for method in ("dare-linear", "magnitude-prune"):
        res = M.merge_module(method, "m", parts, [0.5, 1.0, -0.25], rank=5, density=1.0)
        assert rel(res.B @ res.A, want) <= 1e-5 and res.truncation_error < 1e-5
    a = M.merge_module("dare-ties", "m.q", parts, [1, 1, 1], rank=2, density=0.5, seed=3)
    b = M.merge_module("dare-ties", "m.q", parts, [1, 1, 1], rank=2, density=0.5, seed=3)
    c = M.merge_module("dare-ties", "m.q", parts, [1, 1, 1], rank=2, density=0.5, seed=4)
    assert torch.equal(a.B, b.B) and not torch.equal(a.B, c.B) and a.truncation_error > 0


@FAST
@given(st.integers(0, 2**16), st.integers(1, 8), st.sampled_from(["numpy", "torch"]))
def test_gram_svd_equals_the_qr_path_on_well_conditioned_factors(seed, rank, lib):
    import numpy as np

    rng = np.random.default_rng(seed)
    B, A = rng.standard_normal((40, 12)), rng.standard_normal((12, 30))
    if lib == "torch":
        B, A = torch.from_numpy(B), torch.from_numpy(A)
    U, S, Vh = M.gram_svd(B, A, rank)
    U0, S0, Vh0 = M.lowrank_svd(B, A)
    assert U.shape == (40, rank) and Vh.shape == (rank, 30)
    np.testing.assert_allclose(np.asarray(S), np.asarray(S0), rtol=1e-9)
    want = np.asarray(U0[:, :rank] * S0[:rank]) @ np.asarray(Vh0[:rank])  # the best rank-r (Eckart–Young)
    np.testing.assert_allclose(np.asarray(U * S[:rank]) @ np.asarray(Vh), want, atol=1e-9 * float(S0[0]))
    assert M.recompress(B, A, rank)[2] == pytest.approx(M.split(U0, S0, Vh0, rank)[2], abs=1e-12)
    # the column scale (task-arithmetic's wᵢ sᵢ) acts as B · diag(scale), applied to small matrices only
    scale = M.column_scale([4, 8], [0.5, -2.0], B)
    U1, S1, Vh1 = M.gram_svd(B, A, rank, scale)
    U2, S2, Vh2 = M.lowrank_svd(B * scale[None, :], A)
    np.testing.assert_allclose(np.asarray(S1), np.asarray(S2), rtol=1e-9)
    best = np.asarray(U2[:, :rank] * S2[:rank]) @ np.asarray(Vh2[:rank])
    np.testing.assert_allclose(np.asarray(U1 * S1[:rank]) @ np.asarray(Vh1), best, atol=1e-9 * float(S2[0]))


def test_gram_svd_leaves_rank_deficient_or_ill_conditioned_factors_to_qr():
    import numpy as np

    rng = np.random.default_rng(0)
    B, A = rng.standard_normal((40, 6)), rng.standard_normal((6, 30))
    dup = np.concatenate([B, B[:, :1]], 1), np.concatenate([A, A[:1]], 0)  # a repeated factor pair
    zero = np.concatenate([B, np.zeros((40, 1))], 1), np.concatenate([A, np.zeros((1, 30))], 0)  # an absent input
    ill = B * np.logspace(0, -5, 6), A
    for b, a in (dup, zero, ill):
        assert M.gram_svd(b, a) is None
        B2, A2, err = M.recompress(b, a, 6)
        assert np.linalg.norm(B2 @ A2 - b @ a) <= 1e-9 * np.linalg.norm(b @ a) and err < 1e-9
