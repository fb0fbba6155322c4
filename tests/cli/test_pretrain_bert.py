"""lorakit pretrain-bert: the unigram tokenizer is SentencePiece's own segmentation; Ctrl-C / --resume."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lorakit import checkpoints
from lorakit.cli import app
from lorakit.data.faithfulness import FaithfulnessConfig, generate
from tests.helpers import interrupt_training_at, usage_error

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
    """The HF tokenizer keeps the unigram model: same pieces as SentencePiece itself (not characters);
    punctuation is a piece of its own, as BERT's basic tokenizer splits it ("▁7" "." not "▁7.")."""
    import sentencepiece as spm

    from lorakit.models.pretrain_bert import bert_tokenizer
    from lorakit.models.bert_pairs import sentences
    from lorakit.models.tokenizer import is_punctuation, train_sentencepiece

    docs = corpus.read_text(encoding="utf-8").splitlines()
    lines = [s for d in docs for s in sentences(d)]
    sp = spm.SentencePieceProcessor(model_proto=train_sentencepiece(lines, 400, "unigram", hard_vocab_limit=True,
                                                                         split_punctuation=True))
    tok = bert_tokenizer(docs, 400)
    for line in lines[:50] + ["Zażółć gęślą jaźń 123 ☃"]:
        assert tok(line, add_special_tokens=False)["input_ids"] == sp.encode(line), line
    assert tok.decode(tok(lines[0], add_special_tokens=False)["input_ids"]) == lines[0]
    pieces = [p.lstrip("▁") for p in tok.convert_ids_to_tokens(list(range(len(tok))))]
    special = {*tok.all_special_tokens, *(p for p in pieces if p.startswith("<"))}  # incl. byte pieces <0x2E>
    glued = [p for p in pieces if len(p) > 1 and any(is_punctuation(c) for c in p) and p not in special]
    assert not glued and "." in pieces and "," in pieces
    assert tok.tokenize("maja 2024.")[-1] == "."


@pytest.mark.parametrize("batching", [[], ["--group-by-length"]])
def test_interrupt_then_resume_equals_uninterrupted(corpus, tmp_path, monkeypatch, batching):
    common = [corpus, "--steps", "6", "--checkpoint-every", "2", *TINY, *batching]
    assert run(*common, "--out", tmp_path / "a").exit_code == 0

    restore = interrupt_training_at(monkeypatch, 4)
    out = tmp_path / "b"
    result = run(*common, "--out", out)
    assert result.exit_code == 130 and "--resume" in result.output and "step 3/6" in result.output
    ckpt = checkpoints.checkpoint_path(out)
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


def test_planned_pairs_read_back_as_the_documents_sentences():
    """plan_pairs + read_pair: A ends where B begins in the same document (label 0), B comes from
    another document (label 1, NSP) or A and B are swapped (label 1, SOP); every pair fits."""
    import random

    from lorakit.models.bert_pairs import SentenceStore, plan_pairs, read_pair

    rng = random.Random(0)
    docs = [[[1000 * d + 10 * s + t for t in range(rng.randint(1, 9))] for s in range(rng.randint(1, 7))]
            for d in range(40)]
    store = SentenceStore.from_lists(docs)
    for pairs in ("nsp", "sop", None):
        rows = plan_pairs(store, 20, pairs, random.Random(1))
        assert sorted(set(rows[:, 0].tolist())) == list(range(40))  # every document gives pairs
        labels = set()
        for row in rows:
            d, first, cut, end, other, other_first, label = row.tolist()
            a, b, lab = read_pair(store, row, 20, pairs)
            flat = [t for s in docs[d][first:end] for t in s]
            labels.add(lab)
            assert 0 < len(a) and len(a) + len(b) <= 20 and lab == label
            if pairs == "sop" and label == 1:
                a, b = b, a
            assert all(t // 1000 == d for t in a)
            assert flat[: len(a)] == a  # A is the chunk's start
            if other >= 0:
                assert pairs == "nsp" and label == 1 and other != d and all(t // 1000 == other for t in b)
            elif b:
                start = sum(len(s) for s in docs[d][first:cut])
                assert flat[start:start + len(b)] == b  # B follows A's sentences in the same document
            assert (label == -100) == (pairs is None or (pairs == "sop" and not b))  # SOP needs a B to order
        assert labels - {-100} == ({0, 1} if pairs else set())


def test_bpe_tokenizer_and_sinusoidal_positions(corpus, tmp_path, monkeypatch):
    """--tokenizer-type bpe: SentencePiece BPE's own pieces, loadable with AutoTokenizer;
    --position-init sinusoidal: the model starts from the sine table (a plain BERT folder)."""
    import sentencepiece as spm
    import torch
    from transformers import AutoTokenizer

    from lorakit.models import pretrain_bert as bert
    from lorakit.models.bert_pairs import sentences
    from lorakit.models.tokenizer import train_sentencepiece

    starts = []
    real = bert.training.prepare
    monkeypatch.setattr(bert.training, "prepare", lambda acc, model, *a: (
        starts.append(model.model.bert.embeddings.position_embeddings.weight.detach().clone()), real(acc, model, *a))[1])
    result = run(corpus, "--out", tmp_path / "m", *TINY, "--steps", "1", "--tokenizer-type", "bpe",
                 "--position-init", "sinusoidal")
    assert result.exit_code == 0, result.output
    torch.testing.assert_close(starts[0], bert.sinusoidal_positions(128, 32))
    assert abs(float(starts[0].std()) - 0.05) < 1e-6 and float(starts[0][1, 0]) > 0  # sin(1) > 0
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "m"))
    assert json.loads((tmp_path / "m" / "tokenizer.json").read_text())["model"]["type"] == "BPE"
    lines = [s for d in corpus.read_text(encoding="utf-8").splitlines() for s in sentences(d)]
    model = train_sentencepiece(lines, 400, "bpe", hard_vocab_limit=True, split_punctuation=True)
    sp = spm.SentencePieceProcessor(model_proto=model)
    for line in lines[:30]:
        assert tok(line, add_special_tokens=False)["input_ids"] == sp.encode(line), line
    ids = tok(lines[0], lines[1])["input_ids"]
    assert ids[0] == tok.cls_token_id and ids.count(tok.sep_token_id) == 2 and tok.mask_token_id is not None
    result = run(corpus, "--out", tmp_path / "bad", *TINY, "--tokenizer-type", "wordpiece")
    assert result.exit_code == 2 and "'wordpiece' is not one of 'unigram', 'bpe'" in usage_error(result)
    result = run(corpus, "--out", tmp_path / "bad", *TINY, "--position-init", "rope")
    assert result.exit_code == 2 and "'rope' is not one of 'random', 'sinusoidal'" in usage_error(result)
    result = run(corpus, "--out", tmp_path / "bad", *TINY, "--num-proc", "0", "--tokenizer-sample", "0")
    assert "--num-proc must be at least 1" in result.stderr and "--tokenizer-sample must be positive" in result.stderr
    assert not (tmp_path / "bad").exists()


def test_group_by_length_batches_the_same_pairs_with_less_padding():
    """--group-by-length: the epoch's pairs are the same rows (each once), batches hold like lengths,
    ``pair_length`` is the read pair's length, and the plan is the same for a seed."""
    import random
    from types import SimpleNamespace

    from lorakit.models import bert_pairs
    from lorakit.models.bert_pairs import Batches, SentenceStore, pair_length, read_pair

    rng = random.Random(0)
    docs = [[[1000 * d + 10 * s + t for t in range(rng.randint(1, 9))] for s in range(rng.randint(1, 7))]
            for d in range(300)]
    store = SentenceStore.from_lists(docs)

    class Tok(SimpleNamespace):
        def __len__(self):
            return 10

    tok = Tok(cls_token_id=1, sep_token_id=2, pad_token_id=0, mask_token_id=3, all_special_ids=[0, 1, 2, 3])
    widths, planned = {}, {}
    for pairs, objective in (("nsp", "mlm+nsp"), (None, "mlm")):
        for group in (False, True):
            cfg = SimpleNamespace(seed=0, max_seq_len=23, pairs=pairs, batch_size=4, group_by_length=group)
            plan = Batches(store, cfg, tok, []).plan(0)
            batches = [plan[i][1] for i in range(len(plan))]
            lengths = [[pair_length(store, row, 20) for row in b] for b in batches]
            for b, ls in zip(batches, lengths):
                assert ls == [sum(map(len, read_pair(store, row, 20, pairs)[:2])) for row in b]
            widths[objective, group] = sum(max(ls) * len(ls) for ls in lengths)
            planned[group] = sorted(map(tuple, (r.tolist() for b in batches for r in b)))
            if group:
                assert planned[True] == planned[False]  # the same pairs, once each
                again = Batches(store, cfg, tok, []).plan(0)
                assert all((again[i][1] == batches[i]).all() for i in range(len(plan)))
                if len(plan) > bert_pairs.GROUP_BATCHES:  # windows after the first are grouped too
                    assert max(lengths[-2]) - min(lengths[-2]) <= 2
        assert widths[objective, True] < 0.8 * widths[objective, False]
