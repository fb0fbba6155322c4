"""What every command shares: option types, the error-to-exit-code mapping, the stderr console,
progress rendering. The only module (with the command modules) that knows Typer and Rich."""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
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
Resume = Annotated[bool, typer.Option("--resume", help="Continue from OUT.ckpt (left by Ctrl-C or --checkpoint-every) if it exists; same options and data required.")]


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


# Shared by the training commands: several processes (torchrun / accelerate launch) ------------
TokenizerSample = Annotated[float, typer.Option("--tokenizer-sample", help="MB of text the tokenizer trains on: a seeded random sample of documents (the whole corpus when smaller).")]
CacheDir = Annotated[Path | None, typer.Option("--cache-dir", help="Cache for the corpus as Arrow files and its token ids, reused by later runs (default: the datasets cache, HF_DATASETS_CACHE).")]
NumProc = Annotated[int, typer.Option("--num-proc", help="Processes that tokenize the corpus.")]
Compile = Annotated[bool, typer.Option("--compile", help="Compile the model's forward with torch.compile (opt-in: pays off on GPUs for long runs; the first steps are slow while it compiles).")]
GradAccum = Annotated[int, typer.Option("--grad-accum", help="Micro-batches per optimizer step (per process); the global batch stays --batch-size, so 1 process x K=2 makes the same update as 2 processes x K=1.")]
LogFile = Annotated[Path | None, typer.Option("--log-file", help="Write one JSON line per optimizer step (step, loss, lr, tokens, seconds) to this file (rank 0; an existing file needs --force, except when --resume continues from a checkpoint: then its steps before the checkpoint are kept).")]


def main_process_only(quiet: bool, json: bool) -> tuple[bool, bool]:
    """(quiet, json) for this process: under a launcher only rank 0 draws progress, logs and prints."""
    from lorakit.distributed import is_main

    return (quiet, json) if is_main() else (True, False)
