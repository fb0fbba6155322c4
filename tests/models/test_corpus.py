"""lorakit.models.corpus: documents from text / JSONL / datasets folders, token ids, packed blocks."""

from __future__ import annotations

import io
import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakit.models.corpus import (
    EpochPlan, TokenStore, iter_texts, open_corpus, pack_starts, sample_texts, text_bytes, tokenize_corpus,
)
from lorakit.errors import InputError
from lorakit.models.pretrain_lm import Batches, read_corpus
from tests.helpers import corpus_lines, pack_blocks


def texts(ds):
    return list(iter_texts(ds))


def test_text_and_jsonl_match_read_corpus(tmp_path):
    (tmp_path / "a.txt").write_text("one\n\n two \r\n\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"text": "x "}\n\n{"text": ""}\n{"text": "y", "id": 1}\n', encoding="utf-8")
    for name in ("a.txt", "b.jsonl"):
        assert texts(open_corpus(tmp_path / name, tmp_path / "cache")) == read_corpus(tmp_path / name)
    assert texts(open_corpus(tmp_path / "b.jsonl", tmp_path / "cache")) == ["x ", "", "y"]


def test_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "a"}\n{"text": "b"}\n'))
    assert texts(open_corpus("-")) == ["a", "b"]


def test_datasets_folder(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"text": [" a ", "", None, "b"], "n": [1, 2, 3, 4]}).save_to_disk(str(tmp_path / "d"))
    assert texts(open_corpus(tmp_path / "d")) == ["a", "b"]
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["t"]})}).save_to_disk(str(tmp_path / "dd"))
    assert texts(open_corpus(tmp_path / "dd")) == ["t"]
    datasets.Dataset.from_dict({"body": ["x"]}).save_to_disk(str(tmp_path / "e"))
    with pytest.raises(InputError, match=r"e: the dataset has no 'text' column \(columns: body\)"):
        open_corpus(tmp_path / "e")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: not a datasets folder"):
        open_corpus(tmp_path / "empty")


@pytest.mark.parametrize("num_proc", [1, 2])
def test_errors_name_file_and_line(tmp_path, num_proc):
    good = "".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(2500))  # 2 processes above 2000 rows
    cases = {
        "bad.jsonl": (good + '{"text": \n', r"bad.jsonl:2501: invalid JSON"),
        "field.jsonl": (good + '{"body": "x"}\n', r"field.jsonl:2501: expected an object with a string field 'text'"),
        "blank.txt": ("\n  \n", r"blank.txt: no text"),
        "empty.txt": ("", r"empty.txt: no text"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        with pytest.raises(InputError, match=message):
            open_corpus(tmp_path / name, tmp_path / "cache", num_proc)
    (tmp_path / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="latin.txt: not UTF-8 text"):
        open_corpus(tmp_path / "latin.txt", tmp_path / "cache")
    with pytest.raises(InputError, match="nope.txt: no such file"):
        open_corpus(tmp_path / "nope.txt", tmp_path / "cache")


def test_tokenize_matches_tokenizer_and_is_cached(tmp_path, tiny_tokenizer_dir):
    from lorakit.models.load import load_tokenizer

    tok = load_tokenizer(tiny_tokenizer_dir)
    path = tmp_path / "c.txt"
    path.write_text("\n".join(corpus_lines(1200)) + "\n", encoding="utf-8")
    docs = open_corpus(path, tmp_path / "cache", num_proc=2)
    ids = tokenize_corpus(docs, tok, num_proc=2)
    expected = [x + [tok.eos_token_id] for x in tok(read_corpus(path), add_special_tokens=True)["input_ids"]]
    store = TokenStore.from_dataset(ids)
    assert len(ids.data.column("ids").chunks) > 1  # two processes: two Arrow files
    assert [store.tokens(d, 0, int(store.lengths[d])).tolist() for d in range(len(store))] == expected
    assert store.tokens(5, 1, 3).tolist() == expected[5][1:3]
    files = {f["filename"] for f in ids.cache_files}
    assert files and all(str(tmp_path / "cache") in f for f in files)
    again = tokenize_corpus(open_corpus(path, tmp_path / "cache", num_proc=2), tok, num_proc=2)
    assert {f["filename"] for f in again.cache_files} == files


def test_sample_texts_is_bounded_seeded_and_in_order():
    import datasets

    lines = [f"line {i} " + "x" * (i % 7) for i in range(500)]
    docs = datasets.Dataset.from_dict({"text": lines})
    total = int(text_bytes(docs).sum())
    assert total == sum(len(s.encode()) for s in lines)
    assert list(sample_texts(docs, total)) == lines
    sample = list(sample_texts(docs, total // 4))
    assert sample == list(sample_texts(docs, total // 4)) and sample != list(sample_texts(docs, total // 4, seed=1))
    assert total // 4 - 20 <= sum(len(s) for s in sample) <= total // 4
    positions = [lines.index(s) for s in sample]
    assert positions == sorted(positions)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=0, max_size=40), st.integers(1, 12), st.randoms(use_true_random=False))
def test_pack_starts_equals_pack_blocks(lengths, block_size, rnd):
    order = list(range(len(lengths)))
    rnd.shuffle(order)
    blocks = pack_blocks(lengths, order, block_size)
    plan = EpochPlan(np.array(order, np.int32), np.array(lengths, np.int32), block_size, batch_size=1)
    assert plan.blocks == len(blocks) and len(pack_starts(np.array(lengths)[order], block_size)[0]) == len(blocks)
    assert [plan.block(b) for b in range(plan.blocks)] == blocks


def test_batches_plan_matches_list_packing():
    rng = random.Random(0)
    docs = [[2] + [10 + i] * rng.randint(1, 20) + [3] for i in range(50)]
    b = Batches(docs, block_size=16, batch_size=3, seed=4, pad_id=0)
    order = list(range(50))
    random.Random(4 * 1_000_003 + 1).shuffle(order)
    blocks = pack_blocks([len(d) for d in docs], order, 16)
    assert list(b.plan(1)) == [blocks[i:i + 3] for i in range(0, len(blocks), 3)]
    assert b.plan(1)[-1] == blocks[-(len(blocks) % 3 or 3):] and len(b.plan(1)[1:3]) == 2
    with pytest.raises(IndexError):
        b.plan(1)[len(b.plan(1))]
