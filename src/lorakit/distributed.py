"""Several processes, one training run: ranks from the launcher's environment, row sharding, reductions.

``torchrun`` and ``accelerate launch`` set RANK / WORLD_SIZE / LOCAL_RANK / LOCAL_WORLD_SIZE /
MASTER_ADDR; ``accelerate.Accelerator`` (``training.make_accelerator``) opens the process group
(gloo on CPU, NCCL on CUDA, device ``cuda:LOCAL_RANK``). Every helper here is a no-op (or the
trivial answer) in one process, so library code calls them unconditionally.

Sharding keeps the run world-size independent: every process builds the same global batch, and
process ``r`` of ``N`` with ``K`` micro-batches per step takes rows ``k*N + r :: N*K`` for micro-batch
``k`` (strided, so length-grouped batches give every process similar lengths).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def _env(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name) or default)
    except ValueError:
        return default


def world_size() -> int:
    """Processes in the run (1 without a launcher)."""
    return max(1, _env("WORLD_SIZE", 1))


def rank() -> int:
    return _env("RANK", 0)


def local_world_size() -> int:
    """Processes on this machine (they share its cores)."""
    return max(1, _env("LOCAL_WORLD_SIZE", world_size()))


def is_main() -> bool:
    """Rank 0: the one process that writes outputs, checkpoints, logs and progress."""
    return rank() == 0


def _initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def barrier() -> None:
    if _initialized():
        import torch.distributed as dist

        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (it fills a cache), then the other processes (they read it)."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def all_reduce_sum(values: list[float], device: "torch.device | str" = "cpu") -> list[float]:
    """``values`` summed over the processes (in float64, so the order of the sum hardly matters)."""
    if not _initialized():
        return list(values)
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def micro_rows(n_rows: int, accum: int, world: int | None = None, rank_: int | None = None) -> list[list[int]]:
    """This process's rows of a global batch of ``n_rows``, one list per micro-batch (some may be empty).

    Micro-batch ``k`` of process ``r`` is part ``k*N + r`` of ``N*K`` strided parts; over all
    processes and micro-batches every row is taken exactly once.
    """
    world = world_size() if world is None else world
    r = rank() if rank_ is None else rank_
    parts = world * accum
    return [list(range(k * world + r, n_rows, parts)) for k in range(accum)]


def gather_to_main(part: list) -> list | None:
    """Every process's ``part``, concatenated in rank order, on rank 0 (None elsewhere); ``part`` in one process.

    Opens a gloo process group when the launcher started several processes and none is open yet
    (the inference commands need one only for this), so CPU objects travel on any machine, and
    closes it again after a barrier: a group left to interpreter exit sometimes aborted a rank
    ("terminate called without an active exception") while its peer was still closing.
    """
    if world_size() == 1:
        return part
    import torch.distributed as dist

    opened = not dist.is_initialized()
    if opened:
        dist.init_process_group("gloo")
    parts: list | None = [None] * world_size() if is_main() else None
    dist.gather_object(part, parts, dst=0)
    if opened:
        dist.barrier()
        dist.destroy_process_group()
    return [x for p in parts for x in p] if parts is not None else None
