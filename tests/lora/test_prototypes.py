"""Arrow prototypes: the top right singular vector of the product, cached beside the adapter (or in a
library folder) and reused, recomputed when the weights change."""

from __future__ import annotations

import pytest
import torch

from lorakit.lora import prototypes as P
from lorakit.lora.adapters import open_adapter
from tests.helpers import make_peft_adapter


@pytest.fixture(scope="module")
def library(make_tiny_model, tmp_path_factory):
    base = make_tiny_model("llama")
    d = tmp_path_factory.mktemp("proto-lib")
    return base, [make_peft_adapter(base, d / f"a{i}", r=4, alpha=8, seed=10 + i, std=0.3) for i in range(3)]


# maths ------------------------------------------------------------------------------------------


def test_prototype_is_the_top_right_singular_vector_of_the_product():
    g = torch.Generator().manual_seed(0)
    for r, out, inp in ((1, 5, 7), (4, 9, 6), (3, 3, 12)):
        B, A = torch.randn(out, r, generator=g), torch.randn(r, inp, generator=g)
        v = P.arrow_prototype(B, A)
        want = torch.linalg.svd((B @ A).double()).Vh[0].float()
        assert v.shape == (inp,) and abs(float(v.norm()) - 1) < 1e-5
        assert torch.allclose(v, want * torch.sign(v @ want), atol=1e-5)
        assert torch.equal(P.arrow_prototype(B, A), v)  # deterministic, sign fixed
        assert torch.allclose(P.arrow_prototype(2.5 * B, A), v, atol=1e-6)  # scaling does not move it


# cache ------------------------------------------------------------------------------------------


def test_prototypes_are_cached_beside_the_adapter_and_reused(library, tmp_path, monkeypatch):
    _, paths = library
    a = open_adapter(paths[2])
    first = P.load_prototypes(a)
    assert (paths[2] / P.PROTOTYPES).is_file()
    monkeypatch.setattr(P, "arrow_prototype", lambda *_: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = P.load_prototypes(a)
    assert all(torch.equal(first[k], again[k]) for k in first)
    lib = tmp_path / "lib"
    with pytest.raises(AssertionError, match="recomputed"):  # another cache folder: computed there
        P.load_prototypes(a, str(lib))
    monkeypatch.undo()
    in_lib = P.load_prototypes(a, str(lib))
    assert len(list(lib.glob("*.safetensors"))) == 1 and all(torch.equal(first[k], in_lib[k]) for k in first)


def test_stale_cache_is_recomputed(make_tiny_model, tmp_path):
    base = make_tiny_model("llama")
    p = make_peft_adapter(base, tmp_path / "a", seed=3)
    P.load_prototypes(open_adapter(p))
    other = make_peft_adapter(base, tmp_path / "b", seed=4)
    (p / "adapter_model.safetensors").write_bytes((other / "adapter_model.safetensors").read_bytes())
    got = P.load_prototypes(open_adapter(p))
    want = P.load_prototypes(open_adapter(other))
    assert all(torch.equal(got[k], want[k]) for k in want)
