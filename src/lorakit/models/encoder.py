"""A BERT-structured encoder's forward, with its last layer computed only where the output is used.

PLL (``lorakit.rescore.pll``) uses one position per row, MLM pretraining (``lorakit.models.pretrain_bert``)
the masked positions: the last layer then computes keys and values at every position but queries,
attention output and feed-forward only at those positions. Every layer runs with its query/key/
value projections fused into one matrix product. Both are exact; dropout is applied as BertLayer
applies it when the module is in training mode. Any other structure gets None from
``encoder_layers`` and its caller the model's own forward.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import torch

LAYER_PARTS = ("attention.self.query", "attention.self.key", "attention.self.value",
               "attention.self.attention_head_size", "attention.self.dropout", "attention.output", "intermediate",
               "output")
"""What ``encoder_layers`` needs of a BertLayer (RoBERTa, XLM-R and ELECTRA layers have the same names)."""

Layer = tuple[Any, torch.Tensor, torch.Tensor]
"""An encoder layer and its query, key and value projections fused: (layer, weight, bias)."""


def encoder_layers(bert: Any) -> list[Layer] | None:
    """``bert``'s encoder layers when each has BertLayer's parts (an encoder with absolute positions
    and no cross-attention); None for anything else. The fused weights are taken now: call it again
    after the weights change (in training, once per forward; ``torch.cat`` keeps the gradient)."""
    layers = getattr(getattr(bert, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or not layers or not hasattr(bert, "embeddings") \
            or getattr(getattr(bert, "config", None), "is_decoder", True) \
            or getattr(bert.config, "position_embedding_type", "absolute") != "absolute":
        return None
    try:
        parts = [attrgetter(*LAYER_PARTS)(layer) for layer in layers]
    except AttributeError:
        return None
    if any(hasattr(layer, "crossattention") or any(m.bias is None for m in p[:3]) for layer, p in zip(layers, parts)):
        return None
    return [(layer, torch.cat([q.weight, k.weight, v.weight]), torch.cat([q.bias, k.bias, v.bias]))
            for layer, (q, k, v, *_) in zip(layers, parts)]


def layer_forward(layer: Layer, hidden: torch.Tensor, keep: torch.Tensor, at: torch.Tensor | None = None) -> torch.Tensor:
    """A BertLayer's forward over ``hidden`` (rows, len, hidden) with key padding mask ``keep``; with
    ``at`` (rows, k), only at positions ``at[r]`` of each row r (keys and values still from every position)."""
    import torch.nn.functional as F

    module, weight, bias = layer
    sa, rows, n = module.attention.self, len(hidden), len(weight) // 3

    def heads(t: torch.Tensor) -> torch.Tensor:  # (rows, len, n) -> (rows, heads, len, head size)
        return t.view(rows, t.size(1), -1, sa.attention_head_size).transpose(1, 2)

    if at is None:
        x = hidden
        q, k, v = F.linear(hidden, weight, bias).chunk(3, dim=-1)
    else:
        x = hidden.gather(1, at[..., None].expand(-1, -1, hidden.size(-1)))  # (rows, k, hidden)
        q = F.linear(x, weight[:n], bias[:n])
        k, v = F.linear(hidden, weight[n:], bias[n:]).chunk(2, dim=-1)
    context = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=keep,
                                             dropout_p=sa.dropout.p if module.training else 0.0,
                                             scale=sa.attention_head_size ** -0.5)
    context = context.transpose(1, 2).reshape(rows, x.size(1), n)
    attended = module.attention.output(context, x)  # dense, dropout, residual, LayerNorm
    return module.output(module.intermediate(attended), attended)


def encode_at(bert: Any, layers: list[Layer], ids: torch.Tensor, types: torch.Tensor, attn: torch.Tensor,
              at: torch.Tensor) -> torch.Tensor:
    """Final hidden states (rows, k, hidden) at positions ``at`` (rows, k); ``layers`` from ``encoder_layers(bert)``."""
    hidden = bert.embeddings(input_ids=ids, token_type_ids=types)
    keep = attn.bool()[:, None, None, :]
    for layer in layers[:-1]:
        hidden = layer_forward(layer, hidden, keep)
    return layer_forward(layers[-1], hidden, keep, at)


def positions_by_row(flat: torch.Tensor, rows: int, width: int, reserve: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat indices ``row * width + position`` as ``at`` (rows, k) for ``encode_at`` and each index's
    column in it: ``encode_at(...)[flat // width, column]`` are the states at ``flat``, in its order.
    The first ``reserve`` columns of every row (and any row's unused ones) hold position 0."""
    row, pos = flat // width, flat % width
    counts = torch.bincount(row, minlength=rows)
    first = torch.cumsum(counts, 0) - counts  # where each row's indices start in row order
    order = torch.argsort(row, stable=True)
    column = torch.empty_like(row)
    column[order] = torch.arange(len(row), device=row.device) - first[row[order]] + reserve
    k = reserve + (int(counts.max()) if len(row) else 0)
    at = torch.zeros(rows, max(1, k), dtype=torch.long, device=flat.device)
    at[row, column] = pos
    return at, column
