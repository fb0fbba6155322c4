"""Adapter folders without a base model: scaling as PEFT computes it, refusals, round trip."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from safetensors.torch import load_file, save_file

from lorakit.errors import IncompatibleError, InputError
from lorakit.lora.adapters import WEIGHTS, adapter_config, check_mergeable, open_adapter, write_adapter
from tests.helpers import make_peft_adapter


@pytest.fixture(scope="module")
def base(make_tiny_model):
    return make_tiny_model("llama")


@pytest.fixture(scope="module")
def adapter(base, tmp_path_factory):
    return make_peft_adapter(base, tmp_path_factory.mktemp("ad") / "a", r=4, alpha=6, use_rslora=True,
                             rank_pattern={"q_proj": 2}, alpha_pattern={"layers.1.self_attn.v_proj": 5})


def _peft_model(base, path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base)), str(path))


def test_modules_and_scaling_match_peft(base, adapter):
    a = open_adapter(adapter)
    model = _peft_model(base, adapter)
    layers = {n: m for n, m in model.base_model.model.named_modules() if hasattr(m, "lora_A") and "default" in m.lora_A}
    assert set(a.modules) == set(layers) and len(layers) == 14
    for name, layer in layers.items():
        m = a.modules[name]
        assert (m.r, m.scaling) == (layer.r["default"], pytest.approx(layer.scaling["default"]))
        B, A = a.factors(name)
        assert torch.equal(B, layer.lora_B["default"].weight) and torch.equal(A, layer.lora_A["default"].weight)
    assert a.modules["model.layers.0.self_attn.q_proj"].r == 2
    assert a.modules["model.layers.1.self_attn.v_proj"].alpha == 5 and a.dtype == "F32"


def test_write_round_trip_with_rank_pattern_loads_in_peft(base, adapter, tmp_path):
    a = open_adapter(adapter)
    ranks = {n: m.r for n, m in a.modules.items()}
    tensors = {}
    for n, m in a.modules.items():
        B, A = a.factors(n)
        tensors[m.tensor_names()[0]], tensors[m.tensor_names()[1]] = B * m.scaling, A
    out = tmp_path / "w"
    out.mkdir()
    write_adapter(out, adapter_config(a.config, ranks, a.base, False), tensors)
    config = json.loads((out / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["use_rslora"]) == (4, 4, False)
    assert config["rank_pattern"] == {"model.layers.0.self_attn.q_proj": 2, "model.layers.1.self_attn.q_proj": 2}
    ids = torch.tensor([[3, 9, 27, 81]])
    with torch.no_grad():
        assert torch.allclose(_peft_model(base, out)(input_ids=ids).logits, _peft_model(base, adapter)(input_ids=ids).logits, atol=1e-5)


def _copy(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


@pytest.mark.parametrize("kind,error,message", [
    ("missing", InputError, "no such adapter folder"),
    ("not-adapter", InputError, "not a PEFT adapter folder"),
    ("bin-only", InputError, "safetensors only"),
    ("truncated", InputError, "not a readable safetensors file"),
    ("bad-json", InputError, "invalid JSON"),
    ("dora", IncompatibleError, "DoRA"),
    ("dora-tensor", IncompatibleError, "DoRA"),
    ("lora-bias", IncompatibleError, "lora_bias"),
    ("rank-mismatch", InputError, "rank 4/4 in the weights but r=3"),
])
def test_refusals(kind, error, message, adapter, tmp_path):
    p = tmp_path / kind
    if kind == "not-adapter":
        p.mkdir()
        (p / "config.json").write_text("{}")
    elif kind == "bin-only":
        p.mkdir()
        (p / "adapter_config.json").write_text((adapter / "adapter_config.json").read_text())
        (p / "adapter_model.bin").write_bytes(b"\x80\x02pickle")
    elif kind != "missing":
        _copy(adapter, p)
    if kind == "truncated":
        data = (p / WEIGHTS).read_bytes()
        (p / WEIGHTS).write_bytes(data[: len(data) // 2])
    if kind == "bad-json":
        (p / "adapter_config.json").write_text("{")
    if kind in ("dora", "lora-bias", "rank-mismatch"):
        config = json.loads((p / "adapter_config.json").read_text())
        config.update({"dora": {"use_dora": True}, "lora-bias": {"lora_bias": True},
                       "rank-mismatch": {"r": 3, "rank_pattern": {}}}[kind])
        (p / "adapter_config.json").write_text(json.dumps(config))
    if kind == "dora-tensor":
        tensors = load_file(str(p / WEIGHTS))
        tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"] = torch.ones(64)
        save_file(tensors, str(p / WEIGHTS))
    with pytest.raises(error, match=message) as e:
        open_adapter(p)
    assert "\n" not in str(e.value)


def test_nan_weights_are_refused_when_read(adapter, tmp_path):
    p = _copy(adapter, tmp_path / "nan")
    tensors = load_file(str(p / WEIGHTS))
    key = next(k for k in tensors if k.endswith("v_proj.lora_B.weight"))
    tensors[key][0, 0] = float("nan")
    save_file(tensors, str(p / WEIGHTS))
    a = open_adapter(p)
    name = key.removeprefix("base_model.model.").removesuffix(".lora_B.weight")
    for read in (a.factors, a.arrays, lambda n: a.arrays(n, widen=False)):  # torch and the torch-free reader
        with pytest.raises(InputError, match="non-finite values"):
            read(name)
    (p / WEIGHTS).write_bytes((p / WEIGHTS).read_bytes()[:-8])  # cut after opening
    last = max(a.spans, key=lambda k: a.spans[k][3]).removeprefix("base_model.model.").rsplit(".lora_", 1)[0]
    with pytest.raises(InputError, match="truncated"):
        a.arrays(last)


def test_peft_written_dora_is_refused(base, tmp_path):
    p = make_peft_adapter(base, tmp_path / "dora", targets=["q_proj"], use_dora=True)
    with pytest.raises(IncompatibleError, match="DoRA"):
        open_adapter(p)


def test_check_mergeable(base, make_tiny_model, adapter, tmp_path):
    other = make_peft_adapter(make_tiny_model("qwen2"), tmp_path / "q")
    a, q = open_adapter(adapter), open_adapter(other)
    with pytest.raises(IncompatibleError, match="different base models"):
        check_mergeable([a, q])
    with pytest.raises(IncompatibleError, match="k_proj: shape 64x64 in .* but 32x64"):
        check_mergeable([a, q], allow_different_bases=True)
    assert check_mergeable([a, open_adapter(adapter)]) == str(base)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_arrays_equal_factors_and_the_writer_rounds_as_torch(adapter, tmp_path, dtype):
    """The torch-free reader widens exactly; TensorWriter casts float64 as ``tensor.to(dtype)`` does."""
    import numpy as np

    from lorakit.io import read_safetensors_header
    from lorakit.lora.adapters import TensorWriter

    p = _copy(adapter, tmp_path / "in")
    save_file({k: v.to(dtype) for k, v in load_file(str(p / WEIGHTS)).items()}, str(p / WEIGHTS))
    a = open_adapter(p)
    g = torch.Generator().manual_seed(0)
    wide = {"x": torch.randn(64, 33, generator=g, dtype=torch.float64) * 10.0 ** torch.randint(-8, 8, (64, 33), generator=g)}
    writers = {"spooled": TensorWriter(tmp_path / "spooled.safetensors", str(dtype).removeprefix("torch.")),
               "in place": TensorWriter(tmp_path / "in-place.safetensors", str(dtype).removeprefix("torch."),
                                        ["x", *(f"{n}.B" for n in a.modules)]),
               "outgrown": TensorWriter(tmp_path / "outgrown.safetensors", str(dtype).removeprefix("torch."), ["x"])}
    for n in a.modules:
        B, A = a.arrays(n)
        tB, tA = a.factors(n, torch.float64)
        assert B.dtype == np.float64 and np.array_equal(B, tB.numpy()) and np.array_equal(A, tA.numpy())
        nB, nA = a.arrays(n, widen=False)  # as stored (bfloat16 as float32): the same values
        assert nB.dtype == (np.float16 if dtype == torch.float16 else np.float32) and np.array_equal(nB, B)
        assert np.array_equal(nA, A)
        wide[n] = tB * 0.37
    for writer in writers.values():
        for k, v in wide.items():
            writer.add(k, v.numpy())
        writer.close()
    assert writers["in place"].room > 0 and writers["outgrown"].room < len(json.dumps(writers["outgrown"].header))
    for writer in writers.values():
        got = load_file(str(writer.path))
        assert set(got) == set(wide) and not writer.path.with_name(writer.path.name + ".data").exists()
        assert all(torch.equal(got[k], v.to(dtype)) for k, v in wide.items())
        header, start = read_safetensors_header(writer.path)  # lorakit's torch-free reader takes the padding too
        assert set(header) - {"__metadata__"} == set(wide) and start % 8 == 0

