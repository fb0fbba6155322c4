"""models.convert: GGUF header reading, the round trip HF -> GGUF (F32) -> HF, checks before any work."""

from __future__ import annotations

import pytest

from lorakit.errors import IncompatibleError, InputError, UsageError
from lorakit.models.convert import ConvertConfig, check_gguf_file, convert_gguf, read_gguf_info
from tests.gguf_files import write_empty_gguf, write_llama_gguf


@pytest.fixture(scope="module")
def f32_gguf(make_tiny_model, tmp_path_factory):
    return write_llama_gguf(make_tiny_model("llama"), tmp_path_factory.mktemp("gguf") / "tiny-f32.gguf", quantize=False)


@pytest.fixture(scope="module")
def q_gguf(make_tiny_model, tmp_path_factory):
    return write_llama_gguf(make_tiny_model("llama"), tmp_path_factory.mktemp("gguf") / "tiny-q4_1.gguf")


def test_header_names_architecture_file_type_and_tensor_types(q_gguf, f32_gguf):
    info = read_gguf_info(q_gguf)
    assert (info.architecture, info.name, info.file_type) == ("llama", "tiny llama", "MOSTLY_Q4_1")
    assert info.tensor_types == {"Q4_1": 14, "F32": 5, "Q8_0": 1}  # 2 layers x 7 matrices; 5 norms; embeddings
    assert read_gguf_info(f32_gguf).tensor_types == {"F32": 20}


def test_f32_round_trip_gives_the_original_model(make_tiny_model, f32_gguf, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    original = make_tiny_model("llama")
    result = convert_gguf(ConvertConfig(gguf=f32_gguf, out=tmp_path / "m"))
    assert (result.model_class, result.parameters, result.info.file_type) == ("LlamaForCausalLM", 115_008, "ALL_F32")
    converted = AutoModelForCausalLM.from_pretrained(str(tmp_path / "m")).eval()
    assert converted.lm_head.weight is converted.model.embed_tokens.weight  # ties kept
    text = "Q: Who is the spouse of Tavi Monu? A: Kare Lo"
    ids = AutoTokenizer.from_pretrained(str(original))(text, return_tensors="pt").input_ids
    assert AutoTokenizer.from_pretrained(str(tmp_path / "m"))(text).input_ids == ids[0].tolist()
    with torch.no_grad():
        expected = AutoModelForCausalLM.from_pretrained(str(original)).eval()(ids).logits
        assert torch.equal(converted(ids).logits, expected)


def test_bfloat16_weights(f32_gguf, tmp_path):
    from lorakit.io import read_safetensors_header

    convert_gguf(ConvertConfig(gguf=f32_gguf, out=tmp_path / "m", dtype="bfloat16"))
    header, _ = read_safetensors_header(tmp_path / "m" / "model.safetensors")
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {"BF16"}


def test_bad_dtype_is_a_usage_error(f32_gguf, tmp_path):
    with pytest.raises(UsageError, match="--dtype must be one of float32, bfloat16, float16, not 'int8'"):
        convert_gguf(ConvertConfig(gguf=f32_gguf, out=tmp_path / "m", dtype="int8"))


def test_not_a_gguf_file(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 a zip")
    with pytest.raises(InputError, match=r"not a GGUF file \(starts with b'PK\\x03\\x04', not b'GGUF'\)"):
        check_gguf_file(bad)
    with pytest.raises(InputError, match="no such file"):
        check_gguf_file(tmp_path / "nope.gguf")
    with pytest.raises(InputError, match="not a file"):
        check_gguf_file(tmp_path)


def test_truncated_gguf_is_an_input_error(q_gguf, tmp_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(q_gguf.read_bytes()[:5000])
    with pytest.raises(InputError, match="not a readable GGUF file"):
        read_gguf_info(cut)


def test_unknown_architecture_is_incompatible(tmp_path):
    path = write_empty_gguf(tmp_path / "foo.gguf", "mamba9")
    with pytest.raises(IncompatibleError, match="transformers cannot load GGUF architecture 'mamba9'"):
        convert_gguf(ConvertConfig(gguf=path, out=tmp_path / "m"))
    assert not (tmp_path / "m").exists()
