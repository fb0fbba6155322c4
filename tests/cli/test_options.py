"""Each option is declared once: its default is the config field's default and its help the field's
docstring, on every command (``cli.common.config_options``), so the two can never drift apart."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
import typer
from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.cli.common import command, config_options, field_docs, option_fields
from tests.cli.test_app import _leaf_commands

runner = CliRunner()
NO_CONFIG = {"lorakit report", "lorakit gather", "lorakit plot"}
"""Commands that read files and take no config object."""


def _callbacks(typer_app: typer.Typer, path: str = "lorakit") -> dict[str, object]:
    """Every command's own function (what ``config_options`` decorated), by its full name."""
    out = {f"{path} {c.name}": c.callback for c in typer_app.registered_commands}
    for group in typer_app.registered_groups:
        out.update(_callbacks(group.typer_instance, f"{path} {group.name}"))
    return out


CALLBACKS = _callbacks(app)
LEAVES = dict(_leaf_commands(typer.main.get_command(app), "lorakit"))


def _field_default(f: dataclasses.Field) -> object:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def test_every_command_with_options_is_built_from_its_config():
    assert set(CALLBACKS) == set(LEAVES)
    built = {path for path, fn in CALLBACKS.items() if hasattr(fn, "__config__")}
    assert built == set(LEAVES) - NO_CONFIG


@pytest.mark.parametrize("path", sorted(set(LEAVES) - NO_CONFIG))
def test_defaults_and_help_come_from_the_config(path):
    config = CALLBACKS[path].__config__
    fields = {f.name: f for f, _, _ in option_fields(config)}
    docs = {f.name: field_docs(owner).get(f.name) for f, owner, _ in option_fields(config)}
    params = [p for p in LEAVES[path].params if p.name in fields]
    assert len(params) >= 2
    for p in params:
        f = fields[p.name]
        want = _field_default(f)
        if p.default is None and isinstance(want, (list, tuple)):  # several values: not given = the field's default
            continue
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            assert p.required, (path, p.name)
            continue
        assert p.default == want, (path, p.name, p.default, want)
        if docs[p.name]:
            assert p.help == docs[p.name], (path, p.name)


@pytest.mark.parametrize("path", sorted(set(LEAVES) - NO_CONFIG))
def test_help_shows_the_config_defaults(path):
    config = CALLBACKS[path].__config__
    shown = runner.invoke(app, [*path.split()[1:], "--help"], env={"COLUMNS": "1000"})
    assert shown.exit_code == 0
    text = " ".join(shown.output.split())
    for f, _, _ in option_fields(config):
        if isinstance(f.default, (int, float, str)) and not isinstance(f.default, bool) and f.default != "":
            param = next((p for p in LEAVES[path].params if p.name == f.name), None)
            if param is not None and param.param_type_name == "option" and param.show_default is not False:
                assert f"[default: {f.default}]" in text, (path, f.name)


@dataclass
class _Demo:
    name: str
    """The name."""
    count: int = 3
    """How many,
    over two lines with ``code``."""
    tags: list[str] = dataclasses.field(default_factory=list)
    quiet_field: bool = False


def test_field_docs_reads_attribute_docstrings():
    assert field_docs(_Demo) == {"name": "The name.", "count": "How many, over two lines with `code`."}


def test_a_built_command_gets_its_config_and_its_own_options():
    seen = []

    @command
    @config_options(_Demo, name=typer.Argument(), skip=("quiet_field",), convert={"count": lambda n: n * 2})
    def demo(cfg: _Demo, loud: bool = False) -> None:
        seen.append((cfg, loud))

    one = typer.Typer()
    one.command()(demo)
    assert runner.invoke(one, ["x", "--count", "2", "--tags", "a", "--tags", "b", "--loud"]).exit_code == 0
    assert runner.invoke(one, ["y"]).exit_code == 0
    assert seen == [(_Demo("x", 4, ["a", "b"]), True), (_Demo("y", 6, []), False)]
    shown = runner.invoke(one, ["--help"], env={"COLUMNS": "300"}).output
    assert "How many, over two lines with `code`." in shown and "quiet-field" not in shown


@dataclass
class _Part:
    level: int = 1
    """A level."""


@dataclass
class _Whole:
    name: str
    part: _Part = dataclasses.field(default_factory=_Part)


def test_a_composed_part_gives_options_and_is_built():
    seen = []

    @command
    @config_options(_Whole, name=typer.Argument())
    def whole(cfg: _Whole) -> None:
        seen.append(cfg)

    one = typer.Typer()
    one.command()(whole)
    assert runner.invoke(one, ["x", "--level", "3"]).exit_code == 0
    assert runner.invoke(one, ["y"]).exit_code == 0
    assert seen == [_Whole("x", _Part(3)), _Whole("y", _Part(1))]
    assert [(f.name, owner, part) for f, owner, part in option_fields(_Whole)] == [("name", _Whole, None), ("level", _Part, "part")]


def test_help_cannot_be_written_twice():
    with pytest.raises(TypeError, match="count: help given twice"):
        config_options(_Demo, count=typer.Option(help="Again."))(lambda cfg: None)
