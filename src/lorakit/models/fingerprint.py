"""Which base model an adapter belongs to: fingerprints of a base folder, checked where an adapter meets a base.

``train-lora`` records both in the adapter's ``lorakit.json`` (``base``): ``fingerprint`` hashes
config.json and the safetensors headers (the architecture and layout: cheap for any size), and
``weights_sha256`` the tensors themselves (two bases of one shape differ only there). Adapters
without the record (written by PEFT or an older lorakit) are checked by shape only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lorakit.errors import IncompatibleError
from lorakit.io import read_json_object, read_safetensors_header

HEADER_METHOD = "sha256(config.json + safetensors headers)"
WEIGHTS_METHOD = "sha256(each tensor in name order: name, dtype, shape, bytes)"


def base_fingerprint(base: Path) -> str:
    """sha256 of config.json and of each safetensors header (tensor names, shapes, dtypes, offsets).

    Fast for any model size (the weights themselves are not read), and changes whenever the
    architecture or the checkpoint layout does.
    """
    h = hashlib.sha256((base / "config.json").read_bytes())
    for f in sorted(base.glob("*.safetensors")):
        with f.open("rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            h.update(f.name.encode() + b"\0" + fh.read(min(size, 100_000_000)))
    return h.hexdigest()


def weights_sha256(base: Path) -> str:
    """sha256 over every tensor of the base's safetensors files, in name order (name, dtype, shape,
    then its bytes streamed in 1 MiB chunks): the same for the same weights however they are sharded."""
    tensors = []
    for f in sorted(Path(base).glob("*.safetensors")):
        header, start = read_safetensors_header(f)
        tensors += [(k, v, f, start) for k, v in header.items() if k != "__metadata__"]
    h = hashlib.sha256()
    for name, info, f, start in sorted(tensors, key=lambda t: t[0]):
        h.update(f"{name}\0{info['dtype']}\0{info['shape']}\0".encode())
        begin, end = info["data_offsets"]
        with f.open("rb") as fh:
            fh.seek(start + begin)
            left = end - begin
            while left > 0 and (chunk := fh.read(min(1 << 20, left))):
                h.update(chunk)
                left -= len(chunk)
    return h.hexdigest()


def base_record(folder: Path) -> dict[str, Any]:
    """The ``base`` record ``train-lora`` writes in an adapter's lorakit.json ({} when there is none)."""
    meta = Path(folder) / "lorakit.json"
    if not meta.is_file():
        return {}
    base = read_json_object(meta).get("base")
    return base if isinstance(base, dict) else {}


def check_base(adapter: Path, record: Mapping[str, Any], base: Path, allow: bool = False) -> None:
    """Refuse (exit 5) an adapter whose recorded base differs from ``base``: the header fingerprint
    first (cheap), then the weights' sha256. ``allow`` (``--allow-different-base``) skips the check."""
    if allow or not record:
        return
    for key, compute in (("fingerprint", base_fingerprint), ("weights_sha256", weights_sha256)):
        if record.get(key) and record[key] != compute(Path(base)):
            what = "weights" if key == "weights_sha256" else "architecture or layout"
            was = f", base {record['path']}" if record.get("path") else ""
            raise IncompatibleError(f"{adapter}: trained on other base weights than {base} (lorakit.json{was}: the {what} "
                                    "differ); pass --allow-different-base to apply it anyway")
