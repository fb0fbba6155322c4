"""Arrow prototypes: each adapted module's top right singular vector of ΔW = s B A, and their cache.

An adapter's prototype on a module is the direction of input it responds to most (Ostapenko et
al. 2024). It is computed from the factors with merge's QR + small SVD (``lowrank_svd``), never
the dense ΔW, and cached as safetensors — ``arrow_prototypes.safetensors`` beside each adapter,
or ``<library>/<sha256 of the weights>.safetensors`` — keyed by the weights' sha256 and reused.
Arrow routing (``lorakit.lora.arrow``) and centroid selection (``lorakit.lora.per_example``) read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lorakit.lora.adapters import WEIGHTS, Adapter

if TYPE_CHECKING:
    import torch

PROTOTYPES = "arrow_prototypes.safetensors"
"""The cache file's name beside an adapter."""


def arrow_prototype(B: "torch.Tensor", A: "torch.Tensor") -> "torch.Tensor":
    """Top right singular vector of B A (in,) from the factors (``lowrank_svd`` in float64).

    Sign fixed so the largest-magnitude entry is positive (routing uses |⟨x, v⟩| anyway).
    """
    from lorakit.lora.merge_math import lowrank_svd

    v = lowrank_svd(B.double(), A.double())[2][0]
    v = v * v[v.abs().argmax()].sign()
    return v.float()


def cache_path(adapter: Adapter, library: str | None, digest: str) -> Path:
    """Where an adapter's prototypes are cached: in ``library`` by weights digest, else beside it."""
    return Path(library) / f"{digest[:32]}.safetensors" if library else adapter.path / PROTOTYPES


def load_prototypes(adapter: Adapter, library: str | None = None) -> dict[str, "torch.Tensor"]:
    """Each linear module's Arrow prototype, read from the cache when it matches the weights, else computed and cached."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import save_file

    from lorakit.io import atomic_file, sha256_path

    digest = sha256_path(adapter.path / WEIGHTS)
    path = cache_path(adapter, library, digest)
    if path.is_file():
        try:
            with safe_open(str(path), framework="pt") as fh:
                if (fh.metadata() or {}).get("weights_sha256") == digest and set(fh.keys()) == set(adapter.modules):
                    return {k: fh.get_tensor(k) for k in adapter.modules}
        except (SafetensorError, OSError):
            pass  # a stale or broken cache is recomputed
    protos = {name: arrow_prototype(*adapter.factors(name)) for name in adapter.modules}
    try:
        with atomic_file(path, force=True) as tmp:
            save_file(protos, str(tmp), metadata={"weights_sha256": digest, "format": "pt"})
    except OSError:  # a read-only adapter folder: use the prototypes without caching them
        pass
    return protos
