"""``lorakit eval``: generate (or read) predictions, score them, write lm-eval style results."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorakit.errors import InputError, UsageError
from lorakit.evaluate.pairwise import TASKS as PAIRWISE_TASKS
from lorakit.evaluate.results import harness_results
from lorakit.evaluate.metrics import (FINAL, exact_match, extract_number, final_match, first_match, mean, mean_stderr,
                                     numeric_match)
from lorakit.io import STDIO, check_output, dumps, path_problems, read_jsonl
from lorakit.lora.route import RouteConfig, routing_problems
from lorakit.lora.route_methods import RoutingOptions
from lorakit.models.generate import generation_problems, limit_problems
from lorakit.records import Fields, field_problems, has_chats, read_records, render_chats
from lorakit.runtime import ProgressFn, finite_problems, no_progress
from lorakit.shard import shard_problems

if TYPE_CHECKING:
    from lorakit.shard import ShardRun

METRIC = "exact_match"
BRIDGE_METRIC = "bridge_match"
"""A bridge task's second metric: the prediction names the bridge entity first (``bridge`` field)."""
BRIDGE_SUFFIX = "_bridge"
EVAL_TASK = "eval_task"
"""Field naming a predictions record's task (a sharded eval writes it; ``--predictions`` honours it)."""
COMPARES = ("auto", "exact", "numeric")
"""How a prediction is compared with its target (``--metric``): auto picks numeric for GSM8K-style targets."""


@dataclass
class EvalConfig:
    model: str | None = None
    """Base model folder (HF causal LM)."""
    data: list[str] = field(default_factory=list)
    """Prompt/completion or chat ('messages') records, one task a file: JSONL ('-' = stdin), a JSON array,
    a datasets folder or a Parquet file."""
    prompt_field: str = "prompt"
    completion_field: str = "completion"
    """The records' field holding the completion (the reference answer unless a record has ``answer``)."""
    adapters: list[str] = field(default_factory=list)
    """PEFT adapter folder to apply (with --route: repeat, the library)."""
    predictions: str | None = None
    """Score this predictions JSONL (records with ``prediction``) instead of generating."""
    scored: str | None = None
    """Score this rescored JSONL (from `lorakit rescore`) instead of generating: the pairwise accuracy (a
    record is right when its best candidate is its label) per language and perturbation."""
    task: str | None = None
    """Task name for a single DATA file (default: the records' common ``split``, else the file stem); with
    --scored: faithfulness (the default) or minimal-pairs."""
    batch_size: int = 64
    max_new_tokens: int = 16
    limit: int | None = None
    """Evaluate only the first N records of each task."""
    metric: str = "auto"
    """exact: normalised strings; numeric: final numbers (after '####', else the last); auto: numeric for
    tasks whose targets all hold '#### n'. A bridge task is always scored on its final answer."""
    device: str = "auto"
    threads: int | None = None
    route: str | None = None
    """Route over the --adapter library with this method, as `lorakit route --method` does (see its help);
    the routing options apply with it only."""
    routing: RoutingOptions = field(default_factory=RoutingOptions)
    shard: str | None = None
    out: str | None = None
    """Output folder: results.json, samples.jsonl, lorakit.json."""
    force: bool = False

    def __post_init__(self) -> None:
        if self.scored is None and self.task in PAIRWISE_TASKS and not self.predictions:  # eval --task faithfulness FILE
            self.scored, self.model, self.data = self.model or next(iter(self.data), None), None, []

    @property
    def pairwise_task(self) -> str:
        return self.task or PAIRWISE_TASKS[0]

    def check_outputs(self) -> None:
        """--out apart from every input, and not an existing output without --force (before any work)."""
        if problems := path_problems({"--out": self.out}, {"MODEL": self.model, "DATA": self.data, "--adapter": self.adapters,
                                                           "--predictions": self.predictions, "--scored": self.scored,
                                                           "--shots": self.routing.shots, "--library": self.routing.library}):
            raise UsageError("; ".join(problems))
        check_output(self.out, self.force)

    def route_config(self) -> RouteConfig:
        """What ``route_records`` runs for ``--route`` (no DATA of its own: eval hands it the records)."""
        return RouteConfig(model=self.model or "", data="", adapters=list(self.adapters), method=self.route or "",
                           routing=self.routing, batch_size=self.batch_size, max_new_tokens=self.max_new_tokens,
                           device=self.device, threads=self.threads)

    def validate(self) -> None:
        if self.scored or self.task in PAIRWISE_TASKS:
            return self._validate_scored()
        problems = finite_problems(self)
        if self.predictions and (self.model or self.data or self.adapters or self.route):
            problems.append("--predictions scores an existing file: give no MODEL, DATA, --adapter or --route with it")
        if self.route and not self.predictions:
            problems += routing_problems(self.route, self.adapters, self.routing, self.data)
        else:
            if len(self.adapters) > 1:
                problems.append("--adapter is given once (several only with --route METHOD)")
            if self.routing.shots:
                problems.append("--shots applies to --route lorahub only")
        if not self.predictions and not (self.model and self.data):
            problems.append("give MODEL and at least one DATA file, or --predictions FILE")
        if self.task and len(self.data) > 1:
            problems.append("--task names one task: give one DATA file with it")
        if sum(d == STDIO for d in self.data) > 1:
            problems.append("'-' (stdin) can be given only once")
        problems += field_problems(self.prompt_field, self.completion_field)
        problems += generation_problems(self)
        if self.shard and self.predictions:
            problems.append("--shard splits generation: not with --predictions")
        problems += shard_problems(self.shard, self.out, self.data)
        if self.metric not in COMPARES:
            problems.append(f"--metric must be one of {'|'.join(COMPARES)}, not {self.metric!r}")
        if problems:
            raise UsageError("; ".join(problems))

    def _validate_scored(self) -> None:
        problems = finite_problems(self)
        if not self.scored:
            problems.append(f"--task {self.task} needs the rescored JSONL file (from `lorakit rescore`): --scored FILE")
        if self.model or self.data or self.adapters or self.route or self.predictions:
            problems.append("--scored scores an existing file: give no MODEL, DATA, --adapter, --route or --predictions with it")
        if self.pairwise_task not in PAIRWISE_TASKS:
            problems.append(f"--task must be one of {', '.join(PAIRWISE_TASKS)} to score a rescored file, not {self.task!r}")
        if self.shard:
            problems.append("--shard splits generation: not with --scored")
        problems += limit_problems(self.limit)
        if problems:
            raise UsageError("; ".join(problems))


def target_of(record: dict[str, Any]) -> str | list[str]:
    """The reference answer: ``answer`` when the record has one (a list: its aliases), else ``completion``."""
    target = record.get("answer", record.get("completion", ""))
    return [str(t) for t in target] if isinstance(target, list) else str(target)


def aliases_of(record: dict[str, Any]) -> list[str]:
    """The accepted answers: each alias of a list ``answer``, else the one target."""
    target = target_of(record)
    return target if isinstance(target, list) else [target]


def _aliases_ok(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(a, str) and a.strip() for a in value)


def check_answers(path: str, records: list[dict[str, Any]], linenos: list[int] | None = None) -> None:
    """A list ``answer`` (aliases) is non-empty and holds non-empty strings; ``InputError('FILE:LINE: reason')`` otherwise."""
    shown = "<stdin>" if path == STDIO else path
    for lineno, r in zip(linenos or range(1, len(records) + 1), records):
        if isinstance(r.get("answer"), list) and not _aliases_ok(r["answer"]):
            raise InputError(f"{shown}:{lineno}: 'answer' as a list (aliases) must be non-empty and hold "
                             "non-empty strings")


def compare_of(records: list[dict[str, Any]], metric: str = "auto") -> str:
    """"exact" or "numeric" for a task: ``metric`` unless auto, then numeric iff every target (every alias)
    is GSM8K-style."""
    if metric != "auto":
        return metric
    numeric = all(FINAL in t and extract_number(t) is not None for r in records for t in aliases_of(r))
    return "numeric" if records and numeric else "exact"


def is_bridge(records: list[dict[str, Any]]) -> bool:
    """A bridge task: its records carry ``bridge`` (the entity named first) and ``answer`` (scored last)."""
    return any("bridge" in r for r in records)


def check_bridge(path: str, name: str, records: list[dict[str, Any]], linenos: list[int] | None = None) -> None:
    """Every record of a bridge task (one with a ``bridge`` record, or named ``*_bridge``) has both
    ``bridge`` and ``answer`` as non-empty strings (``answer`` may be a list of aliases);
    ``InputError('FILE:LINE: reason')`` otherwise
    (``linenos``: each record's line, when the file holds several tasks)."""
    if not (is_bridge(records) or name.endswith(BRIDGE_SUFFIX)):
        return
    shown = "<stdin>" if path == STDIO else path
    for lineno, r in zip(linenos or range(1, len(records) + 1), records):
        for key in ("bridge", "answer"):
            value = r.get(key)
            if not (isinstance(value, str) and value.strip() or key == "answer" and _aliases_ok(value)):
                raise InputError(f"{shown}:{lineno}: a bridge record needs {key!r} as a non-empty string "
                                 f"(task {name!r}: the bridge entity named first, the answer last)")


def levels_of(records: list[dict[str, Any]]) -> list[str]:
    """The distinct ``meta.level`` values of a task in order of appearance, when there are several."""
    levels = dict.fromkeys(str(r["meta"]["level"]) for r in records
                           if isinstance(r.get("meta"), dict) and "level" in r["meta"])
    return list(levels) if len(levels) > 1 else []


def _json_number(n: Any) -> int | float | None:
    return None if n is None else int(n) if n == n.to_integral_value() else float(n)


def task_name(path: str, records: list[dict[str, Any]], override: str | None = None) -> str:
    if override:
        return override
    splits = {r.get("split") for r in records}
    if len(splits) == 1 and isinstance(next(iter(splits)), str):
        return next(iter(splits))
    return "stdin" if path == STDIO else Path(path).stem


def load_tasks(cfg: EvalConfig) -> dict[str, list[dict[str, Any]]]:
    """Read every input before any model loads, so bad input fails at once."""
    tasks: dict[str, list[dict[str, Any]]] = {}
    lines: dict[str, list[int]] = {}
    if cfg.predictions:
        records = read_jsonl(cfg.predictions, required=("prediction",))
        for lineno, r in enumerate(records, start=1):
            if "answer" not in r and "completion" not in r:
                raise InputError(f"{cfg.predictions}:{lineno}: record has neither 'completion' nor 'answer'")
            named = r.get(EVAL_TASK) if isinstance(r.get(EVAL_TASK), str) else None
            name = task_name(cfg.predictions, [r], named)
            tasks.setdefault(name, []).append(r)
            lines.setdefault(name, []).append(lineno)
        check_answers(cfg.predictions, records)
        for name, task_records in tasks.items():
            check_bridge(cfg.predictions, name, task_records, lines[name])
    else:
        tokenizer = None
        for path in cfg.data:
            records = read_records(path, Fields(cfg.prompt_field, cfg.completion_field))
            if has_chats(records):
                from lorakit.models.load import check_model_dir, load_tokenizer

                tokenizer = tokenizer or load_tokenizer(check_model_dir(cfg.model))
                render_chats(records, tokenizer, path, cfg.model)
            name = task_name(path, records, cfg.task)
            if name in tasks:
                raise UsageError(f"{path}: task {name!r} given twice (rename a file or use --task)")
            check_answers(path, records)
            check_bridge(path, name, records)
            tasks[name] = records
    subtasks = [f"{t}_{lv}" for t, recs in tasks.items() for lv in levels_of(recs)]
    if clash := sorted(set(subtasks) & set(tasks)):
        raise UsageError(f"task(s) {', '.join(clash)} would also name a per-level breakdown (rename a file or use --task)")
    if cfg.limit:
        tasks = {k: v[: cfg.limit] for k, v in tasks.items()}
    return tasks


def _entry(alias: str, correct: list[float], bridged: list[float] | None = None) -> dict[str, Any]:
    entry = {"alias": alias, f"{METRIC},none": mean(correct), f"{METRIC}_stderr,none": mean_stderr(correct)}
    if bridged is not None:
        entry |= {f"{BRIDGE_METRIC},none": mean(bridged), f"{BRIDGE_METRIC}_stderr,none": mean_stderr(bridged)}
    return entry


def score(tasks: dict[str, list[dict[str, Any]]], metric: str = "auto"
          ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], dict[str, str], dict[str, int]]:
    """Per-task EM and stderr (plus ``<task>_<level>`` entries when records carry several meta.level),
    one sample row per record (``prediction`` already set), each results entry's comparison and its
    number of records. A list ``answer`` is a set of aliases: matching any of them is correct.

    A bridge task (records with ``bridge``) scores its final answer (``final_match``: the prediction's
    last words are ``answer``) and adds ``bridge_match`` (its first words are ``bridge``)."""
    results, samples, compares, counts = {}, [], {}, {}
    for task, records in tasks.items():
        bridge = is_bridge(records)
        compare = "final" if bridge else compare_of(records, metric)
        match = {"numeric": numeric_match, "final": final_match}.get(compare, exact_match)
        correct, bridged = [], []
        for doc_id, r in enumerate(records):
            ok = any(match(r["prediction"], t) for t in aliases_of(r))
            correct.append(1.0 if ok else 0.0)
            hop = first_match(r["prediction"], r["bridge"]) if bridge else None
            bridged.append(1.0 if hop else 0.0)
            samples.append({
                "task": task, "doc_id": doc_id, "id": r.get("id"), "prompt": r.get("prompt"),
                "target": target_of(r), "prediction": r["prediction"], "correct": ok,
                **({"extracted": _json_number(extract_number(r["prediction"]))} if compare == "numeric" else {}),
                **({"bridge": r["bridge"], "bridge_correct": hop} if bridge else {}),
                **({"routing": r["routing"]} if "routing" in r else {}),
            })
        results[task], compares[task] = _entry(task, correct, bridged if bridge else None), compare
        counts[task] = len(correct)
        for level in levels_of(records):
            keep = [str((r.get("meta") or {}).get("level")) == level for r in records]
            sub = [c for c, k in zip(correct, keep) if k]
            sub_bridged = [b for b, k in zip(bridged, keep) if k] if bridge else None
            results[f"{task}_{level}"], compares[f"{task}_{level}"] = _entry(f"{task}_{level}", sub, sub_bridged), compare
            counts[f"{task}_{level}"] = len(sub)
    return results, samples, compares, counts


def predict(cfg: EvalConfig, tasks: dict[str, list[dict[str, Any]]], progress: ProgressFn
            ) -> tuple[dict[str, list[dict[str, Any]]] | None, ShardRun]:
    """Fill ``prediction`` (and ``routing``) by batched greedy generation, all tasks in one run.

    Returns the tasks with predictions — only this shard's records with ``--shard``; None on the
    ranks other than 0 under a launcher, which hand their part to rank 0 — and the shard plan.
    """
    from lorakit.models.generate import WINDOW_BATCHES
    from lorakit.shard import plan

    flat = [(task, r) for task, records in tasks.items() for r in records]
    run = plan(cfg.shard, len(flat), cfg.batch_size * WINDOW_BATCHES)
    lo, hi = run.span
    part = [r for _, r in flat[lo:hi]]
    outs = (_route if cfg.route else _generate)(cfg, part, progress) if part else []
    collected = run.collect(outs)
    if collected is None:
        return None, run
    done = flat[lo:hi] if run.by_hand else flat
    for (_, r), o in zip(done, collected):
        r.update(o)
    kept: dict[str, list[dict[str, Any]]] = {}
    for task, r in done:
        kept.setdefault(task, []).append(r)
    return kept, run


def _generate(cfg: EvalConfig, records: list[dict[str, Any]], progress: ProgressFn) -> list[dict[str, Any]]:
    """``{"prediction"}`` per record, with the model (and its one adapter)."""
    from lorakit.models.fingerprint import base_record, check_base
    from lorakit.models.generate import generate
    from lorakit.models.load import attach_adapter, check_adapter_dir, check_model_dir, load_causal_lm
    from lorakit.runtime import quiet_libraries, resolve_device, set_threads

    check_model_dir(cfg.model)
    if cfg.adapters:
        check_adapter_dir(cfg.adapters[0])
        check_base(Path(cfg.adapters[0]), base_record(Path(cfg.adapters[0])), Path(cfg.model), cfg.routing.allow_different_base)
    device = resolve_device(cfg.device)
    set_threads(cfg.threads)
    quiet_libraries()
    model, tok = load_causal_lm(cfg.model, device)
    if cfg.adapters:
        model = attach_adapter(model, cfg.adapters[0]).eval()
    preds = generate(model, tok, [r["prompt"] for r in records], batch_size=cfg.batch_size,
                     max_new_tokens=cfg.max_new_tokens, progress=progress, share_prefix=True)
    return [{"prediction": p} for p in preds]


def _route(cfg: EvalConfig, records: list[dict[str, Any]], progress: ProgressFn) -> list[dict[str, Any]]:
    """``{"prediction", "routing"}`` per record by ``lorakit route``'s code (one library, one LoraHub search)."""
    from lorakit.lora.route import route_records

    routed, _ = route_records(cfg.route_config(), records, progress)
    return [{"prediction": o["prediction"], "routing": o["routing"]} for o in routed]


def results_file(cfg: EvalConfig, results: dict[str, dict[str, Any]], seconds: float, device: str,
                 compares: dict[str, str], counts: dict[str, int]) -> dict[str, Any]:
    """``harness_results`` for generated or given predictions (``compares``: task -> exact|numeric|final;
    ``counts``: task -> records, kept where lm-eval keeps them, in ``n-samples``)."""
    peft = ("route", f"{cfg.route}:{'+'.join(cfg.adapters)}") if cfg.route else ("peft", next(iter(cfg.adapters), None))
    model_args = ",".join(f"{k}={v}" for k, v in (("pretrained", cfg.model), peft) if v)
    gen_kwargs = {"until": ["\n"], "do_sample": False, "max_gen_toks": cfg.max_new_tokens}
    configs = {t: {"task": t, "output_type": "generate_until", "generation_kwargs": gen_kwargs,
                   "metric_list": [{"metric": METRIC, "aggregation": "mean", "higher_is_better": True,
                                    "compare": compares.get(t, "exact")}]
                   + ([{"metric": BRIDGE_METRIC, "aggregation": "mean", "higher_is_better": True,
                        "compare": "first"}] if f"{BRIDGE_METRIC},none" in r else [])}
               for t, r in results.items()}
    config = {"model": "lorakit" if cfg.model else "predictions", "model_args": model_args or cfg.predictions,
              "batch_size": cfg.batch_size, "device": device, "limit": cfg.limit, "gen_kwargs": gen_kwargs}
    return harness_results(results, configs, counts, config, seconds)


@dataclass
class EvalRun:
    """What ``eval`` computed: results.json, samples, and for a ``--shard`` run its plan and predicted records."""

    results: dict[str, Any]
    samples: list[dict[str, Any]]
    shard: ShardRun | None = None
    predictions: list[dict[str, Any]] = field(default_factory=list)


def run_eval(cfg: EvalConfig, progress: ProgressFn = no_progress) -> EvalRun | None:
    """Validate, read, predict (unless given predictions), score; None on ranks other than 0 under a launcher."""
    cfg.check_outputs()
    cfg.validate()
    if cfg.scored:  # a rescored file: pairwise accuracy
        from lorakit.evaluate.pairwise import run_pairwise

        return EvalRun(*run_pairwise(cfg.pairwise_task, cfg.scored, cfg.limit))
    start = time.perf_counter()
    tasks: dict[str, list[dict[str, Any]]] | None = load_tasks(cfg)
    device, run = "none", None
    if not cfg.predictions:
        tasks, run = predict(cfg, tasks, progress)
        if tasks is None:
            return None
        from lorakit.runtime import resolve_device

        device = str(resolve_device(cfg.device))
    results, samples, compares, counts = score(tasks, cfg.metric)
    predicted = [{**r, EVAL_TASK: t} for t, records in tasks.items() for r in records] if run and run.by_hand else []
    return EvalRun(results_file(cfg, results, time.perf_counter() - start, device, compares, counts), samples, run, predicted)


def write_eval(out: str | Path, ev: EvalRun, cfg: EvalConfig) -> None:
    """``OUT/results.json``, ``OUT/samples.jsonl`` and ``OUT/lorakit.json``, atomically; a ``--shard``
    run adds ``predictions.jsonl`` (records + prediction + eval_task) and its sidecar for ``gather``."""
    from dataclasses import asdict

    from lorakit.io import atomic_dir, write_json, write_provenance
    from lorakit.shard import PREDICTIONS, write_sidecar

    inputs = [p for p in (cfg.model, *cfg.adapters, cfg.predictions, cfg.scored, cfg.routing.shots, *cfg.data) if p]
    with atomic_dir(out, force=cfg.force) as tmp:
        write_json(tmp / "results.json", ev.results)
        (tmp / "samples.jsonl").write_text("".join(dumps(s) for s in ev.samples), encoding="utf-8")
        write_provenance(tmp, "eval", asdict(cfg), inputs=[p for p in inputs if Path(p).is_file()])
        if ev.shard is not None and ev.shard.by_hand and ev.shard.shard is not None:
            (tmp / PREDICTIONS).write_text("".join(dumps(r) for r in ev.predictions), encoding="utf-8")
            write_sidecar(tmp / PREDICTIONS, ev.shard.shard, ev.shard.span, ev.shard.total, cfg.data, "eval")
