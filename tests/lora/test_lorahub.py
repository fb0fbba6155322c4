"""LoraHub search: the optimiser (seeded, bounded, within budget), the candidate equals merge's
`linear` adapter, the loss is training's loss, and the search improves the few-shot objective."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lorakit.lora import lorahub as H
from lorakit.lora.adapters import open_adapter
from tests.helpers import make_peft_adapter, qa_records


@pytest.fixture(scope="module")
def library(make_tiny_model, tmp_path_factory):
    base = make_tiny_model("llama")
    d = tmp_path_factory.mktemp("hub-lib")
    return base, [make_peft_adapter(base, d / f"a{i}", r=2 + 2 * i, alpha=8, seed=20 + i, std=0.3) for i in range(2)]


def _load(base):
    from lorakit.models.load import load_causal_lm

    return load_causal_lm(base)


def test_es_finds_a_bounded_minimum_deterministically():
    target = [0.8, -1.2, 3.0]  # the last one lies outside the bounds: the optimum clips to 1.5
    calls = []

    def f(w):
        calls.append(list(w))
        return sum((x - t) ** 2 for x, t in zip(w, target))

    x, fx, evals = H.es_minimise(f, 3, budget=200, seed=1)
    assert evals == len(calls) == 200 and calls[0] == [0.0, 0.0, 0.0]
    assert all(abs(v) <= H.BOUND for w in calls for v in w)
    assert x == pytest.approx([0.8, -1.2, 1.5], abs=0.05) and fx == pytest.approx(f(x))
    assert H.es_minimise(f, 3, budget=200, seed=1) == (x, fx, evals)
    assert H.es_minimise(f, 3, budget=200, seed=2)[0] != x
    assert H.es_minimise(f, 3, budget=7, seed=1)[2] == 7


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_candidate_equals_the_merged_linear_adapter(library, make_tiny_model, arch, tmp_path):
    """Hooks with merge's `linear` factors == PEFT with the merged adapter (GPT-2: Conv1D, fan_in_fan_out)."""
    from lorakit.lora.merge import MergeConfig, merge_adapters
    from lorakit.models.load import attach_adapter

    base, paths = library
    if arch == "gpt2":
        base = make_tiny_model("gpt2")
        paths = [make_peft_adapter(base, tmp_path / f"g{i}", r=2 + i, alpha=4, seed=i, std=0.3) for i in range(2)]
    w = [0.7, -1.1]
    model, tok = _load(base)
    combo = H.Combination(model, [open_adapter(p) for p in paths])
    combo.apply(w)
    enc = tok(["Q: Who is the spouse of Tavi Moka? A:", "Q: x A:"], return_tensors="pt", padding=True)
    with torch.inference_mode():
        ours = model(**enc).logits
    combo.remove()
    merge_adapters(MergeConfig(adapters=[Path(p) for p in paths], out=tmp_path / "m", method="linear", weights=w))
    with torch.inference_mode():
        want = attach_adapter(_load(base)[0], tmp_path / "m").eval()(**enc).logits
        plain = model(**enc).logits  # hooks removed: the base again
    assert torch.allclose(ours, want, atol=1e-5), float((ours - want).abs().max())
    assert not torch.allclose(ours, plain, atol=1e-3)


def test_shot_loss_is_the_training_loss(library):
    base, _ = library
    model, tok = _load(base)
    shots = qa_records(5, seed=1)
    batches = H.shot_batches(tok, shots, batch_size=8)
    assert len(batches) == 1
    with torch.inference_mode():
        want = float(model(**batches[0]).loss)
    assert H.shot_loss(model, batches) == pytest.approx(want, rel=1e-5)
    assert H.shot_loss(model, H.shot_batches(tok, shots, batch_size=2)) == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("method", ["ngopt", "es"])
def test_search_improves_the_objective_and_is_deterministic(library, method):
    base, paths = library
    shots = qa_records(6, seed=2)
    results = []
    for _ in range(2):
        model, tok = _load(base)
        adapters = [open_adapter(p) for p in paths]
        start = H.shot_loss(model, H.shot_batches(tok, shots, 8))  # w = 0: the base model
        events = []
        combo, found = H.search(model, tok, adapters, shots, steps=9, seed=3, progress=events.append, method=method)
        combo.remove()
        results.append(found)
    found = results[0]
    assert results[0] == results[1]
    assert found["evaluations"] == 9 and len(events) == 9 and events[-1].step == 9 and found["search"] == method
    assert found["objective"] <= round(start, 6) + 1e-6
    assert found["objective"] == pytest.approx(found["loss"] + H.L1 * sum(map(abs, found["weights"])), abs=1e-5)
    assert all(abs(w) <= H.BOUND for w in found["weights"])


def test_ngopt_finds_a_bounded_minimum_and_keeps_the_best_point():
    target = [0.8, -1.2, 3.0]
    calls = []

    def f(w):
        calls.append(list(w))
        return sum((x - t) ** 2 for x, t in zip(w, target))

    x, fx, evals = H.ngopt_minimise(f, 3, budget=100, seed=0)
    assert evals == len(calls) == 100 and calls[0] == [0.0, 0.0, 0.0]
    assert all(abs(v) <= H.BOUND + 1e-9 for w in calls for v in w)
    assert fx == min(f(w) for w in calls[:100]) and fx == pytest.approx(f(x))
    assert fx < 2.25 + 0.1  # the bounded optimum (0.8, -1.2, 1.5) scores 1.5² = 2.25
    assert H.ngopt_minimise(f, 3, budget=100, seed=0)[:2] == (x, fx)


def test_ngopt_without_nevergrad_names_the_extra(monkeypatch):
    import sys

    from lorakit.errors import IncompatibleError

    monkeypatch.setitem(sys.modules, "nevergrad", None)
    with pytest.raises(IncompatibleError, match=r"pip install 'lorakit\[lorahub\]' \(or --lorahub-search es\)"):
        H.ngopt_minimise(lambda w: 0.0, 2, budget=3)


def test_ngopt_continues_with_es_where_nevergrad_fails():
    """nevergrad 1.0's meta-model fails under NumPy 2 at large budgets in few dimensions (2-D, 400)."""
    calls = []

    def f(w):
        calls.append(list(w))
        return sum((x - 0.3) ** 2 for x in w)

    x, fx, evals = H.ngopt_minimise(f, 2, budget=400, seed=0)
    assert evals == len(calls) <= 400 and fx == min(f(w) for w in calls[:evals])
    assert x == pytest.approx([0.3, 0.3], abs=0.05)

    def boom(w):
        raise KeyError("from the objective")

    with pytest.raises(KeyError):
        H.ngopt_minimise(boom, 2, budget=10)
