"""``pretrain-bert``: a SentencePiece unigram tokenizer and a BertForPreTraining from scratch.

setup (read corpus, tokenizer, sentence pairs, model) -> fit (``training.fit``: schedule,
checkpoints, Ctrl-C/--resume) -> save (an HF folder: ``BertForPreTraining.from_pretrained`` and
``AutoTokenizer.from_pretrained`` load it). The MLM head runs only at the masked positions.

Pairs are built as in BERT's ``create_pretraining_data``, per document: sentences are packed up
to ``max_seq_len - 3`` tokens and split at a random sentence boundary into segments A and B;
for NSP, B is replaced half the time by sentences of another document (label 1 = not next, the
HF convention); for SOP, A and B are swapped half the time. Pairs and masks are pure functions
of (seed, epoch, batch), so a resumed run sees the same batches.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from lorakit import distributed, training
from lorakit.errors import InputError, UsageError
from lorakit.io import atomic_dir
from lorakit.models.pretrain import read_corpus
from lorakit.runtime import ProgressFn, no_progress, resolve_device, seed_everything

COMMAND = "pretrain-bert"
OBJECTIVES = ("mlm", "mlm+nsp", "mlm+sop")
MASK_TOKEN = "[MASK]"
CLS_TOKEN, SEP_TOKEN = "<s>", "</s>"
_SENTENCE = re.compile(r"(?<=[.!?…])\s+")


@dataclass
class BertPretrainConfig(training.RunOptions):
    corpus: str
    """Text file (one document per line), JSONL with a "text" field, a `datasets` folder, or '-'."""
    out: Path
    vocab_size: int = 4000
    """Pieces of the SentencePiece unigram tokenizer (exactly; an error when the corpus supports fewer)."""
    layers: int = 4
    hidden: int = 256
    heads: int = 4
    intermediate: int = 1024
    dropout: float = 0.1
    """Hidden-layer dropout."""
    attention_dropout: float | None = None
    """Attention-probability dropout (None: the same as ``dropout``)."""
    objective: str = "mlm+nsp"
    max_seq_len: int = 128
    whole_word_masking: bool = False
    mask_prob: float = 0.15
    steps: int | None = None
    """Optimizer steps; when given it wins over ``epochs``."""
    epochs: int = 3
    batch_size: int = 32
    lr: float = 5e-4
    warmup: float = 0.05
    weight_decay: float = 0.01
    clip: float = 1.0
    checkpoint_every: int = 1000

    def validate(self) -> None:
        problems = training.schedule_problems(self)
        for name in ("layers", "hidden", "heads", "intermediate"):
            if getattr(self, name) < 1:
                problems.append(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.heads > 0 and self.hidden % self.heads:
            problems.append(f"--hidden ({self.hidden}) must be a multiple of --heads ({self.heads})")
        for name in ("dropout", "attention_dropout"):
            v = getattr(self, name)
            if v is not None and not 0 <= v < 1:
                problems.append(f"--{name.replace('_', '-')} must be in [0, 1), not {v}")
        if self.objective not in OBJECTIVES:
            problems.append(f"--objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        if not 16 <= self.max_seq_len <= 512:
            problems.append(f"--max-seq-len must be in [16, 512], not {self.max_seq_len}")
        if not 0 < self.mask_prob < 1:
            problems.append(f"--mask-prob must be in (0, 1), not {self.mask_prob}")
        if problems:
            raise UsageError("; ".join(problems))

    @property
    def pairs(self) -> str | None:
        """The sentence-pair task: 'nsp', 'sop' or None."""
        return self.objective.split("+")[1] if "+" in self.objective else None


@dataclass
class BertPretrainResult:
    out: Path
    parameters: int
    vocab_size: int
    fit: training.FitResult

    def summary(self) -> dict[str, Any]:
        return {"out": str(self.out), "parameters": self.parameters, "vocab_size": self.vocab_size, **self.fit.summary()}


# 1) data ------------------------------------------------------------------------------------------


def read_documents(path: str | Path) -> list[str]:
    """Documents from a text/JSONL file (see ``read_corpus``) or a local ``datasets`` folder (its "text" column)."""
    p = Path(path)
    if str(path) != "-" and p.is_dir():
        from lorakit.data.corpus import load_folder

        docs = [t.strip() for t in load_folder(p)["text"] if isinstance(t, str) and t.strip()]
        if not docs:
            raise InputError(f"{p}: no text")
        return docs
    return read_corpus(path)


def sentences(doc: str) -> list[str]:
    return [s for s in _SENTENCE.split(doc.strip()) if s]


def unigram_backend(model: bytes) -> Any:
    """A ``tokenizers`` Unigram tokenizer with the SentencePiece model's pieces and scores.

    (transformers' LlamaTokenizer would re-read a unigram model as BPE and split most words into
    characters; SentencePiece's own segmentation is what the model must see.)
    """
    import sentencepiece as spm
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import Unigram

    sp = spm.SentencePieceProcessor(model_proto=model)
    vocab = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    backend = Tokenizer(Unigram(vocab, sp.unk_id(), True))  # byte fallback, as trained
    backend.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    backend.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(replacement="\u2581", prepend_scheme="always")])
    backend.add_special_tokens([AddedToken(sp.id_to_piece(i), special=True)
                                for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)])
    return backend


def bert_tokenizer(docs: list[str], vocab_size: int) -> Any:
    """A SentencePiece unigram tokenizer with BERT behaviour: ``<s> A </s> B </s>``, token types, ``[MASK]``.

    Saved with ``save_pretrained`` it loads with plain ``AutoTokenizer.from_pretrained``.
    """
    from tokenizers import AddedToken
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    from lorakit.models.tokenizer import train_sentencepiece

    lines = [s for d in docs for s in sentences(d)]
    backend = unigram_backend(train_sentencepiece(lines, vocab_size, "unigram", hard_vocab_limit=True))
    backend.add_special_tokens([AddedToken(MASK_TOKEN, special=True)])
    cls, sep = backend.token_to_id(CLS_TOKEN), backend.token_to_id(SEP_TOKEN)
    backend.post_processor = TemplateProcessing(
        single=f"{CLS_TOKEN} $A {SEP_TOKEN}", pair=f"{CLS_TOKEN} $A {SEP_TOKEN} $B:1 {SEP_TOKEN}:1",
        special_tokens=[(CLS_TOKEN, cls), (SEP_TOKEN, sep)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=CLS_TOKEN, eos_token=SEP_TOKEN, unk_token="<unk>", pad_token="<pad>",
        cls_token=CLS_TOKEN, sep_token=SEP_TOKEN, mask_token=MASK_TOKEN,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def word_starts(tokenizer: Any) -> list[bool]:
    """Per vocabulary id: does the piece begin a word (SentencePiece's '▁' prefix, or a special token)?"""
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    special = set(tokenizer.all_special_ids)
    return [i in special or p.startswith("▁") for i, p in enumerate(pieces)]


Pair = tuple[list[int], list[int], int]
"""(segment A ids, segment B ids, sentence-pair label: 0 next / in order, 1 random / swapped, -100 none)."""


def check_pairs_possible(docs: list[list[list[int]]], pairs: str | None) -> None:
    if pairs is None:
        return
    if len(docs) < 2 or not any(len(d) >= 2 for d in docs):
        raise InputError(f"corpus too small for {pairs.upper()} pairs: it needs at least 2 documents and one with "
                         f"2 or more sentences (has {len(docs)} document(s), the longest with "
                         f"{max((len(d) for d in docs), default=0)} sentence(s))")


def make_pairs(docs: list[list[list[int]]], max_tokens: int, pairs: str | None, rng: random.Random) -> list[Pair]:
    """Sentence pairs from each document (BERT's ``create_instances_from_document``, simplified)."""
    out: list[Pair] = []
    for d, doc in enumerate(docs):
        target = max_tokens if rng.random() > 0.1 else rng.randint(2, max_tokens)  # BERT's short-sequence prob
        chunk: list[list[int]] = []
        for i, sent in enumerate(doc):
            chunk.append(sent)
            if i < len(doc) - 1 and sum(map(len, chunk)) < target:
                continue
            cut = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
            a = [t for s in chunk[:cut] for t in s]
            b = [t for s in chunk[cut:] for t in s]
            label = -100
            if pairs == "nsp":
                label = 0
                if not b or rng.random() < 0.5:
                    other = docs[rng.choice([j for j in range(len(docs)) if j != d]) if len(docs) > 1 else d]
                    start = rng.randrange(len(other))
                    b, label = [t for s in other[start:] for t in s], 1
            elif pairs == "sop" and b and rng.random() < 0.5:
                a, b, label = b, a, 1
            while len(a) + len(b) > max_tokens:  # truncate the longer segment at the end
                (a if len(a) > len(b) else b).pop()
            if a:
                out.append((a, b, label))
            chunk = []
    return out


class Batches:
    """Per epoch: pairs of every document (seeded by epoch), shuffled, grouped; each batch carries its mask seed."""

    def __init__(self, docs: list[list[list[int]]], cfg: BertPretrainConfig, tokenizer: Any) -> None:
        self.docs, self.cfg = docs, cfg
        self.cls, self.sep, self.pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
        self.mask, self.vocab = tokenizer.mask_token_id, len(tokenizer)
        self.starts = word_starts(tokenizer)
        self.special = set(tokenizer.all_special_ids)
        self._cache: dict[int, list[tuple[int, list[Pair]]]] = {}

    def plan(self, epoch: int) -> list[tuple[int, list[Pair]]]:
        if epoch not in self._cache:
            rng = random.Random(self.cfg.seed * 1_000_003 + epoch)
            pairs = make_pairs(self.docs, self.cfg.max_seq_len - 3, self.cfg.pairs, rng)
            rng.shuffle(pairs)
            bs = self.cfg.batch_size
            self._cache = {epoch: [(rng.getrandbits(63), pairs[i:i + bs]) for i in range(0, len(pairs), bs)]}
        return self._cache[epoch]

    def masked_positions(self, ids: list[int], rng: random.Random) -> list[int]:
        """Positions to predict: ``mask_prob`` of the non-special tokens (whole words with ``whole_word_masking``)."""
        words: list[list[int]] = []
        for pos, t in enumerate(ids):
            if t in self.special:
                continue
            if not words or not self.cfg.whole_word_masking or self.starts[t]:
                words.append([pos])
            else:
                words[-1].append(pos)
        n = sum(map(len, words))
        want = max(1, round(n * self.cfg.mask_prob))
        rng.shuffle(words)
        chosen: list[int] = []
        for w in words:
            if len(chosen) >= want:
                break
            chosen += w
        return sorted(chosen)

    def collate(self, plan: tuple[int, list[Pair]]) -> dict[str, torch.Tensor]:
        seed, pairs = plan
        rng = random.Random(seed)
        rows = [[self.cls, *a, self.sep, *b, self.sep] if b else [self.cls, *a, self.sep] for a, b, _ in pairs]
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        types = torch.zeros_like(ids)
        attn = torch.zeros_like(ids)
        index, labels = [], []
        for r, ((a, b, _), row) in enumerate(zip(pairs, rows)):
            for pos in self.masked_positions(row, rng):
                index.append(r * width + pos)
                labels.append(row[pos])
                p = rng.random()  # 80 % [MASK], 10 % random token, 10 % unchanged
                row[pos] = self.mask if p < 0.8 else rng.randrange(self.vocab) if p < 0.9 else row[pos]
            ids[r, : len(row)] = torch.tensor(row)
            attn[r, : len(row)] = 1
            types[r, len(a) + 2: len(row)] = 1 if b else 0
        batch = {"input_ids": ids, "token_type_ids": types, "attention_mask": attn,
                 "mlm_index": torch.tensor(index), "mlm_labels": torch.tensor(labels)}
        if self.cfg.pairs:
            batch["next_sentence_label"] = torch.tensor([lab for _, _, lab in pairs])
        return batch


# 2) model -----------------------------------------------------------------------------------------


def bert_config(cfg: BertPretrainConfig, tokenizer: Any) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, intermediate_size=cfg.intermediate, hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout if cfg.attention_dropout is None else cfg.attention_dropout,
        max_position_embeddings=cfg.max_seq_len, type_vocab_size=2, pad_token_id=tokenizer.pad_token_id,
        architectures=["BertForPreTraining"],
    )


class PretrainingLoss(torch.nn.Module):
    """BertForPreTraining's loss with the MLM head applied only at the masked positions."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, attention_mask: torch.Tensor,
                mlm_index: torch.Tensor, mlm_labels: torch.Tensor, next_sentence_label: torch.Tensor | None = None,
                normalizers: tuple[int, int] | None = None) -> Any:
        """``normalizers``: (masked tokens, pairs) of the global batch; each term is then a sum over
        this batch divided by it (a share of the global mean); None: the means over this batch."""
        import torch.nn.functional as F

        def mean(logits: torch.Tensor, labels: torch.Tensor, term: int) -> torch.Tensor:
            if normalizers is None:
                return F.cross_entropy(logits.float(), labels)
            return F.cross_entropy(logits.float(), labels, reduction="sum") / max(1, normalizers[term])

        seq, pooled = self.model.bert(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)[:2]
        hidden = seq.reshape(-1, seq.size(-1))[mlm_index]
        loss = mean(self.model.cls.predictions(hidden), mlm_labels, 0)
        if next_sentence_label is not None:
            loss = loss + mean(self.model.cls.seq_relationship(pooled), next_sentence_label, 1)
        return SimpleNamespace(loss=loss)


def pretraining_loss(model: Any, batch: dict[str, torch.Tensor], whole: dict[str, torch.Tensor]) -> torch.Tensor:
    """``training.LossFn`` for ``PretrainingLoss``: ``batch``'s share of the global batch ``whole``'s loss."""
    pairs = whole.get("next_sentence_label")
    return model(**batch, normalizers=(len(whole["mlm_labels"]), 0 if pairs is None else len(pairs))).loss


def take_rows(batch: dict[str, torch.Tensor], rows: list[int]) -> dict[str, torch.Tensor]:
    """Rows of a collated batch (a process's micro-batch), ``mlm_index`` renumbered to the new rows."""
    width = batch["input_ids"].size(1)
    index = torch.tensor(rows, dtype=torch.long)
    new_row = torch.full((batch["input_ids"].size(0),), -1, dtype=torch.long)
    new_row[index] = torch.arange(len(rows))
    row, pos = batch["mlm_index"] // width, batch["mlm_index"] % width
    keep = new_row[row] >= 0
    out = {k: v.index_select(0, index) for k, v in batch.items() if k not in ("mlm_index", "mlm_labels")}
    return {**out, "mlm_index": new_row[row[keep]] * width + pos[keep], "mlm_labels": batch["mlm_labels"][keep]}


# 3) run -------------------------------------------------------------------------------------------


def _fingerprint(cfg: BertPretrainConfig, docs: list[str], tokenizer: Any) -> dict[str, Any]:
    keep = {k: v for k, v in asdict(cfg).items() if k not in ("corpus", "out", *training.RUN_ONLY)}
    return {**keep, "data_sha256": training.data_sha256(docs), "vocab": len(tokenizer)}


def pretrain_bert(cfg: BertPretrainConfig, progress: ProgressFn = no_progress) -> BertPretrainResult:
    """Pretrain a BERT (and its tokenizer) on ``cfg.corpus``; write an HF folder to ``cfg.out``."""
    from transformers import BertForPreTraining

    from lorakit.models.load import load_tokenizer

    # 1) checks before any work
    cfg.validate()
    ckpt = training.prepare_run(cfg.out, cfg.force, cfg.resume)
    device = resolve_device(cfg.device)
    docs = read_documents(cfg.corpus)
    if cfg.pairs:
        check_pairs_possible([sentences(d) for d in docs], cfg.pairs)  # before the tokenizer: fail fast

    # 2) tokenizer, pairs, model, optimizer
    tok = load_tokenizer(ckpt / "tokenizer") if ckpt else bert_tokenizer(docs, cfg.vocab_size)
    encoded = [tok([s for s in sentences(d)], add_special_tokens=False)["input_ids"] for d in docs]
    encoded = [doc for doc in ([s for s in d if s] for d in encoded) if doc]
    batches = Batches(encoded, cfg, tok)
    seed_everything(cfg.seed)
    model = BertForPreTraining(bert_config(cfg, tok))
    if cfg.pairs is None:  # MLM only: pooler and NSP head get no gradient (and DDP wants every trainable one used)
        for unused in (model.bert.pooler, model.cls.seq_relationship):
            unused.requires_grad_(False)
    wrapped = PretrainingLoss(model)
    optimizer = training.make_optimizer(wrapped, cfg.lr, cfg.weight_decay)
    accelerator = training.make_accelerator(device)
    wrapped, optimizer = accelerator.prepare(wrapped, optimizer)

    # 3) fit
    total = training.total_steps(batches.plan, cfg.epochs, cfg.steps)
    spec = training.FitSpec(
        total_steps=total, lr=cfg.lr, warmup=training.warmup_steps(total, cfg.warmup), clip=cfg.clip or None,
        checkpoint=training.checkpoint_path(cfg.out), checkpoint_every=cfg.checkpoint_every,
        fingerprint=_fingerprint(cfg, docs, tok), save_extra=lambda d: tok.save_pretrained(str(d / "tokenizer")),
        task=COMMAND, grad_accum=cfg.grad_accum, loss=pretraining_loss, take_rows=take_rows, log_file=cfg.log_file,
    )
    state = training.load_checkpoint(ckpt, wrapped, optimizer, spec.fingerprint) if ckpt else None
    result = training.fit(wrapped, optimizer, accelerator, batches.plan, batches.collate, spec, state, progress)

    # 4) save: an HF folder that plain transformers loads
    model = accelerator.unwrap_model(wrapped).model.to(torch.float32).cpu()
    if distributed.is_main():  # one writer; the other processes wait at the barrier
        with atomic_dir(cfg.out, force=True) as tmp:
            model.save_pretrained(str(tmp), safe_serialization=True)
            tok.save_pretrained(str(tmp))
            training.finish_run(tmp, COMMAND, asdict(cfg), [cfg.corpus], cfg.seed, result,
                                {"model": {"objective": cfg.objective, "layers": cfg.layers, "hidden": cfg.hidden,
                                           "vocab_size": len(tok), "documents": len(docs)}})
        training.remove_checkpoint(cfg.out)
    distributed.barrier()
    return BertPretrainResult(Path(cfg.out), sum(p.numel() for p in model.parameters()), len(tok), result)
