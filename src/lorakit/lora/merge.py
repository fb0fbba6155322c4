"""``lorakit merge``: the streaming driver over the maths of :mod:`lorakit.lora.merge_math`.

Each module of every input is read, merged and written before the next is read. The
factor-space and exact methods (``uniform``, ``linear``, ``cat``, ``task-arithmetic``) run on
float64 NumPy arrays without importing torch (its import alone is ~280 MiB of RSS, more than the
adapters of a 7B model; ``task-arithmetic`` widens the stored factors as it concatenates them);
the elementwise methods and ``--peft-compat`` run on torch. Peak memory
is about the interpreter, one module's work and the output file's header, whatever the number
of modules.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorakit.errors import UsageError
from lorakit.io import atomic_dir, check_output, path_problems, write_json, provenance
from lorakit.lora.merge_math import DENSE_METHODS, EXACT_METHODS, FACTOR_METHODS, METHODS, RECOMPRESS_METHODS, Factors, merge_module
from lorakit.runtime import ProgressEvent, ProgressFn, finite_problems, jsonable, no_progress

if TYPE_CHECKING:
    from torch import Tensor

    from lorakit.lora.adapters import Adapter

DTYPES = ("auto", "float32", "bfloat16", "float16")
COMMAND = "merge"


@dataclass
class MergeConfig:
    adapters: list[Path]
    """PEFT adapter folders (safetensors)."""
    out: Path
    """Output adapter folder."""
    method: str = "uniform"
    """How to merge (svd: an alias of task-arithmetic)."""
    weights: list[float] | None = None
    """Comma-separated weights, one per adapter, negative allowed (default: 1/N for uniform/linear, 1 otherwise)."""
    rank: int | None = None
    """Target rank where the method re-factorises (default: the largest input rank)."""
    density: float | None = None
    """Fraction of entries kept by ties / dare-* / magnitude-prune."""
    seed: int = 0
    dtype: str = "auto"
    """Output dtype (auto: the inputs' if they agree, else float32)."""
    peft_compat: bool = False
    """Reproduce PEFT add_weighted_adapter's factor-space arithmetic (linear, ties, dare-*, magnitude-prune)."""
    allow_different_bases: bool = False
    """Merge adapters whose base_model_name_or_path or recorded base differ, or whose lorakit.json records
    another base than --into-base (shapes must still match)."""
    into_base: Path | None = None
    """Write a full model folder: this base (HF folder) + the merged update, streamed tensor by tensor."""
    force: bool = False

    def validate(self) -> None:
        problems = finite_problems(self)
        if self.method not in METHODS:
            problems.append(f"--method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if not self.adapters:
            problems.append("give at least one ADAPTER folder")
        if self.weights is not None:
            if len(self.weights) != len(self.adapters):
                problems.append(f"--weights has {len(self.weights)} value(s) for {len(self.adapters)} adapter(s)")
            if self.method == "uniform":
                problems.append("--method uniform takes no --weights (use --method linear)")
        if self.rank is not None and self.rank < 1:
            problems.append(f"--rank must be at least 1, not {self.rank}")
        if self.method in DENSE_METHODS:
            if self.density is None:
                problems.append(f"--method {self.method} needs --density (the fraction of entries kept)")
            elif not 0 < self.density <= 1:
                problems.append(f"--density must be in (0, 1], not {self.density}")
        elif self.density is not None:
            problems.append(f"--density applies to {', '.join(DENSE_METHODS)} only")
        if self.peft_compat and self.method in EXACT_METHODS:
            problems.append(f"--peft-compat applies to {', '.join(FACTOR_METHODS + DENSE_METHODS)} (PEFT's {self.method} is already exact)")
        if self.rank is not None and (self.method in FACTOR_METHODS + ("cat",) or self.peft_compat):
            problems.append(f"--rank does not apply to --method {self.method}{' --peft-compat' if self.peft_compat else ''} (the rank is the inputs')")
        if self.dtype not in DTYPES:
            problems.append(f"--dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        problems += path_problems({"--out": self.out}, {"ADAPTERS": list(self.adapters), "--into-base": self.into_base})
        if problems:
            raise UsageError("; ".join(problems))

    def resolved_weights(self) -> list[float]:
        if self.weights is not None:
            return list(self.weights)
        n = len(self.adapters)
        return [1.0 / n] * n if self.method in FACTOR_METHODS else [1.0] * n


@dataclass
class MergeResult:
    out: Path
    method: str
    weights: list[float]
    modules: int
    ranks: dict[str, int]
    truncation_errors: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    input_bytes: int = 0
    left_out: list[str] = field(default_factory=list)
    """``--into-base``: the base's files not copied into the model folder (see ``merge_base.MODEL_FILES``)."""

    def summary(self) -> dict[str, Any]:
        errs = list(self.truncation_errors.values())
        return {"out": str(self.out), "method": self.method, "weights": self.weights, "modules": self.modules,
                "rank": max(self.ranks.values()), "max_truncation_error": max(errs) if errs else None,
                "left_out": self.left_out, "seconds": round(self.seconds, 3)}


def _dtype(name: str, adapters: Sequence["Adapter"]) -> str:
    """The output dtype's name: ``auto`` is the inputs' when they agree, else float32."""
    if name == "auto":
        found = {a.dtype for a in adapters}
        name = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}.get(found.pop(), "float32") if len(found) == 1 else "float32"
    return name


def needs_torch(cfg: MergeConfig) -> bool:
    """Whether this merge computes with torch (elementwise methods, --peft-compat) or NumPy (the rest)."""
    return cfg.peft_compat or cfg.method in DENSE_METHODS


def merge_adapters(cfg: MergeConfig, progress: ProgressFn = no_progress, opened: Sequence["Adapter"] | None = None
                   ) -> MergeResult:
    """Merge ``cfg.adapters`` module by module and write a PEFT folder with lorakit.json to ``cfg.out``.

    ``opened``: those adapters already open (``route --save-merged``), used instead of opening them again.

    Each module's factors are read, merged and written (appended to the output file, or kept as
    float32 factors for ``--into-base``) before the next module is read. The NumPy methods use
    NumPy's BLAS threads, which follow ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` when NumPy is
    first imported (the CLI sets them from ``--threads``).
    """
    import numpy as np

    from lorakit.lora.adapters import WEIGHTS, TensorWriter, adapter_config, check_mergeable, module_union, open_adapter, write_config
    from lorakit.lora.merge_base import Update, merge_into_base
    from lorakit.models.fingerprint import check_base
    from lorakit.models.load import check_model_dir

    # 1) checks before any work
    start = time.perf_counter()
    cfg.validate()
    check_output(cfg.out, cfg.force)
    if cfg.into_base is not None:
        check_model_dir(cfg.into_base, "base model")
    adapters = list(opened) if opened is not None else [open_adapter(p) for p in cfg.adapters]
    base = check_mergeable(adapters, cfg.allow_different_bases)
    if cfg.into_base is not None:
        for a in adapters:
            check_base(a.path, a.base_record, cfg.into_base, cfg.allow_different_bases)
    weights = cfg.resolved_weights()
    names = module_union(adapters)
    out_dtype = _dtype(cfg.dtype, adapters)
    if needs_torch(cfg):
        import torch

        def read(a: "Adapter", name: str) -> Factors:
            return a.factors(name, torch.float32)

        if cfg.peft_compat:
            torch.manual_seed(cfg.seed)
    else:
        widen = cfg.method not in RECOMPRESS_METHODS  # those widen as they concatenate

        def read(a: "Adapter", name: str) -> Factors:
            return a.arrays(name, widen)  # float64 (exact), or as stored

    # 2) stream: one module of every input at a time, written before the next is read
    ranks: dict[str, int] = {}
    errors: dict[str, float] = {}
    updates: dict[str, Update] = {}
    result = MergeResult(Path(cfg.out), cfg.method, weights, len(names), ranks, errors,
                         input_bytes=sum(a.nbytes for a in adapters))
    with atomic_dir(cfg.out, force=cfg.force) as tmp:
        tensor_names = [t for n in names for t in next(a for a in adapters if n in a.modules).modules[n].tensor_names()]
        writer = TensorWriter(tmp / WEIGHTS, out_dtype, tensor_names) if cfg.into_base is None else None
        for step, name in enumerate(names, start=1):
            present = [(a, w) for a, w in zip(adapters, weights) if name in a.modules]
            parts = [(*read(a, name), a.modules[name].scaling) for a, _ in present]
            mod_weights = [w for _, w in present]
            if cfg.method in FACTOR_METHODS and not cfg.peft_compat and len(present) < len(adapters):
                m = present[0][0].modules[name]
                absent = [w for a, w in zip(adapters, weights) if name not in a.modules]
                zero = (np.zeros((m.out_features, 1)), np.zeros((1, m.in_features)), 1.0)
                parts, mod_weights = parts + [zero] * len(absent), mod_weights + absent
            res = merge_module(cfg.method, name, parts, mod_weights, cfg.rank, cfg.density, cfg.seed, cfg.peft_compat)
            del parts
            first = present[0][0]
            if writer is not None:
                for tensor_name, t in zip(first.modules[name].tensor_names(), (res.B, res.A)):
                    writer.add(tensor_name, t)
            else:
                transposed = first.modules[name].kind == "embedding" or first.fan_in_fan_out
                updates[name] = Update(_float32(res.B), _float32(res.A), transposed)
            ranks[name] = res.rank
            if res.truncation_error is not None:
                errors[name] = res.truncation_error
            del res
            progress(ProgressEvent("merge", step, len(names)))

        # 3) save: PEFT folder (r == lora_alpha) or the full model, + lorakit.json
        if writer is not None:
            writer.close()
            write_config(tmp, adapter_config(adapters[0].config, ranks, base, any(a.fan_in_fan_out for a in adapters)))
        else:
            result.left_out = merge_into_base(Path(cfg.into_base), tmp, updates, progress).left_out
        result.seconds = time.perf_counter() - start
        record = provenance(COMMAND, jsonable(asdict(cfg)), cfg.adapters, cfg.seed)
        record["merge"] = {"method": cfg.method, "weights": weights, "peft_compat": cfg.peft_compat,
                           "into_base": str(cfg.into_base) if cfg.into_base else None, "left_out": result.left_out,
                           "base_model_name_or_path": base, "dtype": out_dtype,
                           "modules": {n: {"rank": ranks[n], **({"truncation_error": errors[n]} if n in errors else {})}
                                       for n in names}}
        record["result"] = result.summary()
        write_json(tmp / "lorakit.json", record)
    return result


def _float32(t: Any) -> "Tensor":
    """A merged factor as a float32 torch tensor (for ``--into-base``)."""
    import numpy as np
    import torch

    return torch.from_numpy(t.astype(np.float32)) if isinstance(t, np.ndarray) else t.float()
