"""The training loop shared by ``pretrain-lm`` and ``train-lora``.

Named steps: ``checkpoints.prepare_run`` (refuse outputs early) -> ``make_optimizer`` +
``make_accelerator`` -> ``checkpoints.load_checkpoint`` (``--resume``) -> ``fit`` -> ``finish_run``
(provenance) -> ``checkpoints.remove_checkpoint``.

Several processes (``torchrun`` / ``accelerate launch``): every process builds the same global
batch and trains on its rows (``distributed.micro_rows``), gradients are synchronised by DDP, and
each micro-batch's loss is its share of the global batch's mean (``causal_lm_loss``), so N
processes x K micro-batches make the same update as one process with the whole batch. Only rank 0
writes checkpoints and logs; a checkpoint holds full tensors and a global step, so a run saved
with N processes resumes with M.

Determinism: batches come from ``plan_epoch(epoch)`` (a pure function of seed and epoch), the
learning rate is a pure function of the step, and a checkpoint holds the trainable tensors,
the optimizer state and the torch RNG state, so a resumed CPU run ends with the same weights
as an uninterrupted one. Checkpoints contain no pickle: tensors in safetensors, the rest JSON.
"""

from __future__ import annotations

import hashlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorakit import distributed
from lorakit.checkpoints import TrainState, checkpoint_path, save_checkpoint
from lorakit.errors import Interrupted, TrainingError
from lorakit.io import path_problems, provenance, write_json
from lorakit.runtime import ProgressEvent, ProgressFn, jsonable

if TYPE_CHECKING:
    import torch

RECENT = 10
"""``final_loss`` is the mean loss of the last RECENT steps."""


# 1) setup --------------------------------------------------------------------------------------


def make_accelerator(device: "torch.device") -> Any:
    """An ``accelerate.Accelerator`` on ``device``: bf16 mixed precision where the GPU supports it.

    Under a launcher it opens the process group (gloo on CPU, NCCL on CUDA, ``cuda:LOCAL_RANK``)
    and ``prepare`` wraps the model in DDP, which wants a gradient for every trainable parameter
    at every step (freeze what a run does not train). On CUDA, fp32 matmuls outside bf16 autocast
    (or on GPUs without bf16) may use TF32: training tolerates it; the inference commands keep
    full fp32 so that their scores compare across machines. CPU stays fp32.
    """
    import torch
    from accelerate import Accelerator

    from lorakit.runtime import autocast_dtype

    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    mixed = "bf16" if autocast_dtype(device) is not None else "no"
    return Accelerator(cpu=device.type == "cpu", mixed_precision=mixed)


COMPILE_BACKEND = "inductor"
"""``torch.compile``'s backend for ``--compile`` (tests use "eager": the same graph capture, no code generation)."""


def prepare(accelerator: Any, model: Any, optimizer: Any, compile: bool = False) -> tuple[Any, Any]:
    """``accelerator.prepare(model, optimizer)``; with ``compile``, the model's forward compiled first.

    ``Module.compile`` compiles in place: parameter names, checkpoints and the saved folder are
    those of the uncompiled model, so a run may resume with or without it. Batches of new
    lengths recompile a few times, then dynamic shapes take over.
    """
    if compile:
        model.compile(backend=COMPILE_BACKEND)
    return accelerator.prepare(model, optimizer)


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
    if getattr(cfg, "grad_accum", 1) < 1:
        problems.append(f"--grad-accum must be at least 1, not {cfg.grad_accum}")
    if str(getattr(cfg, "data", getattr(cfg, "corpus", ""))) == "-" and distributed.world_size() > 1:
        problems.append("several processes cannot share stdin ('-'): pass a file")
    return problems


def output_problems(cfg: Any, inputs: Mapping[str, Any]) -> list[str]:
    """``--out``, its checkpoint and ``--log-file``: apart from the run's ``inputs`` and from each other."""
    outputs = {"--out": cfg.out, "--out's checkpoint": checkpoint_path(cfg.out), "--log-file": cfg.log_file}
    return path_problems(outputs, inputs)


@dataclass(kw_only=True)
class RunOptions:
    """The run-control options every training config shares (keyword-only, after its own fields)."""

    resume: bool = False
    """Continue from OUT.ckpt (left by Ctrl-C or --checkpoint-every) if it exists; same options and data required."""
    device: str = "auto"
    seed: int = 0
    force: bool = False
    grad_accum: int = 1
    """Micro-batches per optimizer step (per process); the global batch stays --batch-size, so 1 process
    x K=2 makes the same update as 2 processes x K=1."""
    log_file: Path | None = None
    """Write one JSON line per optimizer step (step, loss, lr, tokens, seconds) to this file (rank 0; an
    existing file needs --force, except when --resume continues from a checkpoint: then its steps before
    the checkpoint are kept)."""
    compile: bool = False
    """Compile the model's forward with torch.compile (opt-in: pays off on GPUs for long runs; the first
    steps are slow while it compiles)."""


RUN_ONLY = ("resume", "force", "device", "checkpoint_every", "grad_accum", "log_file", "compile")
"""Options that do not change the trained weights (a checkpoint resumes under other values)."""


def data_sha256(items: Sequence[Any]) -> str:
    """A hash of the training data as read (so a resumed run can check it trains on the same data)."""
    h = hashlib.sha256()
    for item in items:
        h.update(repr(item).encode("utf-8") + b"\0")
    return h.hexdigest()


# 2) interrupts -----------------------------------------------------------------------------------


@contextmanager
def deferred_sigint() -> Iterator[threading.Event]:
    """First Ctrl-C sets the event (the loop finishes its step and checkpoints); a second one aborts.

    Installed whatever SIGINT handler the process had (``SIG_IGN`` included: a background job of a
    non-interactive shell still checkpoints on ``kill -INT``); that handler is put back afterwards.

    Under a launcher every Ctrl-C only sets the event: torchrun forwards the terminal's SIGINT to
    processes that got it already, and they must all finish the same step before rank 0 saves
    (the launcher kills them if they take too long).
    """
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    second_aborts = distributed.world_size() == 1

    def handler(signum: int, frame: Any) -> None:
        if flag.is_set() and second_aborts:
            raise KeyboardInterrupt
        flag.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


# 3) fit --------------------------------------------------------------------------------------------

Batch = dict[str, "torch.Tensor"]
LossFn = Callable[[Any, Batch, Batch], "torch.Tensor"]
"""``loss(model, micro_batch, global_batch)``: the micro-batch's share of the global batch's mean
loss, so that the sum over micro-batches and processes is the loss of the global batch."""


def causal_lm_loss(model: Any, batch: Batch, whole: Batch) -> "torch.Tensor":
    """Next-token cross-entropy summed over ``batch``'s labelled tokens, over the labelled tokens of ``whole``.

    The same mean as ``model(**whole).loss`` (Hugging Face's causal-LM loss) when ``batch`` is ``whole``.
    """
    total = labelled_tokens(whole)
    return summed_lm_loss(model, batch) / max(1, total)


def summed_lm_loss(model: Any, batch: Batch) -> "torch.Tensor":
    """Next-token cross-entropy summed over ``batch``'s labelled tokens (the training loss before its mean)."""
    import torch.nn.functional as F

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100,
                           reduction="sum")


def labelled_tokens(batch: Batch) -> int:
    """How many tokens of ``batch`` carry a next-token label (the denominator of the mean loss)."""
    return int((batch["labels"][:, 1:] != -100).sum())


def take_rows(batch: Batch, rows: list[int]) -> Batch:
    """Rows of a right-padded batch, without the columns that are padding in all of them."""
    import torch

    index = torch.tensor(rows, dtype=torch.long)
    out = {k: v.index_select(0, index) for k, v in batch.items()}
    width = max(1, int(out["attention_mask"].sum(1).max()))
    return {k: v[:, :width] if v.dim() >= 2 else v for k, v in out.items()}


@dataclass
class FitSpec:
    """What ``fit`` needs besides the model: schedule, clipping, checkpointing, the loss."""

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
    grad_accum: int = 1
    """Micro-batches per optimizer step (per process); the global batch stays the same."""
    loss: LossFn = causal_lm_loss
    take_rows: Callable[[Batch, list[int]], Batch] = take_rows
    """A process's micro-batch: some rows of the global batch."""
    log_file: Path | None = None
    """One JSON line per optimizer step (step, loss, lr, tokens, seconds), written by rank 0."""


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
    processes: int = 1
    """Training processes (torchrun / accelerate launch)."""

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "tokens_per_second": round(self.tokens_per_second, 1)}


def train_step(model: Any, optimizer: Any, accelerator: Any, micro: list[tuple[Batch, float]], whole: Batch,
               loss_fn: LossFn, lr: float, clip: float | None, stop: bool = False) -> tuple[float, bool]:
    """One optimizer step over this process's micro-batches (``(batch, weight)``; weight 0: a stand-in).

    Returns the global batch's loss and whether any process asked to stop (Ctrl-C); raises
    TrainingError, on every process alike, when the loss is not finite.
    """
    for group in optimizer.param_groups:
        group["lr"] = lr
    world = distributed.world_size()
    local = 0.0
    for i, (batch, weight) in enumerate(micro):
        with nullcontext() if i == len(micro) - 1 else accelerator.no_sync(model):  # DDP syncs on the last
            loss = loss_fn(model, batch, whole) * weight
            accelerator.backward(loss * world)  # DDP averages over processes; the losses are already shares
        local += loss.item()
    value, stops = distributed.all_reduce_sum([local, float(stop)], accelerator.device)
    if not math.isfinite(value):
        raise TrainingError(f"loss is {value} (not finite); try a lower --lr or a stronger --clip")
    if clip:
        accelerator.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return value, stops > 0


def micro_batches(whole: Batch, spec: FitSpec, device: Any) -> list[tuple[Batch, float]]:
    """This process's micro-batches of the global batch; where its part is empty but another process's is
    not, a zero-weight stand-in row (every process must run as many backward passes)."""
    rows = len(whole["attention_mask"])
    out = []
    for k, part in enumerate(distributed.micro_rows(rows, spec.grad_accum)):
        if k * distributed.world_size() >= rows:  # empty on every process
            break
        batch = spec.take_rows(whole, part or [0])
        out.append(({n: v.to(device) for n, v in batch.items()}, 1.0 if part else 0.0))
    return out


def _log_lines(path: Path, keep_until: int) -> Any:
    """Open the per-step log: a fresh file, or (resuming) the old one cut after step ``keep_until``."""
    import json

    kept = []
    if keep_until > 0 and path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line)["step"] <= keep_until:
                    kept.append(line + "\n")
            except (ValueError, KeyError, TypeError):
                continue
    fh = path.open("w", encoding="utf-8")
    fh.writelines(kept)
    return fh


def fit(model: Any, optimizer: Any, accelerator: Any, plan_epoch: Callable[[int], Sequence[Any]],
        collate: Callable[[Any], Batch], spec: FitSpec, state: TrainState | None = None,
        progress: ProgressFn | None = None) -> FitResult:
    """Train until ``spec.total_steps``; checkpoint every N steps and on Ctrl-C (then raise Interrupted)."""
    import json

    import torch

    state = state or TrainState()
    start = state.step
    main = distributed.is_main()
    report = (progress or (lambda ev: None)) if main else (lambda ev: None)
    model.train()
    rng = torch.get_rng_state()
    log = _log_lines(spec.log_file, start) if spec.log_file is not None and main else None

    def save() -> None:
        if main:
            save_checkpoint(spec.checkpoint, model, optimizer, state, spec.fingerprint, rng, spec.save_extra)
        distributed.barrier()

    def interrupted(sync: bool = True) -> Interrupted:
        if sync:
            save()
        elif main:
            save_checkpoint(spec.checkpoint, model, optimizer, state, spec.fingerprint, rng, spec.save_extra)
        return Interrupted(f"interrupted at step {state.step}/{spec.total_steps}; checkpoint saved to "
                           f"{spec.checkpoint} (rerun the same command with --resume to continue)")

    with deferred_sigint() as sigint, log if log is not None else nullcontext():
        try:
            while state.step < spec.total_steps:
                plans = plan_epoch(state.epoch)
                while state.index < len(plans) and state.step < spec.total_steps:
                    t0 = time.perf_counter()
                    whole = collate(plans[state.index])
                    micro = micro_batches(whole, spec, accelerator.device)
                    rng = torch.get_rng_state()
                    lr = lr_at(state.step, spec.total_steps, spec.warmup, spec.lr)
                    loss, stop = train_step(model, optimizer, accelerator, micro, whole, spec.loss, lr, spec.clip,
                                            sigint.is_set())
                    state.seconds += time.perf_counter() - t0
                    state.tokens += int(whole["attention_mask"].sum())
                    state.step += 1
                    state.index += 1
                    state.first_loss = loss if state.first_loss is None else state.first_loss
                    state.recent_losses = (state.recent_losses + [loss])[-RECENT:]
                    rng = torch.get_rng_state()
                    report(ProgressEvent(spec.task, state.step, spec.total_steps, {
                        "loss": loss, "lr": lr, "tok/s": state.tokens / max(state.seconds, 1e-9)}))
                    if log is not None:
                        log.write(json.dumps({"step": state.step, "loss": loss, "lr": lr, "tokens": state.tokens,
                                              "seconds": round(state.seconds, 4)}) + "\n")
                        log.flush()
                    if stop or (distributed.world_size() == 1 and sigint.is_set()):
                        raise interrupted()
                    if spec.checkpoint_every and state.step % spec.checkpoint_every == 0 and state.step < spec.total_steps:
                        save()
                if state.index >= len(plans):
                    state.epoch, state.index = state.epoch + 1, 0
        except KeyboardInterrupt:  # a second Ctrl-C: the processes are not in step, so no barrier
            raise interrupted(sync=distributed.world_size() == 1) from None
    steps_per_epoch = max(1, len(plan_epoch(0)))
    return FitResult(
        steps=state.step, epochs=round(state.epoch + state.index / steps_per_epoch, 3), tokens=state.tokens,
        seconds=round(state.seconds, 3), first_loss=state.first_loss if state.first_loss is not None else float("nan"),
        final_loss=sum(state.recent_losses) / max(1, len(state.recent_losses)), resumed_from=start,
        processes=distributed.world_size(),
    )


def total_steps(plan_epoch: Callable[[int], Sequence[Any]], epochs: int, steps: int | None) -> int:
    """``--steps`` wins over ``--epochs`` when given; otherwise the batches in ``epochs`` epochs."""
    if steps is not None:
        return steps
    return sum(len(plan_epoch(e)) for e in range(epochs))


# 4) finish -------------------------------------------------------------------------------------------


def finish_run(folder: Path, command: str, options: dict[str, Any], inputs: Sequence[str | Path], seed: int,
               result: FitResult, extra: dict[str, Any] | None = None) -> None:
    """Write ``lorakit.json`` (provenance + the run's result) into the output folder being built."""
    record = provenance(command, jsonable(options), inputs, seed)
    record["result"] = result.summary()
    record.update(extra or {})
    write_json(folder / "lorakit.json", record)
