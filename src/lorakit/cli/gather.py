"""``lorakit gather``: the shard outputs of one ``--shard i/N`` run, back in input order."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakit.cli.common import Force, Json, OutFile, Quiet, Verbose, command, emit_json, log


@command
def gather(
    shards: Annotated[list[str], typer.Argument(help="Shard output files (any order); each has its FILE.shard.json.", show_default=False)],
    out: OutFile = None,
    force: Force = False,
    json: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Concatenate the outputs of `route`/`rescore`/`eval --shard i/N` in input order, after checking they are complete, of one input, and unchanged."""
    from lorakit.errors import UsageError
    from lorakit.io import STDIO
    from lorakit.shard import gather as run

    if json and out in (None, STDIO):
        raise UsageError("--json needs --out FILE (stdout carries the records)")
    summary = run(shards, out, force)
    if json:
        emit_json(summary)
    log(f"gathered {summary['shards']} shard(s) of {summary['command']}: {summary['records']} records of {summary['input']}", quiet)
