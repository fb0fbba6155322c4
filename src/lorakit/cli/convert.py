"""``lorakit convert``: a GGUF checkpoint as a Hugging Face model folder every lorakit command loads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lorakit.cli.common import Force, Json, Out, Quiet, Verbose, choice, command, emit_json, log, progress
from lorakit.models.convert import DTYPES


@command
def convert(
    gguf: Annotated[Path, typer.Argument(help="A GGUF file (llama.cpp's format), e.g. a Q4_1 SmolLM2.", show_default=False)],
    out: Out,
    dtype: Annotated[choice(DTYPES), typer.Option(help="dtype of the written weights (dequantised from the GGUF's types to float32 first).")] = "float32",
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Dequantise a GGUF checkpoint into an HF model folder (safetensors, config, tokenizer with its chat template); needs lorakit[gguf]."""
    from lorakit.io import check_paths
    from lorakit.models.convert import ConvertConfig, convert_gguf
    from lorakit.runtime import quiet_libraries

    quiet_libraries()
    check_paths({"--out": out}, {"GGUF": gguf})
    with progress(quiet) as report:
        result = convert_gguf(ConvertConfig(gguf=gguf, out=out, dtype=dtype, force=force), report)
    if json:
        emit_json(result.summary())
    types = ", ".join(f"{n} {t}" for t, n in result.info.tensor_types.items())
    log(f"wrote {out}: {result.model_class}, {result.parameters:,} parameters as {dtype} "
        f"(dequantised from {result.info.file_type}: {types} tensors), {result.seconds:.1f} s", quiet)
