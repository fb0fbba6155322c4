"""Device and dtype choice (CUDA > MPS > CPU), seeding, threads, quiet third-party libraries.

Imports torch lazily so that importing this module stays cheap for ``--help``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lorakit.errors import UsageError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class ProgressEvent:
    """What library code reports while it works; the CLI renders it (Rich bar on stderr)."""

    task: str
    step: int
    total: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    message: str | None = None


ProgressFn = Callable[[ProgressEvent], None]


def no_progress(event: ProgressEvent) -> None:
    """Default progress callback: ignore."""


def finite_problems(cfg: Any) -> list[str]:
    """One problem per float option of a config dataclass (or list of floats) holding NaN or ±inf.

    Every config's ``validate()`` starts with it: a number that enters lorakit is finite.
    """
    problems = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):  # a composed part (``EvalConfig.routing``)
            problems += finite_problems(value)
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            shown = ",".join(map(str, values)) if isinstance(value, (list, tuple)) else str(value)
            problems.append(f"--{f.name.replace('_', '-')} must be a finite number, not {shown}")
    return problems


def resolve_device(name: str = "auto") -> "torch.device":
    """``auto`` picks CUDA, then MPS, then CPU; an unavailable explicit choice is a usage error."""
    import torch

    if name not in DEVICES:
        raise UsageError(f"--device must be one of {', '.join(DEVICES)}, not {name!r}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("--device mps: MPS is not available")
    return torch.device(name)


def autocast_dtype(device: "torch.device") -> "torch.dtype | None":
    """bf16 autocast on GPUs that support it; ``None`` (fp32) elsewhere."""
    import torch

    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)


def set_threads(n: int | None = None) -> int:
    """Use the cores actually available (oversubscription costs ~30x on shared machines).

    Under a launcher (torchrun, accelerate launch) the processes on one machine share its cores.
    """
    import torch

    if n is None:
        from lorakit.distributed import local_world_size

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        n = max(1, cores // local_world_size())
    torch.set_num_threads(max(1, n))
    return n


def quiet_libraries() -> None:
    """Silence transformers/peft/datasets progress bars, warnings and hub chatter."""
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*generation flags.*")
    try:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass
    try:
        import datasets

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass


def jsonable(obj: Any) -> Any:
    """Options as JSON: paths and enums to strings."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)
