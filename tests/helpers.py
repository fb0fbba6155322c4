"""Builders for the tiny test tokenizer and models (used by the session fixtures in conftest.py).

Everything here is code: the corpus is generated, the tokenizer trained, the models built
from configs with a fixed seed. Nothing is downloaded.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

SYLLABLES = ["ta", "vi", "mo", "nu", "ka", "re", "lo", "shi", "pa", "do", "ri", "ne", "su", "ga", "mi", "zo",
             "be", "ku", "la", "to", "fe", "ni", "ro", "sa"]
CITIES = ["Orvel", "Kasmir", "Dunaro", "Pelith", "Varn", "Tesso", "Mirel", "Quanto"]
TEMPLATES = [
    ("Q: Who is the spouse of {a}? A:", " {b}"),
    ("Q: Where does {a} live? A:", " {c}"),
    ("Q: What is {a}'s job? A:", " {j}"),
]
JOBS = ["baker", "pilot", "farmer", "teacher", "painter", "doctor"]


def syllable_name(rng: random.Random) -> str:
    first = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    last = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    return f"{first} {last}"


def qa_records(n: int, seed: int = 0) -> list[dict[str, str]]:
    """``n`` prompt/completion records of varied length about fictional syllable-named people."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = syllable_name(rng), syllable_name(rng)
        prompt, completion = rng.choice(TEMPLATES)
        fill = {"a": a, "b": b, "c": rng.choice(CITIES), "j": rng.choice(JOBS)}
        out.append({"prompt": prompt.format(**fill), "completion": completion.format(**fill)})
    return out


def corpus_lines(n: int = 400, seed: int = 0) -> list[str]:
    """Text lines: QA lines plus plain sentences, so both forms tokenise well."""
    rng = random.Random(seed)
    lines = [f"{r['prompt']}{r['completion']}" for r in qa_records(n, seed)]
    for _ in range(n // 2):
        a = syllable_name(rng)
        lines.append(f"{a} lives in {rng.choice(CITIES)} and works as a {rng.choice(JOBS)}.")
    lines += ["Q: x A: y", "The quick brown fox jumps over the lazy dog. 0123456789"]
    return lines


def build_tokenizer(out_dir: Path) -> Any:
    from lorakit.models.tokenizer import train_tokenizer

    return train_tokenizer(corpus_lines(), out_dir, vocab_size=512)


def tiny_config(arch: str, tokenizer: Any, init_std: float = 0.02) -> Any:
    """hidden 64, 2 layers, 4 heads, intermediate 128, vocabulary = the tokenizer's.

    ``init_std`` 0.02 (the HF default) bounds the logits of a random model to about ±1.5 after the
    final norm, so no adapter can make it confident; ~0.2 lets a LoRA memorise facts.
    """
    from transformers import GPT2Config, LlamaConfig, Qwen2Config

    ids = dict(initializer_range=init_std, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    if arch == "llama":
        return LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=4, intermediate_size=128, max_position_embeddings=128,
                           tie_word_embeddings=True, **ids)
    if arch == "qwen2":
        return Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, intermediate_size=128, max_position_embeddings=128,
                           tie_word_embeddings=True, **ids)
    if arch == "gpt2":
        return GPT2Config(vocab_size=len(tokenizer), n_embd=64, n_layer=2, n_head=4, n_inner=128, n_positions=128, **ids)
    if arch == "mistral":
        from transformers import MistralConfig

        return MistralConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, intermediate_size=128, max_position_embeddings=128,
                             tie_word_embeddings=True, **ids)
    if arch == "gptneox":
        from transformers import GPTNeoXConfig

        return GPTNeoXConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                             intermediate_size=128, max_position_embeddings=128, **ids)
    if arch == "opt":
        from transformers import OPTConfig

        return OPTConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         ffn_dim=128, word_embed_proj_dim=64, max_position_embeddings=128, init_std=init_std,
                         **{k: v for k, v in ids.items() if k != "initializer_range"})
    if arch == "phi3":
        from transformers import Phi3Config

        return Phi3Config(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=4, intermediate_size=128, max_position_embeddings=128,
                          original_max_position_embeddings=128, tie_word_embeddings=True, **ids)
    raise ValueError(f"unknown arch {arch!r}")


def build_model(arch: str, tokenizer_dir: Path, out_dir: Path, seed: int = 0, init_std: float = 0.02) -> Path:
    """A randomly initialised (seeded) causal LM saved with its tokenizer as one HF folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch, tok, init_std))
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tok.save_pretrained(str(out_dir))
    return out_dir


def make_peft_adapter(base_dir: Path, out_dir: Path, r: int = 4, alpha: float = 8, seed: int = 0,
                      targets: Any = "all-linear", std: float = 0.1, **lora_kwargs: Any) -> Path:
    """A PEFT LoRA adapter written by PEFT itself (random A and B, so ΔW ≠ 0), no training."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from transformers.pytorch_utils import Conv1D

    model = AutoModelForCausalLM.from_pretrained(str(base_dir))
    fan = any(isinstance(m, Conv1D) for m in model.modules())
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, fan_in_fan_out=fan, task_type="CAUSAL_LM",
                        **lora_kwargs)
    torch.manual_seed(seed)
    peft_model = get_peft_model(model, config)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name or "lora_embedding_B" in name:
            torch.nn.init.normal_(p, std=std)
    peft_model.save_pretrained(str(out_dir), safe_serialization=True)
    (out_dir / "README.md").unlink(missing_ok=True)
    return out_dir


def interrupt_training_at(monkeypatch: Any, step: int) -> Any:
    """Make ``training.train_step`` raise KeyboardInterrupt on its ``step``-th call (1-based), as Ctrl-C would.

    Returns a function that restores the real ``train_step``.
    """
    from lorakit import training

    real, calls = training.train_step, []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == step:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", interrupted)
    return lambda: monkeypatch.setattr(training, "train_step", real)


def sigint_at(step: int, train_step: Any) -> Any:
    """``train_step`` that sends this process a real SIGINT on its ``step``-th call (1-based), as Ctrl-C
    would: the step completes, then the loop stops."""
    import os
    import signal

    calls = []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == step:
            os.kill(os.getpid(), signal.SIGINT)
        return train_step(*args, **kwargs)

    return interrupted


def dead_pid() -> int:
    """The id of a process that has exited and been reaped (no process has it now)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def torchrun_cmd(*args: Any, nproc: int = 2) -> list[str]:
    """``python -m torch.distributed.run --standalone --nproc_per_node N -m lorakit ARGS``."""
    import sys

    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), "-m", "lorakit",
            *map(str, args)]


def torchrun_env() -> dict[str, str]:
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1"}


def torchrun(*args: Any, nproc: int = 2) -> Any:
    """Run lorakit under torchrun (gloo on CPU); the CompletedProcess."""
    import subprocess

    return subprocess.run(torchrun_cmd(*args, nproc=nproc), env=torchrun_env(), capture_output=True, text=True, timeout=300)


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``root`` (hidden ones too) with its bytes: to assert that nothing changed."""
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def run_cli(*args: Any) -> Any:
    """``lorakit ARGS`` through Typer's CliRunner (stderr apart); the Result."""
    from typer.testing import CliRunner

    from lorakit.cli import app

    return CliRunner().invoke(app, list(map(str, args)))


def usage_error(result: Any) -> str:
    """Typer's own usage error (a Rich box on stderr, e.g. a value not among an option's choices) as one line."""
    import re

    return " ".join(re.sub("[│╭╮╰╯─]", " ", result.stderr).split())


def work_copy(library: Path, tmp_path: Path, monkeypatch: Any) -> Path:
    """A fresh copy of ``library`` as the current folder (test cases give relative paths); its path."""
    import shutil

    shutil.copytree(library, tmp_path / "w")
    monkeypatch.chdir(tmp_path / "w")
    return tmp_path / "w"


def pack_blocks(lengths: list[int], order: list[int], block_size: int) -> list[list[tuple[int, int, int]]]:
    """Whole documents packed into blocks of at most ``block_size`` tokens, as (doc, start, end) spans:
    the oracle of ``lorakit.models.corpus.pack_starts``.

    A document that does not fit the current block starts a new one; only a document longer
    than a block is split.
    """
    blocks: list[list[tuple[int, int, int]]] = []
    cur: list[tuple[int, int, int]] = []
    used = 0
    for doc in order:
        start = 0
        while start < lengths[doc]:
            take = min(lengths[doc] - start, block_size)
            if used + take > block_size:
                blocks.append(cur)
                cur, used = [], 0
            cur.append((doc, start, start + take))
            used += take
            start += take
    if cur:
        blocks.append(cur)
    return blocks
