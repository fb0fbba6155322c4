"""Adapters on a base model without PEFT: one forward hook per adapted linear layer.

For the library's adapters 1…N, the hook on a layer adds a mixture of their LoRA outputs::

    y = W x + Σₑ cₑ · sₑ Bₑ (Aₑ x)

with the concatenated factors [A₁; …] and [s₁B₁ | …] (adapters of different ranks mix in two
matmuls) and coefficients c from a ``Coefficients`` function of the layer and its input: per
token (Arrow), the same for every token (``Fixed``: output-average, LoraHub), or None, which adds
nothing and only reads the input (centroid selection). LoraHub swaps in one pair of merged
factors per candidate (``set_factors``). GPT-2 ``Conv1D`` layers take the same hook (the
factors are in the ``nn.Linear`` layout either way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lorakit.errors import IncompatibleError
from lorakit.lora.adapters import Adapter, module_union

if TYPE_CHECKING:
    import torch


@dataclass
class Layer:
    """One adapted layer of the base model and the library's adapters on it."""

    name: str
    experts: list[int]
    """Indices into the library of the adapters present on this layer."""
    A: "torch.Tensor | None" = None
    """(Σr, in) concatenated A factors (None: the hooks only read, or LoraHub has not set any yet)."""
    B: "torch.Tensor | None" = None
    """(out, Σr) concatenated B factors, each scaled by its sₑ."""
    ranks: "torch.Tensor | None" = None
    """(E,) rank of each factor pair, to spread each coefficient over its rank."""
    prototypes: "torch.Tensor | None" = None
    """(E_here, in) the experts' Arrow prototypes, when given."""


Coefficients = Callable[[Layer, "torch.Tensor"], "torch.Tensor | None"]
"""``(layer, x) -> c``: the layer's input x (…, in) gives c, (tokens, E) per token or (E,) for
every token, over the layer's factor pairs; None adds nothing."""


class Fixed:
    """The same coefficient for every factor pair and token (output-average: 1/N; LoraHub: 1)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, layer: Layer, x: "torch.Tensor") -> "torch.Tensor":
        return layer.A.new_full(tuple(layer.ranks.shape), self.value)


class LoraHooks:
    """A hook on every layer the ``adapters`` adapt, adding Σₑ cₑ sₑ Bₑ Aₑ x with ``coefficients``.

    ``factors=False`` reads no factors (set them with ``set_factors``, or only read inputs);
    ``prototypes`` (per adapter, module -> vector) are stacked per layer in ``prototype_dtype``
    (default: the model's).
    """

    def __init__(self, model: Any, adapters: list[Adapter], coefficients: Coefficients, *, factors: bool = True,
                 prototypes: list[dict[str, "torch.Tensor"]] | None = None,
                 prototype_dtype: "torch.dtype | None" = None) -> None:
        import torch

        self.coefficients = coefficients
        self.weight = next(model.parameters())
        self.layers: dict[str, Layer] = {}
        self.handles: list[Any] = []
        for name in module_union(adapters):
            target = target_layer(model, name, adapters)
            layer = Layer(name, [i for i, a in enumerate(adapters) if name in a.modules])
            if factors:
                pairs = [adapters[i].factors(name) for i in layer.experts]
                scales = [adapters[i].modules[name].scaling for i in layer.experts]
                layer.A = torch.cat([a for _, a in pairs]).to(self.weight)
                layer.B = torch.cat([b * s for (b, _), s in zip(pairs, scales)], dim=1).to(self.weight)
                layer.ranks = torch.tensor([a.shape[0] for _, a in pairs], device=self.weight.device)
            if prototypes:
                layer.prototypes = torch.stack([prototypes[i][name] for i in layer.experts]).to(
                    device=self.weight.device, dtype=prototype_dtype or self.weight.dtype)
            self.layers[name] = layer
            self.handles.append(target.register_forward_hook(self._hook(layer)))

    def set_factors(self, name: str, B: "torch.Tensor", A: "torch.Tensor") -> None:
        """One factor pair (B, A) on layer ``name`` in place of the library's (LoraHub's candidate)."""
        import torch

        layer = self.layers[name]
        layer.B, layer.A = B.to(self.weight.device, self.weight.dtype), A.to(self.weight.device, self.weight.dtype)
        layer.ranks = torch.tensor([A.shape[0]], device=self.weight.device)

    def _hook(self, layer: Layer) -> Any:
        def hook(module: Any, args: tuple, output: "torch.Tensor") -> "torch.Tensor | None":
            x = args[0]
            coeff = self.coefficients(layer, x)
            if coeff is None:
                return None
            flat = x.reshape(-1, x.shape[-1]).to(layer.A.dtype)
            z = (flat @ layer.A.T) * coeff.repeat_interleave(layer.ranks, dim=-1)
            delta = (z @ layer.B.T).reshape(*x.shape[:-1], -1)
            return output + delta.to(output.dtype)

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def check_fits(model: Any, adapters: list[Adapter]) -> None:
    """Every adapted module is a linear layer of the base model with the adapter's shape."""
    for name in module_union(adapters):
        target_layer(model, name, adapters)


def target_layer(model: Any, name: str, adapters: list[Adapter]) -> Any:
    """The base layer an adapter module names, checked to be a linear layer of matching shape."""
    owner = next(a for a in adapters if name in a.modules)
    lm = owner.modules[name]
    if lm.kind != "linear":
        raise IncompatibleError(f"{owner.path}: {name} is an embedding LoRA; route mixes linear-layer LoRAs only")
    try:
        target = model.get_submodule(name)
    except AttributeError:
        raise IncompatibleError(f"{owner.path}: {name} is not a module of this base model (adapter of another model)") from None
    w = getattr(target, "weight", None)
    if w is None or w.dim() != 2:
        raise IncompatibleError(f"{owner.path}: {name} is a {type(target).__name__}, not a linear layer")
    shape = tuple(w.shape) if type(target).__name__ != "Conv1D" else tuple(w.shape[::-1])
    if shape != (lm.out_features, lm.in_features):
        raise IncompatibleError(f"{owner.path}: {name} is {lm.out_features}x{lm.in_features} in the adapter but "
                                f"{shape[0]}x{shape[1]} in the base model (adapter of another model)")
    return target
