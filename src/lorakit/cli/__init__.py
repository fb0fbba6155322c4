"""The one Typer app. Command modules are thin; heavy libraries load inside the commands."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakit import __version__
from lorakit.cli import convert as convert_cmd
from lorakit.cli import eval as eval_cmd
from lorakit.cli import gen_data, pretrain_lm, report, train_lora
from lorakit.cli import inspect as inspect_cmd, merge as merge_cmd
from lorakit.cli import pretrain_bert, rescore
from lorakit.cli import route as route_cmd
from lorakit.cli import gather as gather_cmd
from lorakit.cli import plot as plot_cmd

app = typer.Typer(
    name="lorakit",
    help="Reuse LoRA adapters (merge, route) and rescore outputs with tiny BERTs.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lorakit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """Reuse LoRA adapters (merge, route) and rescore outputs with tiny BERTs."""


app.add_typer(gen_data.app, name="gen-data")
app.command("pretrain-lm")(pretrain_lm.pretrain_lm)
app.command("train-lora")(train_lora.train_lora)
app.command("eval")(eval_cmd.eval_)
app.command("report")(report.report)
app.command("merge")(merge_cmd.merge)
app.command("inspect")(inspect_cmd.inspect_)
app.command("pretrain-bert")(pretrain_bert.pretrain_bert)
app.command("rescore")(rescore.rescore)
app.command("route")(route_cmd.route)
app.command("gather")(gather_cmd.gather)
app.command("plot")(plot_cmd.plot)
app.command("convert")(convert_cmd.convert)


def main() -> None:
    app(prog_name="lorakit")
