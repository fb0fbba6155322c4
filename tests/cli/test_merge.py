"""lorakit merge: happy path through PEFT, provenance, and each bad input (exit code, one line, nothing written)."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.lora.adapters import open_adapter
from tests.helpers import make_peft_adapter

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["merge", *map(str, args)])


@pytest.fixture(scope="module")
def pair(make_tiny_model, tmp_path_factory):
    base = make_tiny_model("llama")
    d = tmp_path_factory.mktemp("cli-merge")
    return base, make_peft_adapter(base, d / "a", r=4, alpha=8, seed=1), make_peft_adapter(base, d / "b", r=2, alpha=2, seed=2)


def _copy(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_help():
    result = run("--help")
    assert result.exit_code == 0
    for option in ("--method", "--weights", "--rank", "--density", "--peft-compat", "--dtype"):
        assert option in result.output


def test_happy_path_task_arithmetic(pair, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base, a, b = pair
    out = tmp_path / "m"
    result = run(a, b, "--method", "task-arithmetic", "--rank", "3", "--weights", "0.5,-1", "--out", out, "--json", "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rank"] == 3 and summary["modules"] == 14 and 0 < summary["max_truncation_error"] < 1
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors", "lorakit.json"]
    config = json.loads((out / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["use_rslora"]) == (3, 3, False)
    assert config["base_model_name_or_path"] == str(base)
    meta = json.loads((out / "lorakit.json").read_text())
    assert meta["command"] == "merge" and [len(i["sha256"]) for i in meta["inputs"]] == [64, 64]
    assert meta["merge"]["weights"] == [0.5, -1.0]
    assert meta["merge"]["modules"]["model.layers.0.self_attn.q_proj"]["truncation_error"] > 0
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base)), str(out))
    assert model.base_model.model.model.layers[0].self_attn.q_proj.lora_A["default"].weight.shape == (3, 64)
    again = run(a, b, "--method", "cat", "--out", out, "--quiet")
    assert again.exit_code == 4 and "already exists" in again.output
    assert run(a, b, "--method", "cat", "--out", out, "--quiet", "--force", "--dtype", "bfloat16").exit_code == 0
    assert open_adapter(out).dtype == "BF16"


def _bad(kind, pair, tmp_path, make_tiny_model):
    base, a, b = pair
    p = tmp_path / kind
    if kind == "missing":
        return [a, p]
    if kind == "not-adapter":
        p.mkdir()
        (p / "notes.txt").write_text("hi")
        return [a, p]
    _copy(b, p)
    w = p / "adapter_model.safetensors"
    if kind == "truncated":
        w.write_bytes(w.read_bytes()[:300])
    elif kind == "nan":
        t = load_file(str(w))
        next(iter(t.values()))[0, 0] = float("nan")
        save_file(t, str(w))
    elif kind == "dora":
        config = json.loads((p / "adapter_config.json").read_text())
        config["use_dora"] = True
        (p / "adapter_config.json").write_text(json.dumps(config))
    elif kind == "shape":
        p = make_peft_adapter(make_tiny_model("qwen2"), tmp_path / "qwen", seed=3)
        config = json.loads((p / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = None
        (p / "adapter_config.json").write_text(json.dumps(config))
    return [a, p]


@pytest.mark.parametrize("kind,code,message", [
    ("missing", 3, "no such adapter folder"),
    ("not-adapter", 3, "not a PEFT adapter folder"),
    ("truncated", 3, "not a readable safetensors file"),
    ("nan", 3, "non-finite values"),
    ("dora", 5, "DoRA adapter"),
    ("shape", 5, "k_proj: shape 64x64"),
])
def test_bad_inputs(kind, code, message, pair, tmp_path, make_tiny_model):
    inputs = _bad(kind, pair, tmp_path, make_tiny_model)
    out = tmp_path / "out"
    result = run(*inputs, "--method", "uniform", "--out", out)
    assert result.exit_code == code, result.output
    assert message in result.output and result.output.count("error:") == 1
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() and not [f for f in tmp_path.iterdir() if f.name.startswith(".out")]


@pytest.mark.parametrize("args,message", [
    (["--method", "mean"], "Invalid value for '--method'"),
    (["--weights", "1,x"], "--weights must be comma-separated numbers"),
    (["--method", "ties"], "needs --density"),
    (["--method", "linear", "--weights", "1"], "--weights has 1 value(s) for 2"),
])
def test_usage_errors(pair, tmp_path, args, message):
    _, a, b = pair
    result = run(a, b, "--out", tmp_path / "o", *args)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "o").exists()


def test_different_bases_refused_unless_allowed(pair, tmp_path):
    _, a, b = pair
    c = _copy(b, tmp_path / "c")
    config = json.loads((c / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "/elsewhere/base"
    (c / "adapter_config.json").write_text(json.dumps(config))
    result = run(a, c, "--out", tmp_path / "o")
    assert result.exit_code == 5 and "different base models" in result.output
    assert run(a, c, "--out", tmp_path / "o", "--allow-different-bases", "--quiet").exit_code == 0


def test_into_base(pair, tmp_path):
    from transformers import AutoModelForCausalLM

    base, a, b = pair
    missing = run(a, b, "--into-base", tmp_path / "nobase", "--out", tmp_path / "full")
    assert missing.exit_code == 3 and "no such base model folder" in missing.output
    result = run(a, b, "--method", "cat", "--into-base", base, "--out", tmp_path / "full", "--quiet")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "full" / "tokenizer_config.json").is_file()
    meta = json.loads((tmp_path / "full" / "lorakit.json").read_text())
    assert meta["merge"]["into_base"] == str(base) and meta["merge"]["left_out"] == []
    AutoModelForCausalLM.from_pretrained(str(tmp_path / "full"))


def test_into_base_copies_only_model_files(pair, tmp_path):
    """Pickled weights, custom code and other files of the base stay out of the merged model, named."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src, a, b = pair
    base = _copy(src, tmp_path / "base")
    for name in ("pytorch_model.bin", "modeling_x.py", "README.md"):
        (base / name).write_bytes(b"not for the merged model")
    (base / "extra").mkdir()
    result = run(a, b, "--method", "cat", "--into-base", base, "--out", tmp_path / "full", "--json")
    assert result.exit_code == 0, result.output
    left_out = ["README.md", "extra/", "modeling_x.py", "pytorch_model.bin"]
    assert json.loads(result.stdout)["left_out"] == left_out
    assert "left out of" in result.stderr and "README.md, extra/, modeling_x.py, pytorch_model.bin" in result.stderr
    full = tmp_path / "full"
    assert json.loads((full / "lorakit.json").read_text())["merge"]["left_out"] == left_out
    names = {f.name for f in full.iterdir()}
    assert not names & {"pytorch_model.bin", "modeling_x.py", "README.md", "extra"}
    assert names == {f.name for f in src.iterdir() if f.name != "lorakit.json"} | {"lorakit.json"}
    AutoModelForCausalLM.from_pretrained(str(full), local_files_only=True)
    assert AutoTokenizer.from_pretrained(str(full), local_files_only=True)("a b").input_ids
