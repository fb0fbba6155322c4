"""Tiny causal-LM presets and the builder that turns one into a ``LlamaConfig``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from lorakit.errors import UsageError



@dataclass(frozen=True)
class LmShape:
    """The shape of a Llama-style causal LM."""

    hidden: int
    """Hidden size (embedding width)."""
    layers: int
    """Number of transformer blocks."""
    heads: int
    """Attention heads (hidden must be a multiple)."""
    intermediate: int
    """MLP width."""
    max_positions: int = 256
    """Longest sequence (RoPE positions) the model is configured for."""

    def validate(self) -> list[str]:
        problems = [f"{k} must be positive, not {v}" for k, v in asdict(self).items() if v <= 0]
        if self.heads > 0 and self.hidden % self.heads:
            problems.append(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        elif self.heads > 0 and (self.hidden // self.heads) % 2:
            problems.append(f"head size hidden/heads ({self.hidden // self.heads}) must be even (RoPE)")
        return problems


PRESETS: dict[str, LmShape] = {
    # ~0.9 M parameters with a 512-piece vocabulary: memorises ~1000 facts (FINDINGS.md).
    "tiny": LmShape(hidden=128, layers=4, heads=4, intermediate=512, max_positions=256),
    "small": LmShape(hidden=256, layers=6, heads=8, intermediate=1024, max_positions=512),
}


def resolve_shape(preset: str, layers: int | None = None, hidden: int | None = None, heads: int | None = None) -> LmShape:
    """A preset with optional overrides; an unknown preset is a usage error."""
    if preset not in PRESETS:
        raise UsageError(f"--preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    base = PRESETS[preset]
    over: dict[str, int] = {k: v for k, v in (("layers", layers), ("hidden", hidden), ("heads", heads)) if v is not None}
    if "hidden" in over:  # keep the preset's MLP ratio
        over["intermediate"] = base.intermediate * over["hidden"] // base.hidden
    return replace(base, **over)


def llama_config(shape: LmShape, tokenizer: Any) -> Any:
    """A ``LlamaConfig`` for ``shape`` whose vocabulary and special ids match ``tokenizer``."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=shape.hidden, num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads, num_key_value_heads=shape.heads,
        intermediate_size=shape.intermediate, max_position_embeddings=shape.max_positions,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
