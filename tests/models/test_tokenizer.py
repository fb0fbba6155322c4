"""Tokenizer training: an HF folder that plain transformers loads, names that tokenise well."""

from __future__ import annotations

import pytest

from lorakit.errors import InputError, UsageError
from lorakit.models.tokenizer import train_tokenizer
from lorakit.models.encode import IGNORE_INDEX, encode_example


def test_autotokenizer_loads_folder(tiny_tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    assert len(tok) <= 512
    assert (tok.pad_token_id, tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2, 3)
    assert tok("Q: x A:")["input_ids"][0] == tok.bos_token_id


def test_encode_example_round_trips(tiny_tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    ids, labels = encode_example(tok, "Q: x A:", " Tavi Monu")
    assert tok.decode(ids, skip_special_tokens=True) == "Q: x A: Tavi Monu"
    answer = [i for i, lab in zip(ids, labels) if lab != IGNORE_INDEX]
    assert tok.decode(answer, skip_special_tokens=True) == "Tavi Monu"
    assert answer[-1] == tok.eos_token_id


def test_syllable_names_are_few_pieces(tiny_tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    assert len(tok(" Tavi Monu", add_special_tokens=False)["input_ids"]) <= 4


def test_deterministic(tmp_path):
    lines = ["Q: Where does Tavi Monu live? A: Orvel", "Kare Lonu lives in Varn."] * 20
    a = train_tokenizer(lines, tmp_path / "a", vocab_size=300)
    b = train_tokenizer(lines, tmp_path / "b", vocab_size=300)
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()
    assert a("Tavi Monu")["input_ids"] == b("Tavi Monu")["input_ids"]


def test_errors():
    with pytest.raises(InputError, match="no text"):
        train_tokenizer(["", "  "])
    with pytest.raises(UsageError, match="model_type"):
        train_tokenizer(["a b"], model_type="wordpiece")
    with pytest.raises(UsageError, match="too small"):
        train_tokenizer(["Q: Where does Tavi Monu live? A: Orvel"], vocab_size=64)
