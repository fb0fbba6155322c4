"""``lorakit convert``: a GGUF checkpoint as a Hugging Face model folder every lorakit command loads."""

from __future__ import annotations

import typer

from lorakit.cli.common import Json, Quiet, Verbose, choice, command, config_options, emit_json, log, progress
from lorakit.models.convert import DTYPES, ConvertConfig


@command
@config_options(ConvertConfig, gguf=typer.Argument(show_default=False), dtype=choice(DTYPES))
def convert(cfg: ConvertConfig, json: Json = False, quiet: Quiet = False, verbose: Verbose = False) -> None:
    """Dequantise a GGUF checkpoint into an HF model folder (safetensors, config, tokenizer with its chat template); needs lorakit[gguf]."""
    from lorakit.models.convert import convert_gguf
    from lorakit.runtime import quiet_libraries

    quiet_libraries()
    with progress(quiet) as report:
        result = convert_gguf(cfg, report)
    if json:
        emit_json(result.summary())
    types = ", ".join(f"{n} {t}" for t, n in result.info.tensor_types.items())
    log(f"wrote {cfg.out}: {result.model_class}, {result.parameters:,} parameters as {cfg.dtype} "
        f"(dequantised from {result.info.file_type}: {types} tensors), {result.seconds:.1f} s", quiet)
