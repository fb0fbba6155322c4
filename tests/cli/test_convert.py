"""lorakit convert: a GGUF (quantised, written in code) to an HF folder; each error path with its exit code."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from tests.gguf_files import CHAT_TEMPLATE, write_empty_gguf, write_llama_gguf

runner = CliRunner()
FILES = ["chat_template.jinja", "config.json", "generation_config.json", "lorakit.json", "model.safetensors",
         "tokenizer.json", "tokenizer_config.json"]


def run(*args):
    return runner.invoke(app, ["convert", *map(str, args)])


@pytest.fixture(scope="module")
def gguf_file(make_tiny_model, tmp_path_factory):
    """The tiny Llama as a Q4_1 GGUF (Q8_0 embeddings, F32 norms), as the shipped SmolLM2 file is."""
    return write_llama_gguf(make_tiny_model("llama"), tmp_path_factory.mktemp("cli-convert") / "tiny.Q4_1.gguf")


def test_help():
    result = run("--help")
    assert result.exit_code == 0
    for option in ("--out", "--dtype", "--force", "--json", "--quiet"):
        assert option in result.output


def test_happy_path_same_logits_as_the_gguf_model(gguf_file, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lorakit.models.load import load_causal_lm

    out = tmp_path / "m"
    result = run(gguf_file, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["quantization"] == "MOSTLY_Q4_1" and summary["tensor_types"] == {"Q4_1": 14, "F32": 5, "Q8_0": 1}
    assert sorted(p.name for p in out.iterdir()) == FILES == summary["files"]
    assert f"wrote {out}: LlamaForCausalLM, 115,008 parameters as float32 (dequantised from MOSTLY_Q4_1" in result.stderr
    assert "Converting" not in result.stderr  # transformers' tqdm bar stays off
    # the folder loads with plain transformers and with lorakit, and computes what the GGUF model does
    model = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    tok = AutoTokenizer.from_pretrained(str(out))
    gguf_model = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name).eval()
    ids = tok.apply_chat_template([{"role": "user", "content": "Where does Tavi Monu live?"}], add_generation_prompt=True,
                                  return_tensors="pt")["input_ids"]
    assert tok.chat_template == CHAT_TEMPLATE
    with torch.no_grad():
        assert torch.equal(model(ids).logits, gguf_model(ids).logits)
    lorakit_model, _ = load_causal_lm(out)
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    assert all(torch.equal(p, q) for p, q in zip(lorakit_model.parameters(), model.parameters()))


def test_lorakit_json(gguf_file, tmp_path):
    out = tmp_path / "m"
    assert run(gguf_file, "--out", out, "--quiet", "--dtype", "float16").exit_code == 0
    meta = json.loads((out / "lorakit.json").read_text())
    sha = hashlib.sha256(gguf_file.read_bytes()).hexdigest()
    assert meta["command"] == "convert" and meta["inputs"] == [{"path": str(gguf_file), "sha256": sha}]
    assert meta["gguf"] == {"file": "tiny.Q4_1.gguf", "sha256": sha, "architecture": "llama", "name": "tiny llama",
                            "file_type": "MOSTLY_Q4_1", "tensor_types": {"Q4_1": 14, "F32": 5, "Q8_0": 1}}
    assert meta["weights"]["dequantized"] is True and meta["weights"]["dtype"] == "float16"
    assert "not the float checkpoint" in meta["weights"]["note"]


def test_quiet_prints_nothing(gguf_file, tmp_path):
    result = run(gguf_file, "--out", tmp_path / "m", "--quiet")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""


def test_existing_out_needs_force(gguf_file, tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run(gguf_file, "--out", out)
    assert result.exit_code == 4 and "already exists (pass --force to replace it)" in result.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert run(gguf_file, "--out", out, "--force", "--quiet").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == FILES


def test_without_the_gguf_extra(gguf_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gguf", None)  # import gguf -> ImportError
    result = run(gguf_file, "--out", tmp_path / "m")
    assert result.exit_code == 5
    assert "reading GGUF files needs the gguf package: pip install 'lorakit[gguf]'" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_not_a_gguf_file(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b'{"not": "gguf"}')
    result = run(bad, "--out", tmp_path / "m")
    assert result.exit_code == 3 and f"{bad}: not a GGUF file" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]
    missing = run(tmp_path / "nope.gguf", "--out", tmp_path / "m")
    assert missing.exit_code == 3 and "nope.gguf: no such file" in missing.stderr


def test_unknown_architecture(tmp_path):
    path = write_empty_gguf(tmp_path / "rwkv.gguf", "rwkv9")
    result = run(path, "--out", tmp_path / "m")
    assert result.exit_code == 5 and "transformers cannot load GGUF architecture 'rwkv9'" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["rwkv.gguf"]


def test_out_must_be_a_folder_path(gguf_file, tmp_path):
    result = run(gguf_file, "--out", "-")
    assert result.exit_code == 2 and "'-' (stdout) cannot take this output" in result.stderr
    inside = run(gguf_file, "--out", gguf_file)
    assert inside.exit_code == 2 and "is the input GGUF" in inside.stderr
