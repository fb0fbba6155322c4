"""``merge --into-base``: add merged LoRA updates to a base model's weights, one tensor at a time.

Each base shard is rewritten as a shard of the same name (so ``model.safetensors.index.json``
stays valid): the header is computed from the input header, then each tensor is copied in 1 MiB
chunks, or, when an update applies to it, read whole (plain reads, no memory map) into buffers
reused for every weight, updated and written, so peak memory is the interpreter plus the merged
factors plus three times the largest updated weight, never a shard or the model. ΔW = B A is added in float32 and cast back to the tensor's dtype; for
``fan_in_fan_out`` (GPT-2 ``Conv1D``) and embeddings the stored weight is ΔWᵀ's layout.
Besides the shards only what a model folder needs is copied (``MODEL_FILES``: configs, the shard
index, tokenizer files); everything else (pickled ``.bin`` weights, custom-code ``.py``, README…)
is left out and named in the result.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from lorakit.errors import IncompatibleError, InputError
from lorakit.io import SIZES, read_safetensors_header
from lorakit.runtime import ProgressEvent, ProgressFn, no_progress

if TYPE_CHECKING:
    from torch import Tensor

MODEL_FILES = frozenset({
    "config.json", "generation_config.json", "model.safetensors.index.json",
    # tokenizer files transformers 5 reads (fast, SentencePiece, BPE, WordPiece) and chat templates
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "tokenizer.model", "vocab.json", "merges.txt", "vocab.txt", "chat_template.jinja", "chat_template.json",
})
"""Files (besides the ``*.safetensors`` shards) copied from the base into a merged model folder."""
MODEL_DIRS = frozenset({"additional_chat_templates"})
"""Folders copied whole (transformers 5's named chat templates)."""

TORCH_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16"}
"""Stored weight dtypes a merged update can be added to."""


@dataclass
class Update:
    """A merged module's factors and how its ΔW sits in the stored weight."""

    B: "Tensor"
    A: "Tensor"
    transposed: bool
    """True for Conv1D (fan_in_fan_out) and embeddings: the weight holds (B A)ᵀ."""


class Buffers:
    """Work buffers sized for the largest updated weight, reused for every weight (so the allocator,
    whose free lists otherwise fragment with repeated ~10 MB allocations, holds them once)."""

    def __init__(self, updates: Mapping[str, Update]) -> None:
        import torch

        n = max((u.B.shape[0] * u.A.shape[1] for u in updates.values()), default=0)
        self.raw = bytearray(8 * n)
        self.delta = torch.empty(n, dtype=torch.float32)
        self.total = torch.empty(n, dtype=torch.float32)


def _write_shard(src: Path, dst: Path, updates: Mapping[str, Update], done: set[str], buffers: Buffers) -> None:
    import torch

    header, start = read_safetensors_header(src)
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
        begin, end = header[k]["data_offsets"]
        if end - begin != n:
            raise InputError(f"{src}: not a readable safetensors file ({k} has {end - begin} bytes for shape {header[k]['shape']})")
        out_header[k] = {"dtype": header[k]["dtype"], "shape": header[k]["shape"], "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(out_header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with src.open("rb") as fh, dst.open("wb") as out:
        out.write(struct.pack("<Q", len(blob)) + blob)
        for k in names:
            begin, end = header[k]["data_offsets"]
            fh.seek(start + begin)
            module = k.removesuffix(".weight")
            if not (k.endswith(".weight") and module in updates):
                _copy_bytes(fh, out, end - begin, src)
                continue
            dtype = TORCH_DTYPES.get(header[k]["dtype"])
            if dtype is None:
                raise IncompatibleError(f"{src}: {k} is {header[k]['dtype']}, not a float weight a LoRA update can be added to")
            u = updates[module]
            shape = tuple(header[k]["shape"])
            want = (u.A.shape[1], u.B.shape[0]) if u.transposed else (u.B.shape[0], u.A.shape[1])
            if want != shape:
                raise IncompatibleError(f"{module}: ΔW is {want} but the base weight is {shape}")
            raw = memoryview(buffers.raw)[: end - begin]
            if fh.readinto(raw) != len(raw):
                raise InputError(f"{src}: not a readable safetensors file (truncated at {k})")
            # weight + ΔW in float32, cast back to the weight's dtype: all in the reused buffers
            numel = u.B.shape[0] * u.A.shape[1]
            t = torch.frombuffer(raw, dtype=getattr(torch, dtype), count=numel).view(shape)
            delta = torch.matmul(u.B.float(), u.A.float(), out=buffers.delta[:numel].view(u.B.shape[0], u.A.shape[1]))
            total = buffers.total[:numel].view(shape)
            total.copy_(t)
            total.add_(delta.T if u.transposed else delta)
            t.copy_(total)
            done.add(module)
            out.write(raw)


def _copy_bytes(src: BinaryIO, dst: BinaryIO, n: int, path: Path) -> None:
    """Copy ``n`` bytes in 1 MiB chunks (a tensor without an update is copied as stored)."""
    while n > 0:
        chunk = src.read(min(n, 1 << 20))
        if not chunk:
            raise InputError(f"{path}: not a readable safetensors file (truncated)")
        dst.write(chunk)
        n -= len(chunk)


@dataclass
class IntoBaseResult:
    shards: list[str]
    """The rewritten shards' names."""
    left_out: list[str]
    """The base's other entries not copied (a folder's name ends in ``/``)."""


def copy_model_files(base: Path, folder: Path) -> list[str]:
    """Copy the base's ``MODEL_FILES`` and ``MODEL_DIRS`` into ``folder``; the names of what else is there
    (shards and the base's own lorakit.json, which the output replaces, not counted)."""
    left_out = []
    for f in sorted(base.iterdir()):
        if f.is_file() and (f.suffix == ".safetensors" or f.name == "lorakit.json"):
            continue
        if f.is_file() and f.name in MODEL_FILES:
            shutil.copy2(f, folder / f.name)
        elif f.is_dir() and f.name in MODEL_DIRS:
            shutil.copytree(f, folder / f.name)
        else:
            left_out.append(f.name + ("/" if f.is_dir() else ""))
    return left_out


def merge_into_base(base: Path, folder: Path, updates: Mapping[str, Update], progress: ProgressFn = no_progress) -> IntoBaseResult:
    """Write base + ΔW into ``folder`` (being built): model files copied, shards rewritten."""
    shards = sorted(base.glob("*.safetensors"))
    left_out = copy_model_files(base, folder)
    done: set[str] = set()
    buffers = Buffers(updates)
    for i, shard in enumerate(shards, start=1):
        _write_shard(shard, folder / shard.name, updates, done, buffers)
        progress(ProgressEvent("into-base", i, len(shards)))
    missing = sorted(set(updates) - done)
    if missing:
        raise IncompatibleError(f"{base}: no weight {missing[0]}.weight for the adapter's module "
                                f"({len(missing)} missing; a tied or renamed weight?)")
    return IntoBaseResult([s.name for s in shards], left_out)
