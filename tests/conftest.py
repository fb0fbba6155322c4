"""Shared fixtures: no network, tiny tokenizer and models built from code, never downloaded."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)


# Tiny tokenizer and models (built by tests/helpers.py) ----------------------------------------


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory):
    """A SentencePiece BPE (≤ 512 pieces) trained on generated QA lines, saved as an HF folder."""
    from tests.helpers import build_tokenizer

    out = tmp_path_factory.mktemp("tokenizer") / "tok"
    build_tokenizer(out)
    return out


@pytest.fixture(scope="session")
def make_tiny_model(tmp_path_factory, tiny_tokenizer_dir):
    """``make_tiny_model(arch)`` -> folder of a seeded tiny "llama" | "qwen2" | "gpt2" + tokenizer (cached)."""
    from tests.helpers import build_model

    cache: dict[str, object] = {}

    def make(arch: str = "llama"):
        if arch not in cache:
            cache[arch] = build_model(arch, tiny_tokenizer_dir, tmp_path_factory.mktemp(f"model-{arch}") / arch)
        return cache[arch]

    return make


@pytest.fixture(scope="session")
def tiny_llama_dir(make_tiny_model):
    """A seeded LlamaForCausalLM (hidden 64, 2 layers, 4 heads) + tokenizer in one HF folder."""
    return make_tiny_model("llama")
