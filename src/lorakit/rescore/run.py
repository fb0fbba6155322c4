"""``lorakit rescore``: score every candidate of every record with a BERT; keep the best.

Records need ``source`` (a string) and ``candidates`` (a list of at least two strings); every
input field is kept and ``scores`` (one per candidate, higher = more faithful) and ``best`` (the
index of the highest score) are added. Methods: ``pll`` (per-token PLL of the candidate as
segment B given the source as segment A), ``nsp`` (log P(IsNext)), ``pll+nsp`` (their sum).
``contrast`` subtracts the candidate's PLL without the source, cancelling plain fluency.
``ngram`` is the source-blind control: the scorer is a text corpus, a word-bigram LM is trained on
it, and each candidate gets its mean log-probability without the source (lorakit.rescore.ngram).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorakit.errors import IncompatibleError, InputError, UsageError
from lorakit.io import STDIO, iter_jsonl, read_text
from lorakit.models.load import check_model_dir
from lorakit.rescore import METHODS, VARIANTS
from lorakit.rescore.ngram import train_bigram
from lorakit.runtime import ProgressEvent, ProgressFn, finite_problems, no_progress

if TYPE_CHECKING:
    from lorakit.shard import ShardRun

CPU_ROWS = 32
"""Default masked copies per forward on the CPU: small batches keep a layer's activations in cache
(bench/rescore.py: 32 rows ran about 1.4x faster than 256 with one thread)."""
MLM_HEADS = ("BertForPreTraining", "BertForMaskedLM")


@dataclass
class RescoreConfig:
    scorer: str
    """BERT folder (from pretrain-bert, or any BertForPreTraining/BertForMaskedLM); with the ngram method,
    a text file (one document per line)."""
    data: str
    """JSONL with 'source' and 'candidates' (a list of ≥ 2 strings); '-' = stdin."""
    method: str = "pll"
    """pll (pseudo-log-likelihood of the candidate given the source), nsp (log P(IsNext)), pll+nsp (sum), or
    ngram (source-blind control: a word-bigram LM trained on SCORER, mean log-prob per word)."""
    pll_variant: str = "original"
    """original (mask one token) or within-word (also mask the word's later pieces)."""
    contrast: bool = False
    """Subtract the candidate's PLL without the source (cancels plain fluency)."""
    batch_size: int | None = None
    """Masked copies per forward pass (default: 32 on the CPU, 256 on an accelerator)."""
    out: str | None = None
    shard: str | None = None
    device: str = "auto"
    threads: int | None = None
    force: bool = False

    def validate(self) -> None:
        """Every option problem as one UsageError; then an existing --out without --force."""
        from lorakit.io import check_output, path_problems
        from lorakit.shard import shard_problems

        problems = finite_problems(self)
        if self.method not in METHODS:
            problems.append(f"--method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.pll_variant not in VARIANTS:
            problems.append(f"--pll-variant must be one of {', '.join(VARIANTS)}, not {self.pll_variant!r}")
        if self.contrast and self.method in ("nsp", "ngram"):
            problems.append("--contrast applies to PLL: use it with --method pll or pll+nsp")
        if self.batch_size is not None and self.batch_size < 1:
            problems.append(f"--batch-size must be at least 1, not {self.batch_size}")
        problems += shard_problems(self.shard, self.out, [self.data])
        problems += path_problems({"--out": self.out}, {"SCORER": self.scorer, "DATA": self.data})
        if problems:
            raise UsageError("; ".join(problems))
        check_output(self.out, self.force, stdio=True)


def read_records(path: str) -> list[dict[str, Any]]:
    """Read and check every record before any model loads."""
    name = "<stdin>" if path == STDIO else path
    records = []
    for i, r in enumerate(iter_jsonl(path, required=("source",)), start=1):
        cands = r.get("candidates")
        if not isinstance(cands, list) or len(cands) < 2 or not all(isinstance(c, str) for c in cands):
            raise InputError(f"{name}:{i}: 'candidates' must be a list of at least two strings")
        if empty := [j for j, c in enumerate(cands) if not c.strip()]:
            raise InputError(f"{name}:{i}: candidate {empty[0]} is empty (every candidate needs text to score)")
        records.append(r)
    if not records:
        raise InputError(f"{name}: no records")
    return records


def load_scorer(path: str | Path, method: str, device: Any) -> tuple[Any, Any]:
    """The BERT (with an MLM head; with an NSP head for nsp) and its tokenizer, in eval mode."""
    from transformers import BertForMaskedLM, BertForPreTraining

    from lorakit.models.load import load_tokenizer
    from lorakit.io import read_json_object

    p = check_model_dir(path, "scorer")
    arch = (read_json_object(p / "config.json").get("architectures") or ["?"])[0]
    needs = ("BertForPreTraining",) if "nsp" in method else MLM_HEADS
    if arch not in needs:
        what = "next-sentence head" if "nsp" in method and arch in MLM_HEADS else "masked-LM head"
        raise IncompatibleError(f"{p}: scorer has no {what} (architecture {arch}); --method {method} needs "
                                f"{' or '.join(needs)} (as written by pretrain-bert)")
    cls = BertForPreTraining if arch == "BertForPreTraining" else BertForMaskedLM
    model, info = cls.from_pretrained(str(p), local_files_only=True, use_safetensors=True, output_loading_info=True)
    missing = [k for k in info["missing_keys"] if k.startswith("cls.") and not k.endswith("decoder.weight")]
    if missing:
        raise IncompatibleError(f"{p}: scorer weights lack the prediction heads ({', '.join(missing[:2])})")
    tok = load_tokenizer(p)
    if tok.mask_token_id is None or tok.cls_token_id is None or tok.sep_token_id is None:
        raise IncompatibleError(f"{p}: the tokenizer has no mask/cls/sep tokens (not a BERT tokenizer)")
    return model.to(device).eval(), tok


WINDOW = 64
"""Records scored together (their masked copies sorted by length within the window, never across):
a shard starting on a window boundary runs exactly the forward passes of a one-process run."""


def rescore(cfg: RescoreConfig, progress: ProgressFn = no_progress) -> tuple[list[dict[str, Any]] | None, ShardRun]:
    """The records with ``scores`` and ``best`` added (and ``method``): this process's part (see
    lorakit.shard), all of them on rank 0 under a launcher, None on the other ranks; and the plan.
    ``progress`` hears of every window of records scored."""
    from lorakit.runtime import quiet_libraries, resolve_device, set_threads
    from lorakit.shard import plan

    cfg.validate()
    records = read_records(cfg.data)
    run = plan(cfg.shard, len(records), WINDOW)
    lo, hi = run.span
    out: list[dict[str, Any]] = []
    if hi > lo and cfg.method == "ngram":
        lm = train_bigram(read_corpus(cfg.scorer))
        out = [_attach(cfg, r, [lm.score(c) for c in r["candidates"]]) for r in records[lo:hi]]
        progress(ProgressEvent("rescore", hi - lo, hi - lo))
    elif hi > lo:
        device = resolve_device(cfg.device)
        set_threads(cfg.threads)
        quiet_libraries()
        model, tok = load_scorer(cfg.scorer, cfg.method, device)
        for start in range(lo, hi, WINDOW):
            out += _score(cfg, model, tok, records[start:min(hi, start + WINDOW)])
            progress(ProgressEvent("rescore", len(out), hi - lo))
    return run.collect(out), run


def _score(cfg: RescoreConfig, model: Any, tok: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Score one window of records (see WINDOW)."""
    from lorakit.models.tokenizer import word_starts
    from lorakit.rescore.pll import encode_pair, is_next, pll

    max_len = model.config.max_position_embeddings

    # encode: one sequence per (record, candidate)
    def ids(texts: list[str]) -> list[list[int]]:
        return tok(texts, add_special_tokens=False)["input_ids"]

    sources = ids([r["source"] for r in records])
    pairs = [(s, c) for r, s in zip(records, sources) for c in ids(r["candidates"])]
    cls_id, sep_id, mask_id, pad_id = tok.cls_token_id, tok.sep_token_id, tok.mask_token_id, tok.pad_token_id
    seqs = [encode_pair(s, c, cls_id, sep_id, max_len) for s, c in pairs]

    # score
    rows = cfg.batch_size or (CPU_ROWS if model.device.type == "cpu" else 256)
    flat = [0.0] * len(seqs)
    if "pll" in cfg.method:
        starts = word_starts(tok) if cfg.pll_variant == "within-word" else None
        flat = pll(model, seqs, mask_id, pad_id, starts, cfg.pll_variant, rows)  # type: ignore[arg-type]
        if cfg.contrast:
            alone = [encode_pair(None, c, cls_id, sep_id, max_len) for _, c in pairs]
            flat = [a - b for a, b in zip(flat, pll(model, alone, mask_id, pad_id, starts, cfg.pll_variant, rows))]  # type: ignore[arg-type]
    if "nsp" in cfg.method:
        flat = [a + b for a, b in zip(flat, is_next(model, seqs, pad_id, rows))]

    # attach
    out, k = [], 0
    for r in records:
        out.append(_attach(cfg, r, flat[k:k + len(r["candidates"])]))
        k += len(r["candidates"])
    return out


def _attach(cfg: RescoreConfig, record: dict[str, Any], scores: list[float]) -> dict[str, Any]:
    scores = [round(v, 6) for v in scores]
    return {**record, "scores": scores, "best": max(range(len(scores)), key=scores.__getitem__),
            "method": cfg.method + ("-contrast" if cfg.contrast else ""), "scorer": str(cfg.scorer)}


def read_corpus(path: str | Path) -> list[str]:
    """The n-gram control's training text: a UTF-8 file, one document per line."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file (--method ngram trains on a text file, one document per line)")
    lines = read_text(p).splitlines()
    if not any(line.strip() for line in lines):
        raise InputError(f"{p}: no text to train the n-gram control on")
    return lines


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Records, labelled records and, with labels present, the share whose best candidate is the labelled one."""
    labelled = [r for r in records if isinstance(r.get("label"), int)]
    acc = sum(r["best"] == r["label"] for r in labelled) / len(labelled) if labelled else None
    return {"records": len(records), "labelled": len(labelled), "accuracy": acc}
