"""``merge --into-base``: add merged LoRA updates to a base model's weights, one tensor at a time.

Each base shard is rewritten as a shard of the same name (so ``model.safetensors.index.json``
stays valid): the header is computed from the input header, then tensors are read, updated and
written one by one, so peak memory is about the largest tensor plus the merged factors, never a
shard or the model. ΔW = B A is added in float32 and cast back to the tensor's dtype; for
``fan_in_fan_out`` (GPT-2 ``Conv1D``) and embeddings the stored weight is ΔWᵀ's layout.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lorakit.errors import IncompatibleError, InputError
from lorakit.runtime import ProgressEvent, ProgressFn, no_progress

if TYPE_CHECKING:
    from torch import Tensor

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
         "F8_E4M3": 1, "F8_E5M2": 1}


@dataclass
class Update:
    """A merged module's factors and how its ΔW sits in the stored weight."""

    B: "Tensor"
    A: "Tensor"
    transposed: bool
    """True for Conv1D (fan_in_fan_out) and embeddings: the weight holds (B A)ᵀ."""


def _header(path: Path) -> tuple[dict, int]:
    with path.open("rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise InputError(f"{path}: not a safetensors file")
        (n,) = struct.unpack("<Q", raw)
        try:
            return json.loads(fh.read(n)), 8 + n
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(f"{path}: not a safetensors file (bad header)") from None


def _write_shard(src: Path, dst: Path, updates: Mapping[str, Update], done: set[str]) -> None:
    import torch
    from safetensors import SafetensorError, safe_open

    header, _ = _header(src)
    meta = header.pop("__metadata__", None)
    names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
    out_header: dict = {"__metadata__": meta} if meta else {}
    offset = 0
    for k in names:
        size = SIZES.get(header[k]["dtype"])
        if size is None:
            raise InputError(f"{src}: unsupported dtype {header[k]['dtype']} for {k}")
        n = size
        for d in header[k]["shape"]:
            n *= d
        out_header[k] = {"dtype": header[k]["dtype"], "shape": header[k]["shape"], "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(out_header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    try:
        with safe_open(str(src), framework="pt") as fh, dst.open("wb") as out:
            out.write(struct.pack("<Q", len(blob)) + blob)
            for k in names:
                t = fh.get_tensor(k)
                module = k.removesuffix(".weight")
                if k.endswith(".weight") and module in updates:
                    u = updates[module]
                    delta = u.B.float() @ u.A.float()
                    delta = delta.T if u.transposed else delta
                    if tuple(delta.shape) != tuple(t.shape):
                        raise IncompatibleError(f"{module}: ΔW is {tuple(delta.shape)} but the base weight is {tuple(t.shape)}")
                    t = (t.float() + delta).to(t.dtype)
                    done.add(module)
                out.write(memoryview(t.contiguous().reshape(-1).view(torch.uint8).numpy()))
    except SafetensorError as e:
        raise InputError(f"{src}: not a readable safetensors file ({e})") from None


def merge_into_base(base: Path, folder: Path, updates: Mapping[str, Update], progress: ProgressFn = no_progress) -> list[str]:
    """Write base + ΔW into ``folder`` (being built): every file copied, shards rewritten; the shard names."""
    shards = sorted(base.glob("*.safetensors"))
    for f in base.iterdir():
        if f.is_file() and f.suffix != ".safetensors" and f.name != "lorakit.json":
            shutil.copy2(f, folder / f.name)
    done: set[str] = set()
    for i, shard in enumerate(shards, start=1):
        _write_shard(shard, folder / shard.name, updates, done)
        progress(ProgressEvent("into-base", i, len(shards)))
    missing = sorted(set(updates) - done)
    if missing:
        raise IncompatibleError(f"{base}: no weight {missing[0]}.weight for the adapter's module "
                                f"({len(missing)} missing; a tied or renamed weight?)")
    return [s.name for s in shards]
