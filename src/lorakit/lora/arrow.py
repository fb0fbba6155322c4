"""Arrow routing (Ostapenko et al. 2024): per token and adapted layer, the top-k adapters by |⟨x, vₑ⟩|.

vₑ is adapter e's prototype on the layer (``lorakit.lora.prototypes``); the top-k scores get a
softmax over score / temperature, the others weight 0, and the layer adds Σₑ cₑ sₑ Bₑ Aₑ x
(``lorakit.lora.hooks``). Same maths as PEFT's ``ArrowLoraLinearLayer`` (``use_gks=False``),
which the tests use as the oracle; lorakit's own hooks because PEFT's ``create_arrow_model``
needs one rank and one set of target modules for all adapters, recomputes its prototypes by 15
power iterations on every load (no cache), and does not expose the routing decisions, which
``Router`` counts per prompt for each prediction's ``routing`` record.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lorakit.lora.adapters import Adapter
from lorakit.lora.hooks import Layer, LoraHooks

if TYPE_CHECKING:
    import torch


def arrow_coefficients(x: "torch.Tensor", prototypes: "torch.Tensor", top_k: int, temperature: float) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Per-token mixing weights (t, E) and the chosen indices (t, k): softmax of the top-k |⟨x, v⟩| / T."""
    import torch

    sim = (x @ prototypes.T).abs()
    top, idx = torch.topk(sim, top_k, dim=-1)
    coeff = torch.zeros_like(sim).scatter_(-1, idx, torch.softmax(top / temperature, dim=-1))
    return coeff, idx


def layer_of(name: str) -> str:
    """The transformer layer number in a module name (``model.layers.3.mlp.up_proj`` -> ``3``), else the name."""
    m = re.search(r"\.(\d+)\.", name)
    return m.group(1) if m else name


class Router:
    """Arrow hooks on the adapted layers of ``model`` and per-prompt routing statistics (``by_prompt``).

    ``by_prompt[prompt ids]``: ``weights`` = each adapter's summed mixing weight over the prompt's
    real tokens (generated ones included, until the row feeds a ``stop_ids`` token) and modules;
    ``layers`` = per transformer layer, how often each adapter was among the top-k.
    """

    def __init__(self, model: Any, adapters: list[Adapter], prototypes: list[dict[str, "torch.Tensor"]], top_k: int = 1,
                 temperature: float = 1.0, stop_ids: Sequence[int] = ()) -> None:
        self.top_k, self.temperature, self.n = top_k, temperature, len(adapters)
        self.stop_ids = set(stop_ids)
        self.hooks = LoraHooks(model, adapters, self._coefficients, prototypes=prototypes)
        self.handle = model.register_forward_pre_hook(self._pre, with_kwargs=True)
        self._rows: list[tuple[int, ...]] = []
        self._mask: "torch.Tensor | None" = None
        self._live: "torch.Tensor | None" = None
        self._w: "torch.Tensor | None" = None
        self._layers: dict[str, "torch.Tensor"] = {}
        self.by_prompt: dict[tuple[int, ...], dict[str, Any]] = {}

    def remove(self) -> None:
        self._flush()
        self.hooks.remove()
        self.handle.remove()

    def _coefficients(self, layer: Layer, x: "torch.Tensor") -> "torch.Tensor":
        flat = x.reshape(-1, x.shape[-1]).to(layer.A.dtype)
        coeff, idx = arrow_coefficients(flat, layer.prototypes, min(self.top_k, len(layer.experts)), self.temperature)
        self._record(layer, x.shape[:-1], coeff, idx)
        return coeff

    # batch bookkeeping: which rows are real tokens of which prompt
    def _pre(self, module: Any, args: tuple, kwargs: dict) -> None:
        import torch

        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            return
        mask = kwargs.get("attention_mask")
        mask = torch.ones_like(ids) if mask is None else mask
        if ids.shape[1] == mask.shape[1]:  # a new batch (no cache yet)
            self._flush()
            self._rows = [tuple(r[m.bool()].tolist()) for r, m in zip(ids, mask)]
            self._live = torch.ones(ids.shape[0], dtype=torch.bool, device=ids.device)
        elif self._live is not None and self.stop_ids:  # decoding: a row that fed EOS/pad is finished
            fed = ids[:, -1]
            self._live &= ~torch.isin(fed, torch.tensor(sorted(self.stop_ids), device=ids.device))
        self._mask = mask[:, -ids.shape[1]:].bool() & self._live[:, None]

    def _flush(self) -> None:
        if self._w is not None:
            w, layers = self._w.tolist(), {k: v.tolist() for k, v in self._layers.items()}
            for row, key in enumerate(self._rows):
                self.by_prompt[key] = {"weights": w[row], "layers": {k: v[row] for k, v in layers.items()}}
        self._rows, self._w, self._layers = [], None, {}

    def _record(self, layer: Layer, shape: Any, coeff: "torch.Tensor", idx: "torch.Tensor") -> None:
        """Add this call's real tokens' weights and top-k choices to each row's totals."""
        import torch

        if self._mask is None or tuple(self._mask.shape) != tuple(shape):
            return
        b, mask = shape[0], self._mask.reshape(-1, 1).to(coeff.dtype)
        chosen = torch.zeros_like(coeff).scatter_(1, idx, 1.0) * mask
        if self._w is None:
            self._w = coeff.new_zeros(b, self.n)
        totals = self._layers.setdefault(layer_of(layer.name), coeff.new_zeros(b, self.n))
        self._w[:, layer.experts] += (coeff * mask).reshape(b, -1, coeff.shape[1]).sum(1)
        totals[:, layer.experts] += chosen.reshape(b, -1, coeff.shape[1]).sum(1)


def routing_shares(stats: dict[str, Any]) -> dict[str, Any]:
    """A prompt's ``by_prompt`` totals as shares (4 decimals): ``weights`` and, per layer in order, ``layers``."""
    def shares(v: list[float]) -> list[float]:
        total = sum(v) or 1.0
        return [round(x / total, 4) for x in v]

    layers = sorted(stats["layers"], key=lambda s: (len(s), s))
    return {"weights": shares(stats["weights"]), "layers": {k: shares(stats["layers"][k]) for k in layers}}
