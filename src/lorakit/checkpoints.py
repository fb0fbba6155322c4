"""Training checkpoints: the ``OUT.ckpt`` folder that ``--checkpoint-every`` and Ctrl-C write and
``--resume`` reads. No pickle: the trainable tensors, the optimizer's tensors and the RNG states in
safetensors, the rest (where the run is, its fingerprint, optimizer scalars) in JSON. The names
are the model's own (DDP's wrapper removed), so a checkpoint does not depend on the world size.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorakit.errors import InputError, OutputExistsError, TrainingError, UsageError
from lorakit.io import atomic_dir, check_output, clean_stale, load_safetensors, read_json_object, write_json
from lorakit.runtime import jsonable

if TYPE_CHECKING:
    import torch

CHECKPOINT_TENSORS = "state.safetensors"
CHECKPOINT_META = "trainer.json"


def checkpoint_path(out: str | Path) -> Path:
    """Where ``--checkpoint-every`` and Ctrl-C save: a folder beside the output, ``OUT.ckpt``."""
    out = Path(out) if Path(out).name else Path(out).absolute()  # "--out ." has no name
    return out.with_name(out.name + ".ckpt")


def prepare_run(out: str | Path, force: bool, resume: bool, log_file: str | Path | None = None) -> Path | None:
    """Refuse outputs before any work; return the checkpoint to resume from (or None).

    An existing ``log_file`` is kept (cut after the checkpoint's step) only when a checkpoint is
    resumed; otherwise it is replaced with ``force`` only.
    """
    check_output(out, force)
    ckpt = checkpoint_path(out)
    clean_stale(ckpt)
    found = (ckpt / CHECKPOINT_META).is_file()
    if found and not resume and not force:
        raise OutputExistsError(
            f"{ckpt}: a checkpoint of an interrupted run exists (pass --resume to continue it, or --force to start over)"
        )
    resumed = ckpt if found and resume else None
    check_output(log_file, force or resumed is not None, option="--log-file")
    if log_file is not None and Path(log_file).is_dir():
        raise UsageError(f"--log-file {log_file}: is a folder (give a file)")
    return resumed


def remove_checkpoint(out: str | Path) -> None:
    shutil.rmtree(checkpoint_path(out), ignore_errors=True)


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


def unwrap(model: Any) -> Any:
    """The model inside a DDP wrapper (checkpoint names must not depend on the world size)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def trainable(model: Any) -> dict[str, "torch.nn.Parameter"]:
    """The tensors a checkpoint holds: the trainable parameters (tied weights once)."""
    return {n: p for n, p in unwrap(model).named_parameters() if p.requires_grad}


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


def _read_meta(path: Path) -> dict[str, Any]:
    """``trainer.json``, its shape checked (a missing key is an InputError, not a KeyError later)."""
    meta = read_json_object(path, "a lorakit checkpoint description")
    opt = meta.get("optimizer")
    state = meta.get("state")
    ok = (isinstance(meta.get("fingerprint"), dict) and isinstance(opt, dict)
          and isinstance(opt.get("scalars"), dict) and isinstance(opt.get("param_groups"), list)
          and isinstance(state, dict) and set(state) <= set(TrainState.__dataclass_fields__))
    if not ok:
        raise InputError(f"{path}: not a lorakit checkpoint description (needs fingerprint, state "
                         f"({', '.join(TrainState.__dataclass_fields__)}) and optimizer scalars/param_groups)")
    return meta


def load_checkpoint(path: Path, model: Any, optimizer: Any, fingerprint: dict[str, Any]) -> TrainState:
    """Restore trainable tensors, optimizer and RNG state; refuse a checkpoint of another run."""
    import torch

    meta = _read_meta(path / CHECKPOINT_META)
    saved = meta["fingerprint"]
    diffs = [f"{k}: {saved.get(k)!r} (checkpoint) != {fingerprint.get(k)!r}"
             for k in sorted(set(saved) | set(fingerprint)) if saved.get(k) != fingerprint.get(k)]
    if diffs:
        raise TrainingError(f"{path}: checkpoint was made by a different run ({'; '.join(diffs)}); "
                            "rerun with the same options and data, or pass --force without --resume to start over")
    tensors = load_safetensors(path / CHECKPOINT_TENSORS)
    if "rng.cpu" not in tensors:
        raise InputError(f"{path / CHECKPOINT_TENSORS}: not a lorakit checkpoint (no rng.cpu)")
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
