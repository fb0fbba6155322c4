"""Every JSON / JSONL / safetensors reader fed the same corrupt files: each is one ``InputError('FILE: reason')``
(never a RecursionError, UnicodeDecodeError, MemoryError, KeyError or SafetensorError)."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from lorakit import checkpoints, shard
from lorakit.errors import InputError
from lorakit.evaluate.report import load_rows
from lorakit.io import read_jsonl
from lorakit.lora.adapters import open_adapter
from lorakit.models.load import check_model_dir
from lorakit.rescore.run import load_scorer
from tests.helpers import make_peft_adapter


def _safetensors() -> bytes:
    blob = json.dumps({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}).encode()
    return struct.pack("<Q", len(blob)) + blob + bytes(64)


CORRUPT = {
    "empty": b"",
    "truncated JSON": b'{"a": [1, 2',
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "invalid UTF-8": b'{"a": "\xff\xfe"}',
    "not an object": b"[1, 2, 3]",
    "header claims 2^62 bytes": struct.pack("<Q", 2**62) + b"{}",
    "truncated safetensors": _safetensors()[:-10],
    "tensor past the end": _safetensors()[:-64],
}


@pytest.fixture(scope="module")
def adapter(make_tiny_model, tmp_path_factory):
    return make_peft_adapter(make_tiny_model("llama"), tmp_path_factory.mktemp("readers") / "a")


def _adapter_file(name):
    def setup(tmp, data, adapter):
        shutil.copytree(adapter, tmp / "a")
        (tmp / "a" / name).write_bytes(data)
        return tmp / "a" / name, lambda: open_adapter(tmp / "a")
    return setup


def _checkpoint_file(name):
    def setup(tmp, data, adapter):
        ckpt = tmp / "x.ckpt"
        ckpt.mkdir()
        (ckpt / "trainer.json").write_text(json.dumps({"format": 1, "state": {}, "fingerprint": {},
                                                       "optimizer": {"param_groups": [], "scalars": {}}}))
        (ckpt / "state.safetensors").write_bytes(_safetensors())
        (ckpt / name).write_bytes(data)
        return ckpt / name, lambda: checkpoints.load_checkpoint(ckpt, None, None, {})
    return setup


def _model_file(name, read):
    def setup(tmp, data, adapter):
        (tmp / "m").mkdir()
        (tmp / "m" / "config.json").write_text('{"architectures": ["BertForMaskedLM"]}')
        (tmp / "m" / "model.safetensors").write_bytes(_safetensors())
        (tmp / "m" / name).write_bytes(data)
        return tmp / "m" / name, lambda: read(tmp / "m")
    return setup


def _file(name, read):
    def setup(tmp, data, adapter):
        (tmp / name).write_bytes(data)
        return tmp / name, lambda: read(tmp / name)
    return setup


def _sidecar(tmp, data, adapter):
    (tmp / "p.jsonl").write_text('{"prompt": "p"}\n')
    (tmp / "p.jsonl.shard.json").write_bytes(data)
    return tmp / "p.jsonl.shard.json", lambda: shard._read_shard(str(tmp / "p.jsonl"))


READERS = {
    "JSONL data": _file("data.jsonl", read_jsonl),
    "results.json (report)": _file("results.json", lambda p: load_rows([str(p)])),
    "adapter_config.json": _adapter_file("adapter_config.json"),
    "adapter lorakit.json": _adapter_file("lorakit.json"),
    "adapter_model.safetensors": _adapter_file("adapter_model.safetensors"),
    "model.safetensors": _model_file("model.safetensors", check_model_dir),
    "scorer config.json": _model_file("config.json", lambda p: load_scorer(p, "pll", "cpu")),
    "checkpoint trainer.json": _checkpoint_file("trainer.json"),
    "checkpoint state.safetensors": _checkpoint_file("state.safetensors"),
    "gather .shard.json": _sidecar,
}


@pytest.mark.parametrize("corrupt", CORRUPT)
@pytest.mark.parametrize("reader", READERS)
def test_every_reader_refuses_every_corrupt_file(reader, corrupt, tmp_path, adapter):
    path, read = READERS[reader](tmp_path, CORRUPT[corrupt], adapter)
    with pytest.raises(InputError) as e:
        read()
    message = str(e.value)
    assert message.startswith(f"{path}:"), message
    assert "\n" not in message and len(message) < 400


def test_valid_safetensors_header_is_read(tmp_path):
    from lorakit.io import read_safetensors_header

    (tmp_path / "w.safetensors").write_bytes(_safetensors())
    header, start = read_safetensors_header(tmp_path / "w.safetensors")
    assert header["w"]["shape"] == [4, 4] and start == len(_safetensors()) - 64
