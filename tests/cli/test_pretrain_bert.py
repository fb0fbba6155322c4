"""lorakit pretrain-bert: the unigram tokenizer is SentencePiece's own segmentation; Ctrl-C / --resume."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lorakit import training
from lorakit.cli import app
from lorakit.data.faithfulness import FaithfulnessConfig, generate
from tests.helpers import interrupt_training_at

runner = CliRunner()
TINY = ["--layers", "1", "--hidden", "32", "--heads", "2", "--intermediate", "64", "--max-seq-len", "128",
        "--vocab-size", "400", "--batch-size", "4", "--dropout", "0", "--threads", "1", "--device", "cpu", "--quiet"]


def run(*args, input=None):
    return runner.invoke(app, ["pretrain-bert", *map(str, args)], input=input)


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("bert-corpus") / "corpus.txt"
    path.write_text(generate(FaithfulnessConfig(lang="pl", corpus_mb=0.03, test_size=5))["corpus.txt"], encoding="utf-8")
    return path


def test_tokenizer_segments_as_sentencepiece_does(corpus):
    """The HF tokenizer keeps the unigram model: same pieces as SentencePiece itself (not characters)."""
    import sentencepiece as spm

    from lorakit.models.bert import bert_tokenizer, read_documents, sentences
    from lorakit.models.tokenizer import train_sentencepiece

    docs = read_documents(corpus)
    lines = [s for d in docs for s in sentences(d)]
    sp = spm.SentencePieceProcessor(model_proto=train_sentencepiece(lines, 400, "unigram", hard_vocab_limit=True))
    tok = bert_tokenizer(docs, 400)
    for line in lines[:50] + ["Zażółć gęślą jaźń 123 ☃"]:
        assert tok(line, add_special_tokens=False)["input_ids"] == sp.encode(line), line
    assert tok.decode(tok(lines[0], add_special_tokens=False)["input_ids"]) == lines[0]


def test_interrupt_then_resume_equals_uninterrupted(corpus, tmp_path, monkeypatch):
    common = [corpus, "--steps", "6", "--checkpoint-every", "2", *TINY]
    assert run(*common, "--out", tmp_path / "a").exit_code == 0

    restore = interrupt_training_at(monkeypatch, 4)
    out = tmp_path / "b"
    result = run(*common, "--out", out)
    assert result.exit_code == 130 and "--resume" in result.output and "step 3/6" in result.output
    ckpt = training.checkpoint_path(out)
    assert (ckpt / "tokenizer").is_dir() and not out.exists()
    restore()

    result = run(*common, "--out", out)  # the checkpoint is protected without --resume
    assert result.exit_code == 4 and "--resume" in result.output
    result = run(*[a if a != "6" else "7" for a in common], "--out", out, "--resume")
    assert result.exit_code == 6 and "steps" in result.output  # other options: refused

    result = run(*common, "--out", out, "--resume", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["resumed_from"] == 3 and not ckpt.exists()
    a, b = weights(tmp_path / "a"), weights(out)
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    assert (tmp_path / "a" / "tokenizer.json").read_text() == (out / "tokenizer.json").read_text()


def test_reads_a_datasets_folder_like_the_text_file(corpus, tmp_path):
    """A local `save_to_disk` folder (its "text" column) trains the same model as the text file."""
    import datasets

    lines = [line for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    datasets.Dataset.from_dict({"text": lines, "n": list(range(len(lines)))}).save_to_disk(str(tmp_path / "ds"))
    for name, source in (("from-file", corpus), ("from-folder", tmp_path / "ds")):
        result = run(source, "--out", tmp_path / name, *TINY, "--steps", "2")
        assert result.exit_code == 0, result.output
    a, b = weights(tmp_path / "from-file"), weights(tmp_path / "from-folder")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    datasets.Dataset.from_dict({"body": lines}).save_to_disk(str(tmp_path / "no-text"))
    result = run(tmp_path / "no-text", "--out", tmp_path / "bad", *TINY, "--steps", "2")
    assert result.exit_code == 3 and "has no 'text' column" in result.stderr
    assert not (tmp_path / "bad").exists()
