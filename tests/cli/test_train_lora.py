"""lorakit train-lora: Llama / Qwen2 / GPT-2 bases, PEFT folders, Ctrl-C / --resume, error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorakit import checkpoints, training
from lorakit.cli import app
from tests.helpers import qa_records, sigint_at

ROOT = Path(__file__).resolve().parents[2]

runner = CliRunner()
FAST = ["--epochs", "2", "--batch-size", "4", "--rank", "4", "--alpha", "8", "--threads", "1", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "facts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in qa_records(8, seed=1)), encoding="utf-8")
    return path


def run(*args, input=None):
    return runner.invoke(app, ["train-lora", *map(str, args)], input=input)


def logits(model, tokenizer):
    import torch

    with torch.no_grad():
        return model(**tokenizer("Q: Where does Tavi Monu live? A:", return_tensors="pt")).logits


def test_help():
    result = run("--help")
    assert result.exit_code == 0
    for option in ("--rank", "--alpha", "--targets", "--epochs", "--checkpoint-every", "--resume", "--max-len"):
        assert option in result.output


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
def test_happy_path_loads_with_peft(arch, make_tiny_model, data, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = make_tiny_model(arch)
    out = tmp_path / "adapter"
    result = run(base, data, "--out", out, "--lr", "1e-2", "--json", *FAST)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["examples"] == 8 and summary["steps"] == 4 and summary["tokens_per_second"] > 0
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors", "lorakit.json"]
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base.resolve())
    assert (config["r"], config["lora_alpha"], config["fan_in_fan_out"]) == (4, 8, arch == "gpt2")
    meta = json.loads((out / "lorakit.json").read_text())
    assert meta["command"] == "train-lora" and len(meta["base"]["fingerprint"]) == 64

    tok = AutoTokenizer.from_pretrained(str(base))
    plain = AutoModelForCausalLM.from_pretrained(str(base))
    before = logits(plain, tok)
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base)), str(out))
    assert not before.allclose(logits(adapted, tok), atol=1e-4)


def test_stdin_and_target_list(tiny_llama_dir, data, tmp_path):
    out = tmp_path / "adapter"
    result = run(tiny_llama_dir, "-", "--out", out, "--targets", "q_proj,v_proj", *FAST, input=data.read_text())
    assert result.exit_code == 0, result.output
    assert sorted(json.loads((out / "adapter_config.json").read_text())["target_modules"]) == ["q_proj", "v_proj"]


def test_learns_facts(tiny_tokenizer_dir, data, tmp_path):
    from tests.helpers import build_model

    # A random base with the HF default init (std 0.02) cannot be confident after its final norm.
    base = build_model("llama", tiny_tokenizer_dir, tmp_path / "base", init_std=0.2)
    result = run(base, data, "--out", tmp_path / "a", "--json", "--epochs", "40", "--batch-size", "4",
                 "--threads", "1", "--device", "cpu", "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["final_loss"] < 0.05 * summary["first_loss"]


def test_interrupt_then_resume_equals_uninterrupted(tiny_llama_dir, data, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    common = [tiny_llama_dir, data, "--epochs", "3", "--batch-size", "3", "--rank", "4", "--dropout", "0.1",
              "--threads", "1", "--device", "cpu", "--quiet"]
    assert run(*common, "--out", tmp_path / "a").exit_code == 0
    real, calls = training.train_step, []

    def interrupt_at_4(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", interrupt_at_4)
    out = tmp_path / "b"
    result = run(*common, "--out", out)
    assert result.exit_code == 130 and "--resume" in result.output and "step 3/9" in result.output
    assert sorted(p.name for p in checkpoints.checkpoint_path(out).iterdir()) == ["state.safetensors", "trainer.json"]
    monkeypatch.setattr(training, "train_step", real)
    result = run(*common, "--out", out, "--resume", "--lr", "1e-3")
    assert result.exit_code == 6 and "lr" in result.output
    result = run(*common, "--out", out, "--resume")
    assert result.exit_code == 0, result.output
    assert not checkpoints.checkpoint_path(out).exists()
    a = load_file(str(tmp_path / "a" / "adapter_model.safetensors"))
    b = load_file(str(out / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)


def test_malformed_jsonl(tiny_llama_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Q: a A:", "completion": " b"}\n{"prompt": "Q: c A:"}\n', encoding="utf-8")
    result = run(tiny_llama_dir, bad, "--out", tmp_path / "o", *FAST)
    assert result.exit_code == 3 and f"{bad}:2:" in result.output and "completion" in result.output
    assert not (tmp_path / "o").exists()


def test_missing_base(data, tmp_path):
    result = run(tmp_path / "nope", data, "--out", tmp_path / "o", *FAST)
    assert result.exit_code == 3 and "no such model folder" in result.output


def test_not_a_model_folder(data, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run(tmp_path / "empty", data, "--out", tmp_path / "o", *FAST)
    assert result.exit_code == 3 and "no config.json" in result.output


def test_existing_out(tiny_llama_dir, data, tmp_path):
    (tmp_path / "o").mkdir()
    result = run(tiny_llama_dir, data, "--out", tmp_path / "o", *FAST)
    assert result.exit_code == 4 and "--force" in result.output


def test_bad_options(tiny_llama_dir, data, tmp_path):
    result = run(tiny_llama_dir, data, "--out", tmp_path / "o", "--rank", "0", "--dropout", "1.5")
    assert result.exit_code == 2 and "--rank" in result.output and "--dropout" in result.output
    result = run(tiny_llama_dir, data, "--out", tmp_path / "o", "--targets", "nonexistent_proj", *FAST)
    assert result.exit_code == 2 and "--targets" in result.output


def test_real_sigint_finishes_the_step_then_checkpoints(tiny_llama_dir, data, tmp_path, monkeypatch):
    """A real SIGINT during step 2 checkpoints after it (exit 130); the handler the process had before
    the run is back after it (a known one set here, not whatever the test process inherited)."""
    import signal

    def known(signum, frame):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train_step", sigint_at(2, training.train_step))
    out = tmp_path / "o"
    inherited = signal.signal(signal.SIGINT, known)
    try:
        result = run(tiny_llama_dir, data, "--out", out, *FAST)
        assert signal.getsignal(signal.SIGINT) is known
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if inherited is None else inherited)
    assert result.exit_code == 130 and "step 2/4" in result.output and "--resume" in result.output
    assert checkpoints.checkpoint_path(out).is_dir() and not out.exists()


SIGINT_AT_STEP_2 = """
import json, signal, sys
from typer.testing import CliRunner
from lorakit import training
from lorakit.cli import app
from tests.helpers import sigint_at

training.train_step = sigint_at(2, training.train_step)
before = signal.getsignal(signal.SIGINT)
result = CliRunner().invoke(app, ["train-lora", *sys.argv[1:]])
print(json.dumps({"before": str(before), "after": str(signal.getsignal(signal.SIGINT)),
                  "exit_code": result.exit_code, "output": result.output}))
"""


def test_real_sigint_checkpoints_when_the_process_started_ignoring_it(tiny_llama_dir, data, tmp_path):
    """Started with SIGINT ignored (a background job of a non-interactive shell, some CI and make
    set-ups), lorakit still installs its handler for the run, then puts SIG_IGN back."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "o"
    done = subprocess.run([sys.executable, "-c", SIGINT_AT_STEP_2, *map(str, [tiny_llama_dir, data, "--out", out, *FAST])],
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN), cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["before"] == result["after"] == str(signal.SIG_IGN)
    assert result["exit_code"] == 130 and "step 2/4" in result["output"] and "--resume" in result["output"]
    assert checkpoints.checkpoint_path(out).is_dir() and not out.exists()
