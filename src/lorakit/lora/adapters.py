"""PEFT LoRA adapter folders read and written without a base model.

An adapter folder is ``adapter_config.json`` + ``adapter_model.safetensors``. Reading parses the
config and the safetensors header (names, shapes, dtypes, offsets) up front without torch, then
reads one module's factors at a time: ``factors`` as torch tensors (through ``safe_open``),
``arrays`` as float64 NumPy arrays read straight from their byte ranges (torch-free: the exact
merge methods run without importing torch, whose import alone is ~280 MiB RSS), so a merge holds
about one module per input in memory. Writing streams too (``TensorWriter``). Everything that cannot be merged linearly is refused with one clear line:
DoRA, ``lora_bias``, trained biases, full-weight copies (``modules_to_save``), PiSSA-style
inits (relative to a modified base), conv LoRAs, pickled ``.bin`` folders, corrupt files.

Conventions: a module's factors are ``B`` (out × r) and ``A`` (r × in); ΔW = scaling · B A in
the ``nn.Linear`` layout (out × in). ``fan_in_fan_out`` (GPT-2 ``Conv1D``) only transposes ΔW
when it is added to the stored weight; the factors themselves have the same layout, so merging
in factor space does not depend on it. Embedding LoRAs (``lora_embedding_A/B``) follow the same
factor algebra (PEFT adds (B A)ᵀ to the embedding matrix) and are merged the same way.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lorakit.errors import IncompatibleError, InputError
from lorakit.io import read_json_object, read_safetensors_header
from lorakit.models.fingerprint import base_record
from lorakit.models.load import check_adapter_dir

if TYPE_CHECKING:
    import numpy as np
    import torch

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
PREFIX = "base_model.model."
SUFFIXES: dict[str, tuple[str, Literal["A", "B"], Literal["linear", "embedding"]]] = {
    ".lora_A.weight": (".lora_A.weight", "A", "linear"),
    ".lora_B.weight": (".lora_B.weight", "B", "linear"),
    ".lora_embedding_A": (".lora_embedding_A", "A", "embedding"),
    ".lora_embedding_B": (".lora_embedding_B", "B", "embedding"),
}
MUTATED_INITS = ("pissa", "olora", "corda", "loftq", "lora_ga", "eva")
"""init_lora_weights values whose saved adapter is relative to a modified base (unless converted)."""
FLOATS = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2"}
"""NumPy dtypes the factors are read as (bfloat16 as its raw 16 bits, widened by ``_bf16_to_f32``)."""


@dataclass(frozen=True)
class LoraModule:
    """One adapted module: where its factors are stored and how PEFT scales them."""

    name: str
    """Module path as PEFT matches it (``model.layers.0.self_attn.q_proj``)."""
    key: str
    """Tensor-name stem in the file (usually ``base_model.model.`` + name)."""
    kind: Literal["linear", "embedding"]
    r: int
    alpha: float
    scaling: float
    out_features: int
    in_features: int

    def tensor_names(self) -> tuple[str, str]:
        """(B name, A name)."""
        if self.kind == "embedding":
            return f"{self.key}.lora_embedding_B", f"{self.key}.lora_embedding_A"
        return f"{self.key}.lora_B.weight", f"{self.key}.lora_A.weight"


@dataclass
class Adapter:
    """An opened adapter folder: config, module table, lazy access to factors."""

    path: Path
    config: dict[str, Any]
    modules: dict[str, LoraModule]
    dtype: str
    nbytes: int
    fingerprint: str | None = None
    """Base fingerprint (config + safetensors headers) recorded by ``train-lora`` in lorakit.json, when present."""
    weights_sha256: str | None = None
    """sha256 of the base's weights recorded by ``train-lora`` (``models.fingerprint``), when present."""
    spans: dict[str, tuple[str, tuple[int, ...], int, int]] = field(default_factory=dict)
    """Tensor name -> (dtype, shape, first byte, end byte) in the weights file."""

    @property
    def base(self) -> str | None:
        return self.config.get("base_model_name_or_path")

    @property
    def base_record(self) -> dict[str, str | None]:
        """What lorakit.json records of the base (for ``models.fingerprint.check_base``)."""
        return {"fingerprint": self.fingerprint, "weights_sha256": self.weights_sha256}

    @property
    def fan_in_fan_out(self) -> bool:
        return bool(self.config.get("fan_in_fan_out"))

    def factors(self, name: str, dtype: "torch.dtype | None" = None) -> tuple["torch.Tensor", "torch.Tensor"]:
        """(B, A) of one module, unscaled; non-finite values raise InputError."""
        import torch
        from safetensors import SafetensorError, safe_open

        m = self.modules[name]
        b_name, a_name = m.tensor_names()
        try:
            with safe_open(str(self.path / WEIGHTS), framework="pt") as fh:
                B, A = fh.get_tensor(b_name), fh.get_tensor(a_name)
        except (SafetensorError, OSError) as e:
            raise InputError(f"{self.path / WEIGHTS}: cannot read {name} ({e})") from None
        for t, n in ((B, b_name), (A, a_name)):
            if not torch.isfinite(t).all():
                raise InputError(f"{self.path / WEIGHTS}: non-finite values (NaN/inf) in {n}")
        if dtype is not None:
            B, A = B.to(dtype), A.to(dtype)
        return B, A

    def arrays(self, name: str, widen: bool = True) -> tuple["np.ndarray", "np.ndarray"]:
        """(B, A) of one module as float64 NumPy arrays, unscaled (torch-free); non-finite values raise InputError.

        The values equal ``factors(name, torch.float64)`` exactly (every stored float widens exactly).
        ``widen=False``: as stored (BF16 as float32), for a caller that widens them as it copies them.
        """
        import numpy as np

        out = []
        for n in self.modules[name].tensor_names():
            dtype, shape, begin, end = self.spans[n]
            if dtype not in FLOATS:
                raise InputError(f"{self.path / WEIGHTS}: {n} has dtype {dtype}; LoRA factors must be F64/F32/F16/BF16")
            try:
                with (self.path / WEIGHTS).open("rb") as fh:
                    fh.seek(begin)
                    raw = fh.read(end - begin)
            except OSError as e:
                raise InputError(f"{self.path / WEIGHTS}: cannot read {name} ({e})") from None
            if len(raw) != end - begin:
                raise InputError(f"{self.path / WEIGHTS}: not a readable safetensors file (truncated at {n})")
            t = np.frombuffer(raw, dtype=FLOATS[dtype])
            t = _bf16_to_f32(t) if dtype == "BF16" else t
            if not np.isfinite(t).all():
                raise InputError(f"{self.path / WEIGHTS}: non-finite values (NaN/inf) in {n}")
            out.append((t.astype(np.float64) if widen else t).reshape(shape))
        B, A = out
        return B, A


def _bf16_to_f32(bits: "np.ndarray") -> "np.ndarray":
    """bfloat16 bit patterns (uint16) as float32: the upper half of the float32 (exact)."""
    import numpy as np

    return (bits.astype(np.uint32) << 16).view(np.float32)


def _f32_to_bf16(x: "np.ndarray") -> "np.ndarray":
    """float32 -> bfloat16 bit patterns, rounding to nearest even as torch does (finite values)."""
    import numpy as np

    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((bits + (np.uint32(0x7FFF) + ((bits >> 16) & 1))) >> 16).astype(np.uint16)


# reading ----------------------------------------------------------------------------------------


def pattern_key(patterns: Iterable[str], name: str) -> str:
    """PEFT's ``get_pattern_key``: the first pattern that matches the end of ``name``."""
    for key in patterns:
        if re.match(rf"(.*\.)?({key})$", name):
            return key
    return name


def scaling_of(config: Mapping[str, Any], name: str) -> tuple[int, float, float]:
    """(r, alpha, scaling) for module ``name`` as PEFT computes them (rank/alpha patterns, rsLoRA)."""
    rank_pattern = config.get("rank_pattern") or {}
    alpha_pattern = config.get("alpha_pattern") or {}
    r = int(rank_pattern.get(pattern_key(rank_pattern, name), config["r"]))
    alpha = float(alpha_pattern.get(pattern_key(alpha_pattern, name), config["lora_alpha"]))
    scaling = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r
    return r, alpha, scaling


def _check_config(path: Path, config: dict[str, Any]) -> None:
    def refuse(what: str) -> None:
        raise IncompatibleError(f"{path}: {what}; lorakit merges plain LoRA adapters only")

    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        refuse(f"a {config.get('peft_type')} adapter")
    if config.get("use_dora"):
        refuse("a DoRA adapter (use_dora=true) cannot be merged linearly")
    if config.get("lora_bias"):
        refuse("lora_bias=true (a trained bias on lora_B)")
    if config.get("bias", "none") != "none":
        refuse(f"bias={config['bias']!r} (trained base biases)")
    if config.get("modules_to_save"):
        refuse(f"modules_to_save={config['modules_to_save']} (full-weight copies)")
    if config.get("layer_replication") or config.get("target_parameters") or config.get("trainable_token_indices"):
        refuse("layer_replication / target_parameters / trainable_token_indices")
    init = str(config.get("init_lora_weights", True)).lower()
    if init.startswith(MUTATED_INITS):
        refuse(f"init_lora_weights={init!r} (saved relative to a modified base)")
    for k, pattern in (("r", "rank_pattern"), ("lora_alpha", "alpha_pattern")):
        values = [(k, config.get(k))] + [(f"{pattern}[{n!r}]", v) for n, v in _items(config.get(pattern))]
        for what, v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise InputError(f"{path / CONFIG}: {what} must be a positive finite number, not {v!r}")


def _items(pattern: Any) -> list[tuple[str, Any]]:
    return list(pattern.items()) if isinstance(pattern, dict) else []


def _classify(path: Path, key: str) -> tuple[str, Literal["A", "B"], Literal["linear", "embedding"]]:
    for suffix, (_, which, kind) in SUFFIXES.items():
        if key.endswith(suffix):
            return key[: -len(suffix)], which, kind
    if "lora_magnitude_vector" in key:
        raise IncompatibleError(f"{path}: a DoRA adapter ({key}) cannot be merged linearly; lorakit merges plain LoRA adapters only")
    if ".lora_B.bias" in key:
        raise IncompatibleError(f"{path}: lora_bias tensor {key}; lorakit merges plain LoRA adapters only")
    raise IncompatibleError(f"{path}: unsupported tensor {key} (only LoRA A/B factors can be merged)")


def open_adapter(path: str | Path) -> Adapter:
    """Parse and check an adapter folder (config + safetensors header); no weights are read yet."""
    p = check_adapter_dir(path)  # also: a readable header, floating-point tensors only
    config = _read_config(p)
    _check_config(p, config)
    header, start = read_safetensors_header(p / WEIGHTS)
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    found: dict[str, dict[str, Any]] = {}
    for key, info in tensors.items():
        stem, which, kind = _classify(p, key)
        found.setdefault(stem, {"kind": kind})[which] = tuple(info["shape"])
    dtypes = {info["dtype"] for info in tensors.values()}
    if not found:
        raise InputError(f"{p / WEIGHTS}: no LoRA tensors")
    modules = {}
    for stem, entry in found.items():
        name = stem[len(PREFIX):] if stem.startswith(PREFIX) else stem
        if "A" not in entry or "B" not in entry:
            raise InputError(f"{p / WEIGHTS}: {name} has only lora_{'A' if 'A' in entry else 'B'}")
        a, b = entry["A"], entry["B"]
        if len(a) != 2 or len(b) != 2:
            raise IncompatibleError(f"{p}: {name} is not a linear/embedding LoRA (factor shapes {list(b)}, {list(a)})")
        r, alpha, scaling = scaling_of(config, name)
        if not a[0] == b[1] == r:
            raise InputError(f"{p}: {name} has rank {a[0]}/{b[1]} in the weights but r={r} in {CONFIG}")
        modules[name] = LoraModule(name, stem, entry["kind"], r, alpha, scaling, out_features=b[0], in_features=a[1])
    base = base_record(p)
    dtype = dtypes.pop() if len(dtypes) == 1 else "mixed"
    spans = {k: (v["dtype"], tuple(v["shape"]), start + v["data_offsets"][0], start + v["data_offsets"][1])
             for k, v in tensors.items()}
    return Adapter(p, config, modules, dtype, (p / WEIGHTS).stat().st_size, base.get("fingerprint"),
                   base.get("weights_sha256"), spans=spans)


def _read_config(p: Path) -> dict[str, Any]:
    return read_json_object(p / CONFIG, "a PEFT adapter config")


def check_mergeable(adapters: list[Adapter], allow_different_bases: bool = False) -> str | None:
    """Same base model (by name and, when recorded, fingerprint) and same module shapes; the base name."""
    bases = {a.base for a in adapters if a.base}
    if len(bases) > 1 and not allow_different_bases:
        raise IncompatibleError(f"adapters of different base models ({', '.join(sorted(bases))}); "
                                "pass --allow-different-bases if they are the same weights")
    prints = {a.fingerprint for a in adapters if a.fingerprint}
    weights = {a.weights_sha256 for a in adapters if a.weights_sha256}
    if (len(prints) > 1 or len(weights) > 1) and not allow_different_bases:
        raise IncompatibleError("adapters trained on different base weights (lorakit.json base fingerprints differ)")
    seen: dict[str, tuple[Adapter, LoraModule]] = {}
    for a in adapters:
        for name, m in a.modules.items():
            if name in seen:
                other, om = seen[name]
                if (om.out_features, om.in_features, om.kind) != (m.out_features, m.in_features, m.kind):
                    raise IncompatibleError(
                        f"{name}: shape {om.out_features}x{om.in_features} in {other.path} but "
                        f"{m.out_features}x{m.in_features} in {a.path} (adapters of different models)")
            else:
                seen[name] = (a, m)
    return sorted(bases)[0] if bases else None


def module_union(adapters: list[Adapter]) -> list[str]:
    """Every module adapted by any input, in first-seen file order."""
    names: dict[str, None] = {}
    for a in adapters:
        names.update(dict.fromkeys(a.modules))
    return list(names)


# writing ----------------------------------------------------------------------------------------


def adapter_config(template: Mapping[str, Any], ranks: Mapping[str, int], base: str | None,
                   fan_in_fan_out: bool) -> dict[str, Any]:
    """A plain LoRA config for per-module ``ranks``: r == lora_alpha (scaling 1), no rsLoRA.

    target_modules lists the exact module names (no suffix matching that could add modules the
    inputs did not adapt); modules whose rank differs from the most common one go in
    rank_pattern / alpha_pattern.
    """
    counts: dict[int, int] = {}
    for r in ranks.values():
        counts[r] = counts.get(r, 0) + 1
    r = max(counts, key=lambda k: (counts[k], k))
    pattern = {name: rk for name, rk in ranks.items() if rk != r}
    config = dict(template)
    config.update(
        r=r, lora_alpha=r, use_rslora=False, use_dora=False, lora_bias=False, bias="none",
        rank_pattern=pattern, alpha_pattern=dict(pattern), target_modules=sorted(ranks),
        layers_to_transform=None, layers_pattern=None, exclude_modules=None, modules_to_save=None,
        init_lora_weights=True, base_model_name_or_path=base, fan_in_fan_out=fan_in_fan_out,
        inference_mode=True, peft_type="LORA",
    )
    return config


def write_config(folder: Path, config: Mapping[str, Any]) -> None:
    (folder / CONFIG).write_text(json.dumps(dict(config), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_adapter(folder: Path, config: Mapping[str, Any], tensors: Mapping[str, "torch.Tensor"]) -> None:
    """Write ``adapter_config.json`` and ``adapter_model.safetensors`` into ``folder`` (being built)."""
    from safetensors.torch import save_file

    write_config(folder, config)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / WEIGHTS), metadata={"format": "pt"})


TORCH_NAMES = {"float32": "F32", "bfloat16": "BF16", "float16": "F16", "float64": "F64"}
HEADER_ENTRY = 160
"""Header bytes reserved per tensor besides its quoted name: its dtype, a 2-D shape and two
offsets of up to 20 digits each, with the JSON around them, take at most ~130."""


class TensorWriter:
    """A safetensors file written one tensor at a time, so that nothing has to be held until the end.

    ``add`` casts a float64 NumPy array (or a torch tensor) to ``dtype`` (``float32`` / ``bfloat16``
    / ``float16``, with torch's rounding: float64 -> float32 -> the narrower type) and appends its
    bytes; ``close`` writes the header (``{"format": "pt"}`` metadata, tensors in the order added).
    Given the ``names`` to come, the data go straight into ``path`` behind room reserved for the
    header, which ``close`` fills (padded with spaces, as the format allows): the data are written
    once. Without them, or should the header outgrow its room, the data go to a spool file beside
    the target and are copied in behind the header in 1 MiB chunks.
    """

    def __init__(self, path: Path, dtype: str, names: Iterable[str] = ()) -> None:
        self.path, self.dtype = Path(path), dtype
        room = sum(len(json.dumps(n)) + HEADER_ENTRY for n in names)
        self.room = room + 64 + -(room + 64) % 8 if room else 0
        self.start = 8 + self.room if room else 0
        self.spool_path = self.path if room else self.path.with_name(self.path.name + ".data")
        self.spool = self.spool_path.open("wb")
        self.spool.seek(self.start)
        self.header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
        self.offset = 0

    def add(self, name: str, t: Any) -> None:
        import numpy as np

        if isinstance(t, np.ndarray):
            with np.errstate(over="ignore"):  # out of range -> inf, as torch casts
                x = np.ascontiguousarray(t, dtype=np.float32 if self.dtype != "float64" else np.float64)
                x = _f32_to_bf16(x) if self.dtype == "bfloat16" else x.astype(np.float16) if self.dtype == "float16" else x
        else:  # torch
            import torch

            x = t.to(getattr(torch, self.dtype)).contiguous().reshape(-1).view(torch.uint8).numpy()
        data = memoryview(np.ascontiguousarray(x)).cast("B")
        self.header[name] = {"dtype": TORCH_NAMES[self.dtype], "shape": list(t.shape),
                             "data_offsets": [self.offset, self.offset + len(data)]}
        self.spool.write(data)
        self.offset += len(data)

    def close(self) -> None:
        blob = json.dumps(self.header, separators=(",", ":")).encode()
        if self.room and len(blob) <= self.room:  # in place
            self.spool.seek(0)
            self.spool.write(struct.pack("<Q", self.room) + blob + b" " * (self.room - len(blob)))
            self.spool.close()
            return
        self.spool.close()
        blob += b" " * (-len(blob) % 8)
        spool = self.path.with_name(self.path.name + ".data")
        if self.room:  # the header outgrew its room: the data move behind a full-size one
            self.path.replace(spool)
        with self.path.open("wb") as out, spool.open("rb") as data:
            out.write(struct.pack("<Q", len(blob)) + blob)
            data.seek(self.start)
            for chunk in iter(lambda: data.read(1 << 20), b""):
                out.write(chunk)
        spool.unlink()
