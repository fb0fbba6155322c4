"""The training loop shared by ``pretrain-lm`` and ``train-lora``.

Named steps: ``prepare_run`` (refuse outputs early) -> ``make_optimizer`` + ``make_accelerator``
-> ``load_checkpoint`` (``--resume``) -> ``fit`` -> ``finish_run`` (provenance, remove the checkpoint).

Determinism: batches come from ``plan_epoch(epoch)`` (a pure function of seed and epoch), the
learning rate is a pure function of the step, and a checkpoint holds the trainable tensors,
the optimizer state and the torch RNG state, so a resumed CPU run ends with the same weights
as an uninterrupted one. Checkpoints contain no pickle: tensors in safetensors, the rest JSON.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorakit.errors import InputError, Interrupted, OutputExistsError, TrainingError
from lorakit.io import atomic_dir, check_output, provenance, read_json, write_json
from lorakit.runtime import ProgressEvent, ProgressFn, jsonable

if TYPE_CHECKING:
    import torch

CHECKPOINT_TENSORS = "state.safetensors"
CHECKPOINT_META = "trainer.json"
RECENT = 10
"""``final_loss`` is the mean loss of the last RECENT steps."""


# 1) setup --------------------------------------------------------------------------------------


def checkpoint_path(out: str | Path) -> Path:
    """Where ``--checkpoint-every`` and Ctrl-C save: a folder beside the output, ``OUT.ckpt``."""
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def prepare_run(out: str | Path, force: bool, resume: bool) -> Path | None:
    """Refuse outputs before any work; return the checkpoint to resume from (or None)."""
    check_output(out, force)
    ckpt = checkpoint_path(out)
    if not (ckpt / CHECKPOINT_META).is_file():
        return None
    if resume:
        return ckpt
    if not force:
        raise OutputExistsError(
            f"{ckpt}: a checkpoint of an interrupted run exists (pass --resume to continue it, or --force to start over)"
        )
    return None


def make_accelerator(device: "torch.device") -> Any:
    """An ``accelerate.Accelerator`` on ``device``: bf16 mixed precision where the GPU supports it."""
    from accelerate import Accelerator

    from lorakit.runtime import autocast_dtype

    mixed = "bf16" if autocast_dtype(device) is not None else "no"
    return Accelerator(cpu=device.type == "cpu", mixed_precision=mixed)


def param_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices only, never on biases and norm weights."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if rest:
        groups.append({"params": rest, "weight_decay": 0.0})
    return groups


def make_optimizer(model: Any, lr: float, weight_decay: float, betas: tuple[float, float] = (0.9, 0.999)) -> Any:
    import torch

    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas)


def warmup_steps(total: int, warmup: float) -> int:
    """``--warmup`` is a fraction of the total steps (as ``warmup_ratio`` in HF ``Trainer``)."""
    return math.ceil(total * warmup)


def lr_at(step: int, total: int, warmup: int, lr: float) -> float:
    """Learning rate of optimizer step ``step`` (0-based); the same curve as HF's cosine schedule.

    1) linear warmup from 0 over ``warmup`` steps; 2) cosine decay from ``lr`` to 0 at ``total``.
    """
    if step < warmup:
        return lr * step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return lr * max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def schedule_problems(cfg: Any) -> list[str]:
    """Problems with the options every training command shares (epochs, batch, steps, lr, ...)."""
    problems = [f"--{n.replace('_', '-')} must be at least 1, not {getattr(cfg, n)}"
                for n in ("epochs", "batch_size") if getattr(cfg, n) < 1]
    if getattr(cfg, "steps", None) is not None and cfg.steps < 1:
        problems.append(f"--steps must be at least 1, not {cfg.steps}")
    if cfg.lr <= 0:
        problems.append(f"--lr must be positive, not {cfg.lr}")
    if not 0 <= cfg.warmup < 1:
        problems.append(f"--warmup is a fraction of the steps in [0, 1), not {cfg.warmup}")
    if cfg.weight_decay < 0 or cfg.clip < 0 or cfg.checkpoint_every < 0:
        problems.append("--weight-decay, --clip and --checkpoint-every must not be negative")
    return problems


def data_sha256(items: Sequence[Any]) -> str:
    """A hash of the training data as read (so a resumed run can check it trains on the same data)."""
    h = hashlib.sha256()
    for item in items:
        h.update(repr(item).encode("utf-8") + b"\0")
    return h.hexdigest()


# 2) checkpoints ----------------------------------------------------------------------------------


@dataclass
class TrainState:
    """Where a run is: the next batch is ``plan_epoch(epoch)[index]``."""

    step: int = 0
    epoch: int = 0
    index: int = 0
    tokens: int = 0
    seconds: float = 0.0
    first_loss: float | None = None
    recent_losses: list[float] = field(default_factory=list)


def trainable(model: Any) -> dict[str, "torch.nn.Parameter"]:
    """The tensors a checkpoint holds: the trainable parameters (tied weights once)."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(path: Path, model: Any, optimizer: Any, state: TrainState, fingerprint: dict[str, Any],
                    rng: "torch.Tensor", extra: Callable[[Path], None] | None = None) -> None:
    """Write the checkpoint folder atomically (temp folder beside it, then rename)."""
    import torch
    from safetensors.torch import save_file

    opt = optimizer.state_dict()
    tensors = {f"model.{n}": p.detach().to("cpu").contiguous().clone() for n, p in trainable(model).items()}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in opt["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optimizer.{pid}.{k}"] = v.detach().to("cpu").contiguous().clone()
            else:
                scalars.setdefault(str(pid), {})[k] = v
    tensors["rng.cpu"] = rng
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    meta = {
        "format": 1,
        "state": asdict(state),
        "fingerprint": fingerprint,
        "optimizer": {"param_groups": jsonable(opt["param_groups"]), "scalars": scalars},
    }
    with atomic_dir(path, force=True) as tmp:
        save_file(tensors, str(tmp / CHECKPOINT_TENSORS))
        write_json(tmp / CHECKPOINT_META, meta)
        if extra is not None:
            extra(tmp)


def load_checkpoint(path: Path, model: Any, optimizer: Any, fingerprint: dict[str, Any]) -> TrainState:
    """Restore trainable tensors, optimizer and RNG state; refuse a checkpoint of another run."""
    import torch
    from safetensors.torch import load_file

    meta = read_json(path / CHECKPOINT_META)
    saved = meta.get("fingerprint", {})
    diffs = [f"{k}: {saved.get(k)!r} (checkpoint) != {fingerprint.get(k)!r}"
             for k in sorted(set(saved) | set(fingerprint)) if saved.get(k) != fingerprint.get(k)]
    if diffs:
        raise TrainingError(f"{path}: checkpoint was made by a different run ({'; '.join(diffs)}); "
                            "rerun with the same options and data, or pass --force without --resume to start over")
    try:
        tensors = load_file(str(path / CHECKPOINT_TENSORS))
    except (OSError, RuntimeError) as e:
        raise InputError(f"{path / CHECKPOINT_TENSORS}: cannot read checkpoint ({e})") from None
    params = trainable(model)
    missing = sorted(set(params) - {k[len("model."):] for k in tensors if k.startswith("model.")})
    if missing:
        raise TrainingError(f"{path}: checkpoint lacks parameter(s) {', '.join(missing[:3])}")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(tensors[f"model.{name}"])
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, pid, name = key.split(".", 2)
            opt_state.setdefault(int(pid), {})[name] = value
    for pid, extra in meta["optimizer"]["scalars"].items():
        opt_state.setdefault(int(pid), {}).update(extra)
    groups = meta["optimizer"]["param_groups"]
    for g in groups:
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": opt_state, "param_groups": groups})
    torch.set_rng_state(tensors["rng.cpu"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    return TrainState(**meta["state"])


# 3) interrupts -----------------------------------------------------------------------------------


@contextmanager
def deferred_sigint() -> Iterator[threading.Event]:
    """First Ctrl-C sets the event (the loop finishes its step and checkpoints); a second one aborts."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        if flag.is_set():
            raise KeyboardInterrupt
        flag.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


# 4) fit --------------------------------------------------------------------------------------------


@dataclass
class FitSpec:
    """What ``fit`` needs besides the model: schedule, clipping, checkpointing."""

    total_steps: int
    lr: float
    warmup: int
    """Warmup steps."""
    clip: float | None
    checkpoint: Path
    checkpoint_every: int = 0
    """Save every N steps (0: only on Ctrl-C)."""
    fingerprint: dict[str, Any] = field(default_factory=dict)
    save_extra: Callable[[Path], None] | None = None
    """Writes extra files into a checkpoint (pretrain-lm: its tokenizer)."""
    task: str = "train"


@dataclass
class FitResult:
    steps: int
    epochs: float
    tokens: int
    seconds: float
    first_loss: float
    final_loss: float
    """Mean loss of the last RECENT steps."""
    resumed_from: int

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "tokens_per_second": round(self.tokens_per_second, 1)}


def train_step(model: Any, optimizer: Any, accelerator: Any, batch: dict[str, "torch.Tensor"], lr: float,
               clip: float | None) -> float:
    """One optimizer step on one batch; returns the loss (raises TrainingError when not finite)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = model(**batch).loss
    value = loss.item()
    if not math.isfinite(value):
        raise TrainingError(f"loss is {value} (not finite); try a lower --lr or a stronger --clip")
    accelerator.backward(loss)
    if clip:
        accelerator.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return value


def fit(model: Any, optimizer: Any, accelerator: Any, plan_epoch: Callable[[int], Sequence[Any]],
        collate: Callable[[Any], dict[str, "torch.Tensor"]], spec: FitSpec, state: TrainState | None = None,
        progress: ProgressFn | None = None) -> FitResult:
    """Train until ``spec.total_steps``; checkpoint every N steps and on Ctrl-C (then raise Interrupted)."""
    import torch

    state = state or TrainState()
    start = state.step
    report = progress or (lambda ev: None)
    model.train()
    rng = torch.get_rng_state()

    def save() -> None:
        save_checkpoint(spec.checkpoint, model, optimizer, state, spec.fingerprint, rng, spec.save_extra)

    def interrupted() -> Interrupted:
        save()
        return Interrupted(f"interrupted at step {state.step}/{spec.total_steps}; checkpoint saved to "
                           f"{spec.checkpoint} (rerun the same command with --resume to continue)")

    with deferred_sigint() as sigint:
        try:
            while state.step < spec.total_steps:
                plans = plan_epoch(state.epoch)
                while state.index < len(plans) and state.step < spec.total_steps:
                    t0 = time.perf_counter()
                    batch = {k: v.to(accelerator.device) for k, v in collate(plans[state.index]).items()}
                    rng = torch.get_rng_state()
                    lr = lr_at(state.step, spec.total_steps, spec.warmup, spec.lr)
                    loss = train_step(model, optimizer, accelerator, batch, lr, spec.clip)
                    state.seconds += time.perf_counter() - t0
                    state.tokens += int(batch["attention_mask"].sum())
                    state.step += 1
                    state.index += 1
                    state.first_loss = loss if state.first_loss is None else state.first_loss
                    state.recent_losses = (state.recent_losses + [loss])[-RECENT:]
                    rng = torch.get_rng_state()
                    report(ProgressEvent(spec.task, state.step, spec.total_steps, {
                        "loss": loss, "lr": lr, "tok/s": state.tokens / max(state.seconds, 1e-9)}))
                    if sigint.is_set():
                        raise interrupted()
                    if spec.checkpoint_every and state.step % spec.checkpoint_every == 0 and state.step < spec.total_steps:
                        save()
                if state.index >= len(plans):
                    state.epoch, state.index = state.epoch + 1, 0
        except KeyboardInterrupt:
            raise interrupted() from None
    steps_per_epoch = max(1, len(plan_epoch(0)))
    return FitResult(
        steps=state.step, epochs=round(state.epoch + state.index / steps_per_epoch, 3), tokens=state.tokens,
        seconds=round(state.seconds, 3), first_loss=state.first_loss if state.first_loss is not None else float("nan"),
        final_loss=sum(state.recent_losses) / max(1, len(state.recent_losses)), resumed_from=start,
    )


def total_steps(plan_epoch: Callable[[int], Sequence[Any]], epochs: int, steps: int | None) -> int:
    """``--steps`` wins over ``--epochs`` when given; otherwise the batches in ``epochs`` epochs."""
    if steps is not None:
        return steps
    return sum(len(plan_epoch(e)) for e in range(epochs))


# 5) finish -------------------------------------------------------------------------------------------


def finish_run(folder: Path, command: str, options: dict[str, Any], inputs: Sequence[str | Path], seed: int,
               result: FitResult, extra: dict[str, Any] | None = None) -> None:
    """Write ``lorakit.json`` (provenance + the run's result) into the output folder being built."""
    record = provenance(command, jsonable(options), inputs, seed)
    record["result"] = result.summary()
    record.update(extra or {})
    write_json(folder / "lorakit.json", record)


def remove_checkpoint(out: str | Path) -> None:
    shutil.rmtree(checkpoint_path(out), ignore_errors=True)
