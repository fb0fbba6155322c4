"""``pretrain-bert``: a SentencePiece unigram tokenizer and a BertForPreTraining from scratch.

setup (stream the corpus, tokenizer, sentence pairs, model) -> fit (``training.fit``: schedule,
checkpoints, Ctrl-C/--resume) -> save (an HF folder: ``BertForPreTraining.from_pretrained`` and
``AutoTokenizer.from_pretrained`` load it). The last encoder layer and the MLM head run only at
the masked positions (``lorakit.models.encoder``; exact).
The corpus streams as in ``pretrain-lm`` (``lorakit.models.corpus``); sentence pairs and masking
are in ``lorakit.models.bert_pairs``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from lorakit import checkpoints, distributed, training
from lorakit.models.corpus import iter_texts, open_corpus, sample_texts, tokenize_sentences
from lorakit.io import atomic_dir
from lorakit.models.bert_options import BertPretrainConfig
from lorakit.models.bert_pairs import Batches, SentenceStore, check_pairs_possible, sentences
from lorakit.models.encoder import encode_at, encoder_layers, positions_by_row
from lorakit.models.tokenizer import word_starts
from lorakit.runtime import ProgressFn, no_progress, resolve_device, seed_everything

COMMAND = "pretrain-bert"
MASK_TOKEN = "[MASK]"
CLS_TOKEN, SEP_TOKEN = "<s>", "</s>"


@dataclass
class BertPretrainResult:
    out: Path
    parameters: int
    vocab_size: int
    fit: training.FitResult

    def summary(self) -> dict[str, Any]:
        return {"out": str(self.out), "parameters": self.parameters, "vocab_size": self.vocab_size, **self.fit.summary()}


# 1) data ------------------------------------------------------------------------------------------


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


def bert_tokenizer(docs: Iterable[str], vocab_size: int, model_type: str = "unigram") -> Any:
    """A SentencePiece tokenizer (``model_type`` unigram or bpe) with BERT behaviour:
    ``<s> A </s> B </s>``, token types, ``[MASK]``, punctuation never joined to a word.

    Saved with ``save_pretrained`` it loads with plain ``AutoTokenizer.from_pretrained``.
    """
    from tokenizers import AddedToken
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    from lorakit.models.tokenizer import tokenizer_from_sentencepiece, train_sentencepiece

    lines = (s for d in docs for s in sentences(d))
    model = train_sentencepiece(lines, vocab_size, model_type, hard_vocab_limit=True, split_punctuation=True)  # type: ignore[arg-type]
    backend = unigram_backend(model) if model_type == "unigram" else tokenizer_from_sentencepiece(model).backend_tokenizer
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


def sinusoidal_positions(positions: int, hidden: int, std: float = 0.05) -> torch.Tensor:
    """The transformer's sine/cosine position table (positions, hidden), scaled to standard deviation ``std``."""
    import math

    pos = torch.arange(positions, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, hidden, 2, dtype=torch.float32) * (-math.log(10000.0) / hidden))
    table = torch.zeros(positions, hidden)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : hidden // 2]
    return table / table.std() * std


class PretrainingLoss(torch.nn.Module):
    """BertForPreTraining's loss with the last encoder layer and the MLM head only at the masked positions."""

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

        bert, pairs = self.model.bert, next_sentence_label is not None
        layers = encoder_layers(bert)
        if layers is None:  # (not a BertModel's structure)
            seq, pooled = bert(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)[:2]
            hidden = seq.reshape(-1, seq.size(-1))[mlm_index]
        else:  # the last layer only at the masked positions (and [CLS] for the pair head)
            at, column = positions_by_row(mlm_index, *input_ids.shape, reserve=int(pairs))
            out = encode_at(bert, layers, input_ids, token_type_ids, attention_mask, at)
            hidden = out[mlm_index // input_ids.size(1), column]
            pooled = bert.pooler(out) if pairs else None  # the pooler reads column 0: [CLS]
        loss = mean(self.model.cls.predictions(hidden), mlm_labels, 0)
        if pairs:
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


def _fingerprint(cfg: BertPretrainConfig, docs: Any, tokenizer: Any) -> dict[str, Any]:
    keep = {k: v for k, v in asdict(cfg).items() if k not in ("corpus", "out", "cache_dir", "num_proc", *training.RUN_ONLY)}
    return {**keep, "data_sha256": training.data_sha256(iter_texts(docs)), "vocab": len(tokenizer)}  # type: ignore[arg-type]


def load_data(cfg: BertPretrainConfig, ckpt: Path | None) -> tuple[Any, SentenceStore, dict[str, Any]]:
    """The tokenizer, the corpus's sentences as token ids (memory-mapped) and the run's fingerprint."""
    from lorakit.models.load import load_tokenizer

    with distributed.main_first():  # rank 0 fills the cache, the others read it
        docs = open_corpus(cfg.corpus, cfg.cache_dir, cfg.num_proc)
        check_pairs_possible(iter_texts(docs), cfg.pairs)
        if ckpt:
            tok = load_tokenizer(ckpt / "tokenizer")
        else:
            tok = bert_tokenizer(sample_texts(docs, int(cfg.tokenizer_sample * 1e6)), cfg.vocab_size, cfg.tokenizer_type)
        store = SentenceStore.from_dataset(tokenize_sentences(docs, tok, sentences, cfg.num_proc))
    return tok, store, _fingerprint(cfg, docs, tok)


def pretrain_bert(cfg: BertPretrainConfig, progress: ProgressFn = no_progress) -> BertPretrainResult:
    """Pretrain a BERT (and its tokenizer) on ``cfg.corpus``; write an HF folder to ``cfg.out``."""
    from transformers import BertForPreTraining

    # 1) checks before any work
    cfg.validate()
    ckpt = checkpoints.prepare_run(cfg.out, cfg.force, cfg.resume, cfg.log_file)
    device = resolve_device(cfg.device)
    accelerator = training.make_accelerator(device)  # opens the process group (load_data: rank 0 first)

    # 2) tokenizer, pairs, model, optimizer
    tok, store, fingerprint = load_data(cfg, ckpt)
    batches = Batches(store, cfg, tok, word_starts(tok))
    seed_everything(cfg.seed)
    model = BertForPreTraining(bert_config(cfg, tok))
    if cfg.position_init == "sinusoidal":  # (a resumed run then loads its trained values)
        with torch.no_grad():
            weight = model.bert.embeddings.position_embeddings.weight
            weight.copy_(sinusoidal_positions(*weight.shape))
    if cfg.pairs is None:  # MLM only: pooler and NSP head get no gradient (and DDP wants every trainable one used)
        for unused in (model.bert.pooler, model.cls.seq_relationship):
            unused.requires_grad_(False)
    wrapped = PretrainingLoss(model)
    optimizer = training.make_optimizer(wrapped, cfg.lr, cfg.weight_decay)
    wrapped, optimizer = training.prepare(accelerator, wrapped, optimizer, cfg.compile)

    # 3) fit
    total = training.total_steps(batches.plan, cfg.epochs, cfg.steps)
    spec = training.FitSpec(
        total_steps=total, lr=cfg.lr, warmup=training.warmup_steps(total, cfg.warmup), clip=cfg.clip or None,
        checkpoint=checkpoints.checkpoint_path(cfg.out), checkpoint_every=cfg.checkpoint_every,
        fingerprint=fingerprint, save_extra=lambda d: tok.save_pretrained(str(d / "tokenizer")),
        task=COMMAND, grad_accum=cfg.grad_accum, loss=pretraining_loss, take_rows=take_rows, log_file=cfg.log_file,
    )
    state = checkpoints.load_checkpoint(ckpt, wrapped, optimizer, spec.fingerprint) if ckpt else None
    result = training.fit(wrapped, optimizer, accelerator, batches.plan, batches.collate, spec, state, progress)

    # 4) save: an HF folder that plain transformers loads
    model = accelerator.unwrap_model(wrapped).model.to(torch.float32).cpu()
    if distributed.is_main():  # one writer; the other processes wait at the barrier
        with atomic_dir(cfg.out, force=True) as tmp:
            model.save_pretrained(str(tmp), safe_serialization=True)
            tok.save_pretrained(str(tmp))
            training.finish_run(tmp, COMMAND, asdict(cfg), [cfg.corpus], cfg.seed, result,
                                {"model": {"objective": cfg.objective, "layers": cfg.layers, "hidden": cfg.hidden,
                                           "vocab_size": len(tok), "documents": len(store)}})
        checkpoints.remove_checkpoint(cfg.out)
    distributed.barrier()
    return BertPretrainResult(Path(cfg.out), sum(p.numel() for p in model.parameters()), len(tok), result)
