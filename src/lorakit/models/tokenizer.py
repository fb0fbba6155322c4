"""Training a SentencePiece tokenizer in code and saving it as a Hugging Face tokenizer folder.

The folder (``tokenizer.json`` + ``tokenizer_config.json``) loads with plain
``AutoTokenizer.from_pretrained``; lorakit is not needed to read it back.
"""

from __future__ import annotations

import io
import itertools
import string
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from lorakit.errors import InputError, UsageError

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIAL_TOKENS = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
DELIMITER = "\u241f"
"""SentencePiece's ``pretokenization_delimiter`` while training: no piece crosses it."""


def is_punctuation(char: str) -> bool:
    """ASCII punctuation or a Unicode P* character (as BERT's basic tokenizer and ``tokenizers.Punctuation`` decide)."""
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def punctuation_apart(line: str) -> str:
    """``line`` with the training delimiter around every punctuation character: "7." -> "7␟.␟"."""
    return "".join(f"{DELIMITER}{c}{DELIMITER}" if is_punctuation(c) else c for c in line.replace(DELIMITER, ""))


def train_sentencepiece(lines: Iterable[str], vocab_size: int = 512, model_type: Literal["bpe", "unigram"] = "bpe",
                        hard_vocab_limit: bool = False, split_punctuation: bool = False) -> bytes:
    """The serialized SentencePiece model trained on ``lines`` (deterministic: one thread, no sampling).

    ``lines`` is consumed as a stream, but SentencePiece keeps every line it trains on in memory:
    for a large corpus pass a sample (``lorakit.models.corpus.sample_texts``).

    ``hard_vocab_limit``: exactly ``vocab_size`` pieces, or a UsageError when the corpus supports fewer.
    ``split_punctuation``: no piece joins punctuation to anything ("▁7" "." rather than "▁7."), as
    BERT's basic tokenizer splits it off; the segmentation then needs no pre-tokenizer to match.
    """
    import sentencepiece as spm

    if model_type not in ("bpe", "unigram"):
        raise UsageError(f"model_type must be 'bpe' or 'unigram', not {model_type!r}")
    if vocab_size < 8:
        raise UsageError(f"--vocab-size must be at least 8, not {vocab_size}")
    text = (s for s in (line.strip() for line in lines) if s)  # streamed: the caller bounds the sample
    if split_punctuation:
        text = (punctuation_apart(s) for s in text)
    first = next(text, None)
    if first is None:
        raise InputError("no text to train a tokenizer on")
    spm.set_random_generator_seed(0)
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=itertools.chain([first], text), model_writer=model, vocab_size=vocab_size, model_type=model_type,
            hard_vocab_limit=hard_vocab_limit, byte_fallback=True, character_coverage=1.0,
            pad_id=PAD, unk_id=UNK, bos_id=BOS, eos_id=EOS, num_threads=1,
            input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2,
            **({"pretokenization_delimiter": DELIMITER} if split_punctuation else {}),
        )
    except RuntimeError as e:  # e.g. "Vocabulary size is smaller than required_chars. 64 vs 285."
        reason = str(e).split("] ")[-1].split(". Increase")[0]
        if "too high" in reason:  # "Vocabulary size too high (N). Please set it to a value <= M."
            most = reason.rsplit("<=", 1)[-1].strip(" .")
            raise UsageError(f"--vocab-size {vocab_size} is larger than this corpus supports (at most {most})") from None
        raise UsageError(f"--vocab-size {vocab_size} is too small for this corpus: {reason} "
                         "(byte fallback needs 256 pieces plus every distinct character)") from None
    return model.getvalue()


def tokenizer_from_sentencepiece(model: bytes) -> Any:
    """A ``LlamaTokenizer`` (tokenizers backend) built from a SentencePiece model: BOS added, pad set."""
    from transformers import LlamaTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "tokenizer.model").write_bytes(model)
        return LlamaTokenizer.from_pretrained(
            tmp, add_bos_token=True, add_eos_token=False, local_files_only=True, **SPECIAL_TOKENS
        )


def train_tokenizer(lines: Iterable[str], out_dir: str | Path | None = None, vocab_size: int = 512,
                    model_type: Literal["bpe", "unigram"] = "bpe") -> Any:
    """Train a SentencePiece tokenizer on ``lines``; save it as an HF folder when ``out_dir`` is given.

    ``vocab_size`` is an upper bound (``hard_vocab_limit=False``): a small corpus gives fewer
    pieces. Byte fallback means no text is ever unknown. Returns the HF tokenizer.
    """
    tok = tokenizer_from_sentencepiece(train_sentencepiece(lines, vocab_size, model_type))
    if out_dir is not None:
        tok.save_pretrained(str(out_dir))
    return tok


def word_starts(tokenizer: Any) -> list[bool]:
    """Per vocabulary id: does the piece begin a word (SentencePiece's '▁' prefix, or a special token)?"""
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    special = set(tokenizer.all_special_ids)
    return [i in special or p.startswith("▁") for i, p in enumerate(pieces)]
