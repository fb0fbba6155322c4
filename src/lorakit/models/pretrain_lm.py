"""``pretrain-lm``: train a tokenizer and a small Llama causal LM from scratch on a text corpus.

setup (corpus, tokenizer, token ids, model, optimizer) -> fit (training.fit) -> save (HF folder).

The corpus streams through ``lorakit.models.corpus``: memory-mapped Arrow documents, token ids
cached in ``--cache-dir``, blocks read on demand, a tokenizer trained on a bounded sample, so
the memory a run needs does not grow with the corpus text.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lorakit import checkpoints, distributed, training
from lorakit.models.corpus import (
    CorpusOptions, EpochPlan, TokenStore, documents, iter_texts, kind_of, open_corpus, sample_texts, tokenize_corpus,
)
from lorakit.errors import InputError, UsageError
from lorakit.io import STDIO, atomic_dir, read_text
from lorakit.models.presets import PRESETS, LmShape, llama_config, resolve_shape
from lorakit.runtime import ProgressFn, finite_problems, no_progress, resolve_device, seed_everything

COMMAND = "pretrain-lm"


@dataclass
class PretrainConfig(training.RunOptions, CorpusOptions):
    corpus: str
    """Text file (one document per line), JSONL with a "text" field, a local datasets folder (save_to_disk;
    its "text" column), or '-' for stdin."""
    out: Path
    """Output HF model folder."""
    preset: str = "tiny"
    """Model shape: tiny (hidden 128, 4 layers, 4 heads) or small (hidden 256, 6 layers, 8 heads)."""
    layers: int | None = None
    """Override the preset's number of layers."""
    hidden: int | None = None
    """Override the preset's hidden size (MLP width scales with it)."""
    heads: int | None = None
    """Override the preset's attention heads."""
    tokenizer: Path | None = None
    """Reuse this HF tokenizer folder instead of training one."""
    vocab_size: int = 512
    """Most pieces of the trained SentencePiece BPE tokenizer."""
    epochs: int = 10
    steps: int | None = None
    batch_size: int = 32
    """Blocks per optimizer step."""
    block_size: int = 128
    """Tokens per block (whole lines packed, EOS between lines)."""
    lr: float = 1e-3
    warmup: float = 0.05
    weight_decay: float = 0.1
    clip: float = 1.0
    checkpoint_every: int = 1000

    def validate(self) -> None:
        problems = finite_problems(self) + training.schedule_problems(self) + self.corpus_problems()
        for name in ("block_size", "vocab_size"):
            if getattr(self, name) < 1:
                problems.append(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.preset not in PRESETS:
            problems.append(f"--preset must be one of {', '.join(PRESETS)}, not {self.preset!r}")
        else:
            problems += [f"model shape: {p}" for p in self.shape().validate()]
            if self.block_size > self.shape().max_positions:
                problems.append(f"--block-size {self.block_size} exceeds the preset's {self.shape().max_positions} positions")
        problems += training.output_problems(self, {"CORPUS": self.corpus, "--tokenizer": self.tokenizer,
                                                    "--cache-dir": self.cache_dir})
        if problems:
            raise UsageError("; ".join(problems))

    def shape(self) -> LmShape:
        return resolve_shape(self.preset, self.layers, self.hidden, self.heads)


@dataclass
class PretrainResult:
    out: Path
    parameters: int
    vocab_size: int
    fit: training.FitResult

    def summary(self) -> dict[str, Any]:
        return {"out": str(self.out), "parameters": self.parameters, "vocab_size": self.vocab_size, **self.fit.summary()}


# setup ------------------------------------------------------------------------------------------


def read_corpus(path: str | Path) -> list[str]:
    """Documents, one per non-blank line; JSONL (first line a JSON object) gives its "text" fields.

    The whole corpus in memory (``pretrain-bert``; ``pretrain-lm`` streams it with ``open_corpus``).
    """
    name = "<stdin>" if str(path) == STDIO else str(path)
    if str(path) == STDIO:
        raw = sys.stdin.read().splitlines()
    else:
        raw = read_text(path).splitlines()
    docs = documents({"text": raw}, range(len(raw)), name, kind_of(raw))["text"]
    if not docs:
        raise InputError(f"{name}: no text")
    return docs


class Batches:
    """Deterministic batches: documents shuffled per epoch by (seed, epoch), packed (``pack_starts``), grouped.

    ``docs``: token ids per document, as lists or a ``TokenStore`` (read on demand). A plan is an
    ``EpochPlan`` (numpy index, a few bytes per document); the last two epochs' plans are kept.
    """

    def __init__(self, docs: Sequence[Sequence[int]] | TokenStore, block_size: int, batch_size: int, seed: int,
                 pad_id: int) -> None:
        self.store = docs if isinstance(docs, TokenStore) else TokenStore.from_lists(docs)
        self.block_size, self.batch_size, self.seed, self.pad_id = block_size, batch_size, seed, pad_id
        self._plans: dict[int, EpochPlan] = {}

    def plan(self, epoch: int) -> EpochPlan:
        import numpy as np
        if epoch not in self._plans:
            order = np.arange(len(self.store), dtype=np.int32)  # 4 bytes a document
            random.Random(self.seed * 1_000_003 + epoch).shuffle(order)  # type: ignore[arg-type]
            last = list(self._plans.items())[-1:]
            self._plans = {**dict(last), epoch: EpochPlan(order, self.store.lengths, self.block_size, self.batch_size)}
        return self._plans[epoch]

    def collate(self, plan: list[list[tuple[int, int, int]]]) -> dict[str, Any]:
        import numpy as np
        import torch

        width = max(sum(e - s for _, s, e in block) for block in plan)
        ids = torch.full((len(plan), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(plan), width), dtype=torch.long)
        for row, block in enumerate(plan):
            tokens = np.concatenate([self.store.tokens(doc, s, e) for doc, s, e in block])
            ids[row, : len(tokens)] = torch.from_numpy(tokens.astype(np.int64))
            mask[row, : len(tokens)] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}


def _tokenizer(cfg: PretrainConfig, docs: Any, ckpt: Path | None) -> Any:
    from lorakit.models.load import load_tokenizer
    from lorakit.models.tokenizer import train_tokenizer

    if ckpt is not None:
        return load_tokenizer(ckpt / "tokenizer")
    if cfg.tokenizer is not None:
        if not Path(cfg.tokenizer).is_dir():
            raise InputError(f"{cfg.tokenizer}: no such tokenizer folder")
        return load_tokenizer(cfg.tokenizer)
    return train_tokenizer(sample_texts(docs, int(cfg.tokenizer_sample * 1e6)), None, vocab_size=cfg.vocab_size)


def _fingerprint(cfg: PretrainConfig, docs: Any, tokenizer: Any) -> dict[str, Any]:
    skip = ("corpus", "out", "cache_dir", "num_proc", *training.RUN_ONLY)
    keep = {k: v for k, v in asdict(cfg).items() if k not in skip}
    keep["tokenizer"] = None if cfg.tokenizer is None else str(Path(cfg.tokenizer).resolve())
    data = training.data_sha256(iter_texts(docs))  # type: ignore[arg-type]  # a stream: it only iterates
    return {**keep, "data_sha256": data, "vocab": len(tokenizer)}


def load_data(cfg: PretrainConfig, ckpt: Path | None) -> tuple[Any, TokenStore, dict[str, Any]]:
    """The tokenizer, the corpus's token ids (memory-mapped) and the run's fingerprint."""
    with distributed.main_first():
        docs = open_corpus(cfg.corpus, cfg.cache_dir, cfg.num_proc)
        tok = _tokenizer(cfg, docs, ckpt)
        ids = tokenize_corpus(docs, tok, cfg.num_proc)
    return tok, TokenStore.from_dataset(ids), _fingerprint(cfg, docs, tok)


# run --------------------------------------------------------------------------------------------


def pretrain(cfg: PretrainConfig, progress: ProgressFn = no_progress) -> PretrainResult:
    """Pretrain a Llama causal LM on ``cfg.corpus`` and write it (with its tokenizer) to ``cfg.out``."""
    import torch
    from transformers import LlamaForCausalLM

    # 1) checks before any work
    cfg.validate()
    ckpt = checkpoints.prepare_run(cfg.out, cfg.force, cfg.resume, cfg.log_file)
    device = resolve_device(cfg.device)
    accelerator = training.make_accelerator(device)  # opens the process group (load_data: rank 0 first)

    # 2) tokenizer, data, model, optimizer
    tok, store, fingerprint = load_data(cfg, ckpt)
    batches = Batches(store, cfg.block_size, cfg.batch_size, cfg.seed, tok.pad_token_id)
    seed_everything(cfg.seed)
    model = LlamaForCausalLM(llama_config(cfg.shape(), tok))
    optimizer = training.make_optimizer(model, cfg.lr, cfg.weight_decay, betas=(0.9, 0.95))
    model, optimizer = training.prepare(accelerator, model, optimizer, cfg.compile)

    # 3) fit
    total = training.total_steps(batches.plan, cfg.epochs, cfg.steps)
    spec = training.FitSpec(
        total_steps=total, lr=cfg.lr, warmup=training.warmup_steps(total, cfg.warmup), clip=cfg.clip or None,
        checkpoint=checkpoints.checkpoint_path(cfg.out), checkpoint_every=cfg.checkpoint_every,
        fingerprint=fingerprint, save_extra=lambda d: tok.save_pretrained(str(d / "tokenizer")),
        task=COMMAND, grad_accum=cfg.grad_accum, log_file=cfg.log_file,
    )
    state = checkpoints.load_checkpoint(ckpt, model, optimizer, spec.fingerprint) if ckpt else None
    result = training.fit(model, optimizer, accelerator, batches.plan, batches.collate, spec, state, progress)

    # 4) save (rank 0): an HF folder that plain transformers loads
    model = accelerator.unwrap_model(model).to(torch.float32).cpu()
    if distributed.is_main():
        with atomic_dir(cfg.out, force=True) as tmp:
            model.save_pretrained(str(tmp), safe_serialization=True)
            tok.save_pretrained(str(tmp))
            training.finish_run(tmp, COMMAND, asdict(cfg), [cfg.corpus], cfg.seed, result,
                                {"model": {"shape": asdict(cfg.shape()), "vocab_size": len(tok)}})
        checkpoints.remove_checkpoint(cfg.out)
    distributed.barrier()
    return PretrainResult(Path(cfg.out), sum(p.numel() for p in model.parameters()), len(tok), result)
