"""What every command shares: option types, options built from a config dataclass, the
error-to-exit-code mapping, the stderr console, progress rendering. The only module (with the
command modules) that knows Typer and Rich."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
import re
import sys
import traceback
import typing
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from copy import copy
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape

from lorakit.errors import STDOUT_CLOSED, Interrupted, LorakitError
from lorakit.runtime import DEVICES, ProgressEvent, ProgressFn, no_progress

console = Console(stderr=True, highlight=False)


# Options taking one of a fixed set of names ---------------------------------------------------
def choice(values: Iterable[str]) -> Any:
    """The type of an option that takes one of ``values``: `--help`, the README and completions
    list them, and Typer refuses any other (exit 2); the value stays a str. Use it as
    ``Annotated[choice(NAMES), typer.Option(...)]`` with NAMES the tuple the config validates."""
    return Literal[tuple(values)]


def choices(values: Iterable[str], *decls: str, **option: Any) -> Any:
    """A repeatable option taking names among ``values`` (``choice`` for a list; ``option``: the
    rest of its ``typer.Option``); its value is a list of str, or None when not given."""
    names = StrEnum("Choice", {v: v for v in values})  # Typer takes no list of Literal

    def as_str(given: list[StrEnum] | None) -> list[str] | None:
        return None if given is None else [str(v) for v in given]

    return Annotated[list[names] | None, typer.Option(*decls, callback=as_str, **option)]  # type: ignore[valid-type]


# Shared options: declared once, the same meaning on every command --------------------------
Device = Annotated[choice(DEVICES), typer.Option("--device", help="auto: CUDA > MPS > CPU.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same result).")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
OutFile = Annotated[
    str | None, typer.Option("--out", "-o", help="Output JSONL file ('-' or absent: stdout).")
]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing output.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON summary object on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or tables on stderr.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="More logging; tracebacks for unexpected errors.")]
Threads = Annotated[int | None, typer.Option("--threads", help="CPU threads (default: the cores available).")]
FewThreads = Annotated[int, typer.Option("--threads", help="CPU threads (default 1: many small factorisations, where more threads mostly add contention).")]

AllowDifferentBase = Annotated[bool, typer.Option("--allow-different-base", help="Apply adapters whose lorakit.json records another base model (checked: architecture and weights); their shapes must still fit.")]

# Shared by the commands that read prompt/completion records (train-lora, eval) ------------------
PromptField = Annotated[str, typer.Option("--prompt-field", help="The records' field holding the prompt (e.g. instruction).")]
CompletionField = Annotated[str, typer.Option("--completion-field", help="The records' field holding the completion (e.g. output).")]

# Shared by the generating commands (eval, route) ----------------------------------------------
GenBatchSize = Annotated[int, typer.Option("--batch-size", help="Prompts per generation batch.")]
MaxNewTokens = Annotated[int, typer.Option("--max-new-tokens", help="Generation length limit.")]

ShardOpt = Annotated[str | None, typer.Option("--shard", help="Run only part i of N (0 ≤ i < N) of the input, e.g. in a job array; `lorakit gather` joins the parts. Under torchrun the processes split the input themselves.", show_default=False)]

# Shared by the training commands (defaults stay per command) ---------------------------------
Epochs = Annotated[int, typer.Option("--epochs", help="Passes over the data (--steps, where offered, wins).")]
Steps = Annotated[int | None, typer.Option("--steps", help="Optimizer steps (the step budget); wins over --epochs.")]
Lr = Annotated[float, typer.Option("--lr", help="Peak learning rate (AdamW).")]
Warmup = Annotated[float, typer.Option("--warmup", help="Fraction of the steps in linear warmup, then cosine decay to 0.")]
WeightDecay = Annotated[float, typer.Option("--weight-decay", help="AdamW weight decay (matrices only).")]
Clip = Annotated[float, typer.Option("--clip", help="Gradient-norm clipping (0: off).")]
CheckpointEvery = Annotated[int, typer.Option("--checkpoint-every", help="Save a checkpoint to OUT.ckpt every N steps (0: only on Ctrl-C).")]

SHARED: dict[str, Any] = {
    "device": Device, "seed": Seed, "force": Force, "out": Out, "threads": Threads,
    "allow_different_base": AllowDifferentBase, "prompt_field": PromptField, "completion_field": CompletionField,
    "batch_size": GenBatchSize, "max_new_tokens": MaxNewTokens, "shard": ShardOpt,
    "epochs": Epochs, "steps": Steps, "lr": Lr, "warmup": Warmup, "weight_decay": WeightDecay, "clip": Clip,
    "checkpoint_every": CheckpointEvery,
    # flags spelled without a --no- form; their help is the config field's docstring
    "resume": Annotated[bool, typer.Option("--resume")], "compile": Annotated[bool, typer.Option("--compile")],
}
"""Options that mean the same on every command, by config field name: a field of that name gets
this option (its flags, and its help unless the field's docstring says more), with the field's default."""


# Options from a config dataclass: default = the field's default, help = its docstring ---------
LAST = ("device", "seed", "force")
"""Options listed last in ``--help``, as on every command."""


@functools.cache
def _source_lines(path: str) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


def _class_docs(klass: type) -> dict[str, str]:
    """The attribute docstrings of ``klass``'s own fields, read from its source by indentation (no
    parse of the whole module, which would cost ``--help`` a visible delay)."""
    lines = _source_lines(inspect.getsourcefile(klass) or "")
    start = next(i for i, line in enumerate(lines) if re.match(rf"\s*class {klass.__name__}\b", line))
    indent, field, docs, i = None, None, {}, start + 1
    while i < len(lines):
        line, i = lines[i], i + 1
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        if depth < indent:
            break
        if depth > indent:
            continue
        text = line.strip()
        if field and text.startswith('"""'):
            doc = text[3:]
            while '"""' not in doc:
                doc, i = doc + " " + lines[i].strip(), i + 1
            docs[field] = " ".join(doc[:doc.index('"""')].replace("``", "`").split())
            field = None
            continue
        match = re.match(r"(\w+)\s*:", text)
        field = match.group(1) if match and not text.startswith(("def ", "class ", "@")) else None
    return docs


@functools.cache
def field_docs(config: type) -> dict[str, str]:
    """Each field's attribute docstring (the string literal under it) in ``config`` and its bases,
    on one line, ``code`` as `code`."""
    docs: dict[str, str] = {}
    for klass in reversed(config.__mro__[:-1]):
        docs.update(_class_docs(klass))
    return docs


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def option_fields(config: type) -> list[tuple[dataclasses.Field[Any], type, str | None]]:
    """(field, the dataclass declaring it, the field of ``config`` holding its part or None) for every
    option, in the order of ``--help``: the config's own fields, then each base's, then those every
    command has (``--device``, ``--seed``, ``--force``). A field whose type is a dataclass is a part
    of the config (``EvalConfig.routing``): its fields are options too."""
    hints = _hints(config)
    by_name = {f.name: f for f in dataclasses.fields(config)}
    names = [n for klass in config.__mro__ for n in vars(klass).get("__annotations__", {}) if n in by_name]
    out: list[tuple[dataclasses.Field[Any], type, str | None]] = []
    for f in (by_name[n] for n in dict.fromkeys(names)):
        part = hints[f.name]
        out += [(g, owner, f.name) for g, owner, _ in option_fields(part)] if dataclasses.is_dataclass(part) else [(f, config, None)]
    return sorted(out, key=lambda t: t[0].name in LAST)


def _multi(f: dataclasses.Field[Any]) -> bool:
    """A field holding several values: its option's default is None (not given: the field's default)."""
    return f.default_factory is not dataclasses.MISSING or isinstance(f.default, (list, tuple))  # type: ignore[misc]


def _option(f: dataclasses.Field[Any], field_type: Any, spec: Any, doc: str | None, shared: bool) -> Any:
    """``Annotated[type, typer.Option/Argument]`` for field ``f``: ``spec`` (an Annotated type, a
    ``typer.Option``/``Argument``, or just the CLI type) gives flags and type; the docstring the help
    (over a ``SHARED`` option's; a command's own option and a docstring must not both give one)."""
    from typer.models import ParameterInfo

    if typing.get_origin(spec) is Annotated:
        cli_type, info = typing.get_args(spec)[0], next(a for a in typing.get_args(spec)[1:] if isinstance(a, ParameterInfo))
    elif isinstance(spec, ParameterInfo):
        cli_type, info = field_type, spec
    else:
        cli_type, info = field_type if spec is None else spec, typer.Option()
    info = copy(info)
    if doc:
        if info.help and not shared:
            raise TypeError(f"{f.name}: help given twice (the field's docstring and the command's option)")
        info.help = doc
    return Annotated[cli_type, info]


def config_options(config: type, *, skip: Iterable[str] = (), convert: dict[str, Callable[[Any], Any]] | None = None,
                   **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a command's options once: one per field of the dataclass ``config`` (except ``skip``),
    with the field's default and, as help, its docstring. ``options`` (by field name) gives a field
    other flags, a positional ``typer.Argument`` or another CLI type (``choice``); otherwise a field
    named in ``SHARED`` takes that option. The decorated function is called with the config built
    from the given values (``convert``: CLI value -> field value; None for a several-valued field:
    its default) and keyword arguments for its own parameters after the first (CLI-only options,
    declared there as usual)."""
    convert = convert or {}

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        fields = option_fields(config)
        params = []
        for f, owner, _ in fields:
            if f.name in skip:
                continue
            shared = f.name not in options
            spec = SHARED.get(f.name) if shared else options[f.name]
            if f.default is not dataclasses.MISSING:
                default = None if _multi(f) else f.default
            else:
                default = None if f.default_factory is not dataclasses.MISSING else inspect.Parameter.empty  # type: ignore[misc]
            annotation = _option(f, _hints(owner)[f.name], spec, field_docs(owner).get(f.name), shared)
            params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
        own_hints = typing.get_type_hints(fn, include_extras=True)
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=own_hints[p.name])
               for p in list(inspect.signature(fn).parameters.values())[1:]]
        names = {f.name: (f, part) for f, _, part in fields}
        parts = {part: _hints(config)[part] for _, _, part in fields if part}

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            values: dict[str | None, dict[str, Any]] = {None: {}, **{part: {} for part in parts}}
            for name in [n for n in kwargs if n in names]:
                value, (f, part) = kwargs.pop(name), names[name]
                if name in convert:
                    value = convert[name](value)
                elif value is None and _multi(f):
                    value = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
                values[part][name] = value
            built = {part: cls(**values[part]) for part, cls in parts.items()}
            return fn(config(**values[None], **built), **kwargs)

        signature = inspect.Signature([*params, *own])
        wrapper.__signature__ = signature  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
        wrapper.__config__ = config  # type: ignore[attr-defined]
        return wrapper

    return decorate


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command: LorakitError -> one line on stderr + its exit code; Ctrl-C -> 130; stdout
    closed by its reader (``| head``) -> quiet exit 141."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
            return result
        except typer.Exit:
            raise
        except BrokenPipeError:
            _stdout_to_devnull()
            raise typer.Exit(STDOUT_CLOSED) from None
        except LorakitError as e:
            console.print(f"[red]error:[/red] {escape(str(e))}", markup=True, soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            console.print("[red]interrupted[/red]", soft_wrap=True)
            raise typer.Exit(Interrupted.exit_code) from None
        except Exception as e:  # a bug: one line, the traceback with -v
            if kwargs.get("verbose"):
                traceback.print_exc(file=sys.stderr)
            console.print(f"[red]error:[/red] internal error: {type(e).__name__}: {escape(str(e))} (rerun with -v for the traceback)",
                          soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _stdout_to_devnull() -> None:
    """Point stdout's file descriptor at devnull, so the flush at interpreter exit cannot fail
    again (the Python docs' "Note on SIGPIPE"); stdout without a descriptor (tests) is left."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def log(message: str, quiet: bool = False) -> None:
    if not quiet:
        console.print(message, soft_wrap=True, highlight=False, markup=False)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _fmt(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())


@contextmanager
def progress(quiet: bool = False) -> Iterator[ProgressFn]:
    """A ProgressFn drawing Rich bars (ETA, metrics) on stderr; silent when quiet or not a TTY."""
    if quiet or not console.is_terminal:
        yield no_progress
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bars = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[metrics]}"), console=console, transient=False,
    )
    tasks: dict[str, Any] = {}

    def update(ev: ProgressEvent) -> None:
        if ev.message:
            bars.console.print(ev.message, markup=False, highlight=False)
        if ev.task not in tasks:
            tasks[ev.task] = bars.add_task(ev.task, total=ev.total, metrics="")
        bars.update(tasks[ev.task], completed=ev.step, total=ev.total, metrics=_fmt(ev.metrics))

    with bars:
        yield update


def main_process_only(quiet: bool, json: bool) -> tuple[bool, bool]:
    """(quiet, json) for this process: under a launcher only rank 0 draws progress, logs and prints."""
    from lorakit.distributed import is_main

    return (quiet, json) if is_main() else (True, False)
