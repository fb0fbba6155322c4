"""A GGUF checkpoint (llama.cpp's file format) as a Hugging Face model folder.

transformers reads a GGUF file with the ``gguf`` package (``from_pretrained(folder,
gguf_file=name)``): it dequantises every tensor to float and builds the config, the tokenizer (chat
template included) and the generation config from the file's metadata. It refuses to
``save_pretrained`` that model ("quantized with gguf and not serializable"), so its state dict moves
into a plain model of the same config, which saves as safetensors like any other. ``lorakit.json``
records the GGUF's sha256 and quantisation: the folder's weights are the dequantised ones, not the
original float checkpoint the GGUF was quantised from.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lorakit.errors import IncompatibleError, InputError, UsageError
from lorakit.io import atomic_dir, check_output, path_problems, provenance, write_json
from lorakit.runtime import ProgressEvent, ProgressFn, finite_problems, jsonable, no_progress

COMMAND = "convert"
MAGIC = b"GGUF"
DTYPES = ("float32", "bfloat16", "float16")
EXTRA = "pip install 'lorakit[gguf]'"


@dataclass
class ConvertConfig:
    gguf: Path
    """A GGUF file (llama.cpp's format), e.g. a Q4_1 SmolLM2."""
    out: Path
    """Output model folder."""
    dtype: str = "float32"
    """dtype of the written weights (dequantised from the GGUF's types to float32 first)."""
    force: bool = False

    def validate(self) -> None:
        problems = finite_problems(self)
        if self.dtype not in DTYPES:
            problems.append(f"--dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        problems += path_problems({"--out": self.out}, {"GGUF": self.gguf})
        if problems:
            raise UsageError("; ".join(problems))


@dataclass
class GgufInfo:
    """What the GGUF's header says: architecture, name, file type, the type of each tensor."""

    architecture: str
    name: str | None
    file_type: str | None
    """llama.cpp's ``general.file_type`` (``MOSTLY_Q4_1``): the type most tensors were quantised to."""
    tensor_types: dict[str, int]
    """Tensor count per GGML type (``{"Q4_1": 210, "F32": 61, "Q8_0": 1}``)."""


@dataclass
class ConvertResult:
    out: Path
    info: GgufInfo
    model_class: str
    parameters: int
    dtype: str
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"out": str(self.out), "architecture": self.info.architecture, "model_class": self.model_class,
                "parameters": self.parameters, "quantization": self.info.file_type,
                "tensor_types": self.info.tensor_types, "dtype": self.dtype, "files": self.files,
                "seconds": round(self.seconds, 3)}


# checks ------------------------------------------------------------------------------------------


def require_gguf() -> Any:
    """The ``gguf`` module, or IncompatibleError (exit 5) naming the extra that installs it."""
    try:
        import gguf
    except ImportError:
        raise IncompatibleError(f"reading GGUF files needs the gguf package: {EXTRA}") from None
    return gguf


def check_gguf_file(path: Path) -> None:
    """A readable file starting with the GGUF magic, or InputError (exit 3)."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file (expected a .gguf file)")
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    if magic != MAGIC:
        raise InputError(f"{path}: not a GGUF file (starts with {magic!r}, not {MAGIC!r})")


def read_gguf_info(path: Path) -> GgufInfo:
    """Architecture, name, file type and tensor types from the GGUF header (no tensor is dequantised)."""
    gguf = require_gguf()
    try:
        reader = gguf.GGUFReader(str(path))
    except (ValueError, OSError, IndexError, KeyError) as e:  # truncated or malformed
        raise InputError(f"{path}: not a readable GGUF file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None

    def field_value(key: str) -> Any:
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    architecture = field_value("general.architecture")
    if not isinstance(architecture, str):
        raise InputError(f"{path}: not a readable GGUF file (no general.architecture)")
    file_type = field_value("general.file_type")
    try:
        file_type = gguf.LlamaFileType(file_type).name if file_type is not None else None
    except ValueError:
        file_type = str(file_type)
    types = Counter(t.tensor_type.name for t in reader.tensors)
    return GgufInfo(architecture, field_value("general.name"), file_type, dict(types.most_common()))


def check_architecture(info: GgufInfo, path: Path) -> None:
    """IncompatibleError (exit 5) for an architecture transformers' GGUF loader does not know."""
    try:
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES
    except ImportError:  # the loader's own error is mapped below
        return
    if info.architecture not in GGUF_SUPPORTED_ARCHITECTURES:
        raise IncompatibleError(f"{path}: transformers cannot load GGUF architecture {info.architecture!r} "
                                f"(it loads {', '.join(sorted(GGUF_SUPPORTED_ARCHITECTURES))})")


# the conversion ----------------------------------------------------------------------------------


@contextmanager
def _no_tqdm() -> Iterator[None]:
    """Silence the tqdm bar transformers' GGUF loader draws on stderr whatever its logging says."""
    import functools

    from transformers import modeling_gguf_pytorch_utils as loader

    real = loader.tqdm
    loader.tqdm = functools.partial(real, disable=True)
    try:
        yield
    finally:
        loader.tqdm = real


def load_gguf(path: Path) -> tuple[Any, Any]:
    """The float model (dequantised, float32) and tokenizer transformers builds from a GGUF file."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = dict(pretrained_model_name_or_path=str(path.parent), gguf_file=path.name, local_files_only=True)
    try:
        tok = AutoTokenizer.from_pretrained(**where)
        with _no_tqdm():
            model = AutoModelForCausalLM.from_pretrained(**where, dtype=torch.float32)
    except ValueError as e:  # architecture, tokenizer type or model class it has no mapping for
        raise IncompatibleError(f"{path}: transformers cannot load this GGUF ({str(e).splitlines()[0]})") from None
    tok.init_kwargs.pop("local_files_only", None)  # an option of this load, not of the tokenizer
    return model, tok


def plain_copy(model: Any, dtype: str) -> Any:
    """A model of ``model``'s config that ``save_pretrained`` accepts, holding ``model``'s tensors
    (moved, not copied: the parameters are built empty and take the state dict's tensors)."""
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):  # {"quant_method": "gguf"}: the saved weights are plain floats
        del config.quantization_config
    with init_empty_weights(include_buffers=False):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict(), assign=True, strict=True)
    plain.tie_weights()
    plain.generation_config = model.generation_config
    return plain.to(getattr(torch, dtype)).eval()


def convert_gguf(cfg: ConvertConfig, progress: ProgressFn = no_progress) -> ConvertResult:
    """Write ``cfg.gguf`` as an HF model folder at ``cfg.out``: safetensors, config, generation
    config, tokenizer with its chat template, and lorakit.json (sha256 and quantisation of the GGUF)."""
    # 1) checks before any work: options, output, the extra, the file, the architecture
    start = time.perf_counter()
    cfg.validate()
    check_output(cfg.out, cfg.force)
    require_gguf()
    check_gguf_file(cfg.gguf)
    info = read_gguf_info(cfg.gguf)
    check_architecture(info, cfg.gguf)

    # 2) load: transformers dequantises; a plain model takes the tensors
    progress(ProgressEvent("convert", 0, 3, message=f"reading {cfg.gguf} ({info.architecture}, {info.file_type})"))
    model, tok = load_gguf(cfg.gguf)
    progress(ProgressEvent("convert", 1, 3))
    plain = plain_copy(model, cfg.dtype)
    del model
    progress(ProgressEvent("convert", 2, 3))

    # 3) save: model, tokenizer, lorakit.json
    result = ConvertResult(cfg.out, info, type(plain).__name__, sum(p.numel() for p in plain.parameters()), cfg.dtype)
    with atomic_dir(cfg.out, force=cfg.force) as tmp:
        plain.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        result.files = sorted([*(p.name for p in tmp.iterdir()), "lorakit.json"])
        result.seconds = time.perf_counter() - start
        record = provenance(COMMAND, jsonable(asdict(cfg)), [cfg.gguf])
        record["gguf"] = {"file": cfg.gguf.name, "sha256": record["inputs"][0]["sha256"], **asdict(info)}
        record["weights"] = {"dequantized": True, "dtype": cfg.dtype, "model_class": result.model_class,
                             "parameters": result.parameters,
                             "note": f"dequantised from the GGUF's {info.file_type or 'quantised'} tensors: "
                                     "not the float checkpoint the GGUF was made from"}
        record["result"] = result.summary()
        write_json(tmp / "lorakit.json", record)
    progress(ProgressEvent("convert", 3, 3))
    return result
