"""``eval --scored FILE`` (``--task faithfulness|minimal-pairs``): pairwise accuracy of a rescored file.

A record is right when its ``best`` candidate is its ``label``. Accuracy and stderr per language,
per (language, perturbation) and overall, in the lm-evaluation-harness ``results.json`` layout
(metric ``acc``); plus a typology block per language (``typology``): tokens per word with the
scorer's tokenizer (when the records name a ``scorer`` folder that still exists), type/token
ratio and mean word length of the sources (of the labelled candidates where the source is empty, as in
minimal pairs).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from lorakit.errors import InputError
from lorakit.evaluate.metrics import mean, mean_stderr
from lorakit.evaluate.results import harness_results
from lorakit.io import STDIO, read_jsonl

TASKS = ("faithfulness", "minimal-pairs")
METRIC = "acc"
_WORD = re.compile(r"\w+")


def read_scored(path: str) -> list[dict[str, Any]]:
    name = "<stdin>" if path == STDIO else path
    records = read_jsonl(path)
    for i, r in enumerate(records, start=1):
        n = len(r.get("candidates") or [])
        for key, ok in (("best", isinstance(r.get("best"), int)), ("label", isinstance(r.get("label"), int))):
            if not ok:
                raise InputError(f"{name}: record {i}: needs an integer {key!r} (run `lorakit rescore` first)"
                                 if key == "best" else f"{name}: record {i}: needs an integer 'label'")
        if not 0 <= r["label"] < max(n, 1):
            raise InputError(f"{name}: record {i}: label {r['label']} is not a candidate index")
    return records


def typology(texts: list[str], tokenizer: Any | None) -> dict[str, float]:
    """Tokens per word (when a tokenizer is given), type/token ratio and mean word length (characters)."""
    words = [w for t in texts for w in _WORD.findall(t.casefold())]
    out = {"words": len(words), "type_token_ratio": len(set(words)) / max(1, len(words)),
           "mean_word_length": sum(map(len, words)) / max(1, len(words))}
    if tokenizer is not None:
        pieces = sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
        out["tokens_per_word"] = pieces / max(1, len(words))
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def _typology_text(r: dict[str, Any]) -> str:
    """The source; for a minimal pair (empty source, as gen-data minimal-pairs writes) the labelled candidate."""
    if isinstance(r.get("source"), str) and r["source"]:
        return r["source"]
    cands = r.get("candidates")
    good = cands[r["label"]] if isinstance(cands, list) and len(cands) > r["label"] else None
    return good if isinstance(good, str) else ""


def _row(task: str, correct: list[float]) -> dict[str, Any]:
    return {"alias": task, f"{METRIC},none": mean(correct), f"{METRIC}_stderr,none": mean_stderr(correct)}


def run_pairwise(task: str, path: str, limit: int | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(results.json, samples) for a rescored file (options checked by ``EvalConfig``); rows ``task``,
    ``task/lang``, ``task/lang/perturbation``."""
    start = time.perf_counter()
    records = read_scored(path)[:limit]
    groups: dict[str, list[float]] = {task: []}
    samples = []
    for doc_id, r in enumerate(records):
        ok = 1.0 if r["best"] == r["label"] else 0.0
        lang, kind = str(r.get("lang", "all")), str(r.get("perturbation", r.get("task", "all")))
        for key in (task, f"{task}/{lang}", f"{task}/{lang}/{kind}"):
            groups.setdefault(key, []).append(ok)
        samples.append({"task": f"{task}/{lang}/{kind}", "doc_id": doc_id, "id": r.get("id"), "label": r["label"],
                        "best": r["best"], "scores": r.get("scores"), "correct": bool(ok)})
    results = {k: _row(k, v) for k, v in sorted(groups.items())}
    langs = sorted({str(r.get("lang", "all")) for r in records})
    if len(langs) > 1:  # the mean over languages (the paper's headline figure)
        per_lang = [results[f"{task}/{lang}"][f"{METRIC},none"] for lang in langs]
        results[task]["mean_over_languages"] = mean(per_lang)
    block = {}
    for lang in langs:
        texts = [_typology_text(r) for r in records if str(r.get("lang", "all")) == lang]
        texts = [t for t in texts if t]
        scorers = {r.get("scorer") for r in records if str(r.get("lang", "all")) == lang}
        scorer = next(iter(scorers)) if len(scorers) == 1 else None
        tok = None
        if isinstance(scorer, str) and (Path(scorer) / "tokenizer_config.json").is_file():
            from lorakit.models.load import load_tokenizer

            tok = load_tokenizer(scorer)
        block[lang] = typology(texts, tok)
    configs = {t: {"task": t, "output_type": "multiple_choice",
                   "metric_list": [{"metric": METRIC, "aggregation": "mean", "higher_is_better": True}]} for t in results}
    counts = {t: len(v) for t, v in groups.items()}
    config = {"model": "rescored", "model_args": path, "limit": limit}
    return harness_results(results, configs, counts, config, time.perf_counter() - start, typology=block), samples
