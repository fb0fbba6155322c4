"""--compile: the training commands compile the model's forward in place and train the same model.

The tests use torch.compile's "eager" backend (the same graph capture by TorchDynamo, no code
generation, which would cost minutes here); the default backend (inductor) is what users get.
train-lora goes through the same ``training.prepare`` but is left out: capturing a PEFT model
takes ~45 s here (checked by hand: same exit, same adapter).
"""

from __future__ import annotations

import pytest

from lorakit import training
from tests.test_distributed import BERT, assert_same_tensors, assert_same_trajectory, invoke, read_log

ARGS = {
    "pretrain-lm": lambda corpus: [corpus, "--steps", "3", "--vocab-size", "400", "--hidden", "32", "--layers", "1",
                                   "--heads", "2", "--batch-size", "4", "--block-size", "32", "--device", "cpu", "--quiet"],
    "pretrain-bert": lambda corpus: [corpus, *BERT],
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from lorakit.data.faithfulness import FaithfulnessConfig, generate

    folder = tmp_path_factory.mktemp("compile")
    (folder / "corpus.txt").write_text(generate(FaithfulnessConfig(lang="pl", corpus_mb=0.03, test_size=4))["corpus.txt"],
                                       encoding="utf-8")
    return folder / "corpus.txt"


@pytest.mark.parametrize("command", sorted(ARGS))
def test_compiled_run_equals_the_plain_run(command, inputs, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(training, "COMPILE_BACKEND", "eager")
    calls = []
    original = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: (calls.append(kw), original(self, **kw)))
    for name, extra in (("plain", []), ("compiled", ["--compile"])):
        result = invoke(command, *ARGS[command](inputs), "--out", tmp_path / name, "--log-file", tmp_path / f"{name}.log",
                        *extra)
        assert result.exit_code == 0, result.output
    assert calls == [{"backend": "eager"}]  # only the --compile run compiled
    assert_same_trajectory(read_log(tmp_path / "plain.log"), read_log(tmp_path / "compiled.log"))
    # same parameter names (no "_orig_mod." prefix), same values
    assert_same_tensors(tmp_path / "plain" / "model.safetensors", tmp_path / "compiled" / "model.safetensors")
