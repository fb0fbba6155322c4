"""Loading models, tokenizers and adapters from local folders only.

Every path is checked before ``from_pretrained`` so that a typo fails at once with a clear
error instead of a ~26 s hub retry; loading is ``local_files_only`` and safetensors-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorakit.errors import IncompatibleError, InputError
from lorakit.io import FLOAT_DTYPES, read_safetensors_header

if TYPE_CHECKING:
    import torch


def check_model_dir(path: str | Path, what: str = "model") -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such {what} folder")
    if not p.is_dir():
        raise InputError(f"{p}: not a folder (expected a Hugging Face {what} folder)")
    if not (p / "config.json").is_file():
        raise InputError(f"{p}: not a Hugging Face {what} folder (no config.json)")
    shards = sorted(p.glob("*.safetensors"))
    if not shards:
        raise InputError(f"{p}: no *.safetensors weights (lorakit loads safetensors only)")
    for f in shards:  # truncated files and absurd headers fail here, not inside from_pretrained
        read_safetensors_header(f)
    return p


def check_adapter_dir(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise InputError(f"{p}: no such adapter folder")
    if not (p / "adapter_config.json").is_file():
        nested = [d.name for d in p.iterdir() if (d / "adapter_config.json").is_file()]
        hint = f" (found adapter(s) in subfolder(s) {', '.join(nested)}; pass one of those)" if nested else ""
        raise InputError(f"{p}: not a PEFT adapter folder (no adapter_config.json){hint}")
    if not (p / "adapter_model.safetensors").is_file():
        raise InputError(f"{p}: no adapter_model.safetensors (lorakit loads safetensors only)")
    weights = p / "adapter_model.safetensors"
    header, _ = read_safetensors_header(weights)
    for name, info in header.items():
        if name != "__metadata__" and info["dtype"] not in FLOAT_DTYPES:
            raise InputError(f"{weights}: {name} has dtype {info['dtype']}; adapter tensors must be floating point "
                             f"({'/'.join(FLOAT_DTYPES)})")
    return p


def load_tokenizer(path: str | Path) -> Any:
    from transformers import AutoTokenizer

    p = Path(path)
    try:
        tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError) as e:
        raise InputError(f"{p}: cannot load a tokenizer ({str(e).splitlines()[0]})") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(path: str | Path, device: "torch.device | str" = "cpu", dtype: "torch.dtype | None" = None) -> tuple[Any, Any]:
    """Load a local HF causal LM folder and its tokenizer, in eval mode on ``device``."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    p = check_model_dir(path)
    tok = load_tokenizer(p)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(p), local_files_only=True, use_safetensors=True, dtype=dtype or "float32"
        )
    except (OSError, ValueError, KeyError, SafetensorError) as e:
        raise InputError(f"{p}: cannot load a causal LM ({str(e).splitlines()[0]})") from None
    return model.to(device).eval(), tok


def attach_adapter(model: Any, adapter: str | Path, name: str = "default") -> Any:
    """Wrap ``model`` in a PeftModel with the adapter at ``adapter`` (checked first)."""
    import warnings

    from peft import PeftModel

    p = check_adapter_dir(adapter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return PeftModel.from_pretrained(model, str(p), adapter_name=name, is_trainable=False)
        except (RuntimeError, ValueError, KeyError) as e:
            raise IncompatibleError(f"{p}: adapter does not fit this base model ({str(e).splitlines()[0]})") from None
