"""``train-lora``: a LoRA adapter on prompt/completion JSONL, loss on the completion only.

setup (check base, read data, PEFT model, optimizer) -> fit (training.fit) -> save (PEFT folder).
"""

from __future__ import annotations

import random
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lorakit import checkpoints, distributed, training
from lorakit.errors import InputError, UsageError
from lorakit.io import atomic_dir
from lorakit.records import Fields, field_problems, read_records, render_chats
from lorakit.models.fingerprint import HEADER_METHOD, WEIGHTS_METHOD, base_fingerprint, weights_sha256
from lorakit.models.load import check_model_dir
from lorakit.models.encode import char_limit, collate_examples, fit_example
from lorakit.runtime import ProgressFn, finite_problems, no_progress, resolve_device, seed_everything

COMMAND = "train-lora"
MEGA_BATCH = 50
"""Length grouping: examples are sorted by length within shuffled groups of MEGA_BATCH batches."""


@dataclass
class LoraTrainConfig(training.RunOptions):
    base: Path
    """Base model: a local Hugging Face causal-LM folder."""
    data: str
    """Prompt/completion or chat ('messages') records: JSONL ('-' for stdin), a JSON array, a datasets
    folder or a Parquet file."""
    out: Path
    """Output PEFT adapter folder."""
    prompt_field: str = "prompt"
    completion_field: str = "completion"
    rank: int = 16
    """LoRA rank r."""
    alpha: float = 32.0
    """LoRA alpha (scale = alpha / r)."""
    dropout: float = 0.0
    """LoRA dropout."""
    targets: str = "all-linear"
    """Modules to adapt (PEFT's target_modules): all-linear, or a comma list such as q_proj,v_proj."""
    lr: float = 2e-3
    epochs: int = 40
    batch_size: int = 32
    """Examples per optimizer step (length-grouped)."""
    clip: float = 1.0
    weight_decay: float = 0.0
    warmup: float = 0.03
    max_len: int | None = None
    """Truncate examples to this many tokens (default: the model's positions)."""
    checkpoint_every: int = 0

    def validate(self) -> None:
        problems = finite_problems(self) + training.schedule_problems(self)
        if self.rank < 1:
            problems.append(f"--rank must be at least 1, not {self.rank}")
        if self.alpha <= 0:
            problems.append(f"--alpha must be positive, not {self.alpha}")
        if not 0 <= self.dropout < 1:
            problems.append(f"--dropout must be in [0, 1), not {self.dropout}")
        if self.max_len is not None and self.max_len < 2:
            problems.append(f"--max-len must be at least 2, not {self.max_len}")
        if not self.target_modules():
            problems.append("--targets is empty")
        problems += field_problems(self.prompt_field, self.completion_field)
        problems += training.output_problems(self, {"BASE": self.base, "DATA": self.data})
        if problems:
            raise UsageError("; ".join(problems))

    def target_modules(self) -> str | list[str]:
        if self.targets.strip() == "all-linear":
            return "all-linear"
        return [t.strip() for t in self.targets.split(",") if t.strip()]


@dataclass
class LoraTrainResult:
    out: Path
    examples: int
    trainable_parameters: int
    fit: training.FitResult
    truncated: int = 0
    """Prompts cut from the left to fit the model's positions."""

    def summary(self) -> dict[str, Any]:
        return {"out": str(self.out), "examples": self.examples, "trainable_parameters": self.trainable_parameters,
                "truncated_prompts": self.truncated, **self.fit.summary()}


# setup ------------------------------------------------------------------------------------------


def encode_records(tok: Any, records: list[dict[str, Any]], max_len: int | None, data: str
                   ) -> tuple[list[tuple[list[int], list[int]]], int]:
    """Every record as (ids, labels) within ``max_len``; how many prompts were cut from the left.

    A completion that alone fills the model's positions is refused (it would train on nothing).
    """
    examples, truncated, limit = [], 0, char_limit(tok, max_len) if max_len else None
    for i, r in enumerate(records, start=1):
        try:
            ids, labels, cut = fit_example(tok, r["prompt"], r["completion"], max_len, limit)
        except ValueError as e:
            raise InputError(f"{'<stdin>' if data == '-' else data}: record {i}: {e} (pass a larger --max-len "
                             "only if the model has the positions)") from None
        examples.append((ids, labels))
        truncated += cut
    return examples, truncated


class LengthGroupedBatches:
    """Per epoch: shuffle by (seed, epoch), sort by length within mega-batches, shuffle the batches."""

    def __init__(self, examples: list[tuple[list[int], list[int]]], batch_size: int, seed: int, pad_id: int) -> None:
        self.examples, self.batch_size, self.seed, self.pad_id = examples, batch_size, seed, pad_id

    def plan(self, epoch: int) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = list(range(len(self.examples)))
        rng.shuffle(order)
        mega = self.batch_size * MEGA_BATCH
        batches = []
        for i in range(0, len(order), mega):
            group = sorted(order[i:i + mega], key=lambda j: -len(self.examples[j][0]))
            batches += [group[k:k + self.batch_size] for k in range(0, len(group), self.batch_size)]
        rng.shuffle(batches)
        return batches

    def collate(self, plan: list[int]) -> dict[str, Any]:
        return collate_examples([self.examples[j] for j in plan], self.pad_id)


def _has_conv1d(model: Any) -> bool:
    from transformers.pytorch_utils import Conv1D

    return any(isinstance(m, Conv1D) for m in model.modules())


def peft_model(model: Any, cfg: LoraTrainConfig, base: Path) -> Any:
    """Wrap ``model`` with a fresh LoRA adapter named ``default`` (seeded init)."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=cfg.target_modules(),
        bias="none", task_type="CAUSAL_LM", fan_in_fan_out=_has_conv1d(model),
        base_model_name_or_path=str(base),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            wrapped = get_peft_model(model, lora)
        except ValueError as e:
            raise UsageError(f"--targets {cfg.targets}: {str(e).splitlines()[0]}") from None
    return wrapped


def _fingerprint(cfg: LoraTrainConfig, records: list[dict[str, Any]], base: Path) -> dict[str, Any]:
    keep = {k: v for k, v in asdict(cfg).items() if k not in ("base", "data", "out", *training.RUN_ONLY)}
    pairs = [(r["prompt"], r["completion"]) for r in records]
    return {**keep, "base_fingerprint": base_fingerprint(base), "data_sha256": training.data_sha256(pairs)}


# run --------------------------------------------------------------------------------------------


def train_lora(cfg: LoraTrainConfig, progress: ProgressFn = no_progress) -> LoraTrainResult:
    """Train a LoRA adapter for ``cfg.base`` on ``cfg.data`` and write a PEFT folder to ``cfg.out``."""
    from lorakit.models.load import load_causal_lm

    # 1) checks before any work
    cfg.validate()
    base = check_model_dir(cfg.base).resolve()
    ckpt = checkpoints.prepare_run(cfg.out, cfg.force, cfg.resume, cfg.log_file)
    device = resolve_device(cfg.device)
    records = read_records(cfg.data, Fields(cfg.prompt_field, cfg.completion_field))

    # 2) data, model, optimizer
    model, tok = load_causal_lm(base, "cpu")
    render_chats(records, tok, cfg.data, base)
    max_len = cfg.max_len or getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    examples, truncated = encode_records(tok, records, max_len, cfg.data)
    batches = LengthGroupedBatches(examples, cfg.batch_size, cfg.seed, tok.pad_token_id)
    seed_everything(cfg.seed)
    model = peft_model(model, cfg, base)
    optimizer = training.make_optimizer(model, cfg.lr, cfg.weight_decay)
    accelerator = training.make_accelerator(device)
    model, optimizer = training.prepare(accelerator, model, optimizer, cfg.compile)

    # 3) fit
    total = training.total_steps(batches.plan, cfg.epochs, None)
    spec = training.FitSpec(
        total_steps=total, lr=cfg.lr, warmup=training.warmup_steps(total, cfg.warmup), clip=cfg.clip or None,
        checkpoint=checkpoints.checkpoint_path(cfg.out), checkpoint_every=cfg.checkpoint_every,
        fingerprint=_fingerprint(cfg, records, base), task=COMMAND, grad_accum=cfg.grad_accum, log_file=cfg.log_file,
    )
    state = checkpoints.load_checkpoint(ckpt, model, optimizer, spec.fingerprint) if ckpt else None
    result = training.fit(model, optimizer, accelerator, batches.plan, batches.collate, spec, state, progress)

    # 4) save (rank 0): adapter_config.json + adapter_model.safetensors (adapter "default" at top level)
    model = accelerator.unwrap_model(model)
    if distributed.is_main():
        with atomic_dir(cfg.out, force=True) as tmp:
            adapter = model.peft_config["default"]
            adapter.base_model_name_or_path = str(base)
            if isinstance(adapter.target_modules, (set, list)):  # a set in memory: sort for a reproducible file
                adapter.target_modules = sorted(adapter.target_modules)
            model.save_pretrained(str(tmp), safe_serialization=True)
            (tmp / "README.md").unlink(missing_ok=True)
            training.finish_run(tmp, COMMAND, asdict(cfg) | {"base": str(base)}, [cfg.data], cfg.seed, result,
                                {"base": {"path": str(base), "fingerprint": spec.fingerprint["base_fingerprint"],
                                          "fingerprint_method": HEADER_METHOD, "weights_sha256": weights_sha256(base),
                                          "weights_sha256_method": WEIGHTS_METHOD}})
        checkpoints.remove_checkpoint(cfg.out)
    distributed.barrier()
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return LoraTrainResult(Path(cfg.out), len(examples), n_trainable, result, truncated)
