"""``pretrain-bert``'s options: one default and one help text per field (``--help`` is built from
them), and their checks. Apart from the driver (``lorakit.models.pretrain_bert``) so that the CLI needs no torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lorakit import training
from lorakit.models.corpus import CorpusOptions
from lorakit.errors import UsageError
from lorakit.models import OBJECTIVES, POSITION_INITS, TOKENIZER_TYPES
from lorakit.runtime import finite_problems


@dataclass
class BertPretrainConfig(training.RunOptions, CorpusOptions):
    """The defaults are the settings that learned best in this project's runs on CPU (README,
    "pretrain-bert's defaults"), not BERT's: a small MLM-only model without dropout."""

    corpus: str
    """Text file (one document per line), JSONL with a "text" field, a local datasets folder, or '-'."""
    out: Path
    vocab_size: int = 2000
    """Pieces of the SentencePiece tokenizer (exactly; an error if the corpus supports fewer)."""
    layers: int = 4
    """Transformer layers."""
    hidden: int = 128
    """Hidden size."""
    heads: int = 4
    """Attention heads (hidden must be a multiple)."""
    intermediate: int = 512
    """Feed-forward width."""
    dropout: float = 0.0
    """Hidden-layer dropout."""
    attention_dropout: float | None = None
    """Attention dropout (default: --dropout)."""
    objective: str = "mlm"
    """mlm, mlm+nsp (next sentence) or mlm+sop (sentence order)."""
    tokenizer_type: str = "bpe"
    """SentencePiece model: unigram, or bpe (on a small or templated corpus BPE keeps whole words as
    pieces where unigram stops short of the vocabulary and splits them)."""
    position_init: str = "sinusoidal"
    """Position embeddings' start values: random (BERT's) or sinusoidal (the transformer's sine table,
    scaled to the same 0.05 standard deviation; the model stays a plain BERT)."""
    max_seq_len: int = 192
    """Tokens per sentence pair, [CLS]/[SEP] included (also the position limit)."""
    whole_word_masking: bool = False
    """Mask every piece of a chosen word."""
    mask_prob: float = 0.25
    """Fraction of tokens to predict (80 % [MASK], 10 % random, 10 % kept)."""
    group_by_length: bool = False
    """Batch sentence pairs of like length (sorted within windows of 64 batches, batches shuffled): less padding."""
    steps: int | None = None
    epochs: int = 3
    batch_size: int = 16
    """Sentence pairs per optimizer step."""
    lr: float = 5e-4
    warmup: float = 0.03
    weight_decay: float = 0.01
    clip: float = 1.0
    checkpoint_every: int = 1000

    def validate(self) -> None:
        problems = finite_problems(self) + training.schedule_problems(self) + self.corpus_problems()
        for name in ("layers", "hidden", "heads", "intermediate"):
            if getattr(self, name) < 1:
                problems.append(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.heads > 0 and self.hidden % self.heads:
            problems.append(f"--hidden ({self.hidden}) must be a multiple of --heads ({self.heads})")
        for name in ("dropout", "attention_dropout"):
            v = getattr(self, name)
            if v is not None and not 0 <= v < 1:
                problems.append(f"--{name.replace('_', '-')} must be in [0, 1), not {v}")
        for name, allowed in (("tokenizer_type", TOKENIZER_TYPES), ("position_init", POSITION_INITS)):
            if getattr(self, name) not in allowed:
                problems.append(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        if self.objective not in OBJECTIVES:
            problems.append(f"--objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        if not 16 <= self.max_seq_len <= 512:
            problems.append(f"--max-seq-len must be in [16, 512], not {self.max_seq_len}")
        if not 0 < self.mask_prob < 1:
            problems.append(f"--mask-prob must be in (0, 1), not {self.mask_prob}")
        problems += training.output_problems(self, {"CORPUS": self.corpus, "--cache-dir": self.cache_dir})
        if problems:
            raise UsageError("; ".join(problems))

    @property
    def pairs(self) -> str | None:
        """The sentence-pair task: 'nsp', 'sop' or None."""
        return self.objective.split("+")[1] if "+" in self.objective else None
