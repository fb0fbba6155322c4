"""One exception family; each class carries the process exit code the CLI returns.

Library code raises these and never exits; ``lorakit.cli.common`` maps them to one line on
stderr and the exit code below (the README's exit-code table is generated from EXIT_CODES).
"""


class LorakitError(Exception):
    """Base class: something the user can fix. Exit code 1."""

    exit_code = 1


class UsageError(LorakitError):
    """Invalid option values or combinations."""

    exit_code = 2


class InputError(LorakitError):
    """A missing, unreadable or malformed input file or folder (JSONL: ``FILE:LINE: reason``)."""

    exit_code = 3


class OutputExistsError(LorakitError):
    """The output already exists and ``--force`` was not given."""

    exit_code = 4


class IncompatibleError(LorakitError):
    """Inputs that cannot be combined: adapter of another base, unsupported adapter type."""

    exit_code = 5


class TrainingError(LorakitError):
    """Training failed numerically (non-finite loss) or a checkpoint does not match the run."""

    exit_code = 6


class Interrupted(LorakitError):
    """Ctrl-C: a checkpoint was saved where the command supports ``--resume``."""

    exit_code = 130


STDOUT_CLOSED = 141
"""stdout's reader went away (``lorakit … | head -1``): no message, 128 + SIGPIPE as ``cat`` gets."""

EXIT_CODES: list[tuple[int, str]] = [
    (0, "Success."),
    (1, "Unexpected error (a bug: please report it with the `-v` traceback)."),
    (UsageError.exit_code, "Invalid options or option values (also Typer's own usage errors; an output path under a file or in a read-only folder)."),
    (InputError.exit_code, "Missing, unreadable or malformed input (`FILE:LINE: reason` for JSONL)."),
    (OutputExistsError.exit_code, "Output exists; pass `--force` to replace it."),
    (IncompatibleError.exit_code, "Inputs that cannot be combined (different base, unsupported adapter)."),
    (TrainingError.exit_code, "Training failed (non-finite loss) or `--resume` found a mismatching checkpoint."),
    (Interrupted.exit_code, "Interrupted (Ctrl-C); training commands saved a checkpoint for `--resume`."),
    (STDOUT_CLOSED, "stdout closed early by its reader (piped into `head -1`): nothing printed, the status `cat` gets (128 + SIGPIPE)."),
]
