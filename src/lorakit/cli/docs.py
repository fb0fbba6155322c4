"""Generated documentation: README command reference and exit codes, shell completions.

``python -m lorakit.cli.docs readme README.md`` rewrites the marked README sections;
``python -m lorakit.cli.docs completions completions/`` writes bash, zsh and fish scripts.
Tests fail when either is stale, so the Typer app stays the one source of truth.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

PROG = "lorakit"
SHELLS = {"bash": "lorakit.bash", "zsh": "_lorakit", "fish": "lorakit.fish"}


def commands(group: TyperGroup, prefix: str = PROG) -> list[tuple[str, typer.core.TyperCommand]]:
    """Every command under ``group`` as (``lorakit gen-data twohop``, command): sub-apps walked down."""
    out = []
    ctx = typer.Context(group, info_name=prefix)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        if isinstance(cmd, TyperGroup):
            out += commands(cmd, f"{prefix} {name}")
        else:
            out.append((f"{prefix} {name}", cmd))
    return out


def _default(p: TyperArgument | TyperOption) -> str:
    if p.required or p.default is None or isinstance(p, TyperArgument):
        return ""
    if p.is_flag:
        return "on" if p.default else "off"
    d = p.default.value if hasattr(p.default, "value") else p.default
    return f"`{d}`"


def _row(p: TyperArgument | TyperOption) -> str:
    if isinstance(p, TyperArgument):
        name = (p.metavar or p.name or "") + ("..." if p.nargs != 1 else "")  # as --help shows it
    else:
        name = ", ".join([*p.opts, *p.secondary_opts])
    helptext = (p.help or "") + _values(p)
    return f"| `{name}` | {_default(p)} | {helptext.replace('|', chr(92) + '|')} |"


def _values(p: TyperArgument | TyperOption) -> str:
    """`` Values: `a`, `b`.`` for an option declared with choices (``common.choice``), else ''."""
    names = p.type_descriptor.choices
    return "" if not names else " Values: " + ", ".join(f"`{getattr(n, 'value', n)}`" for n in names) + "."


def command_reference(app: typer.Typer) -> str:
    parts = []
    for name, cmd in commands(typer.main.get_command(app)):
        ctx = typer.Context(cmd, info_name=name)
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        params = [p for p in cmd.params if p.name != "help"]
        parts += [f"### `{name}`", "", (cmd.help or "").strip().split("\n\n")[0], "",
                  "```", f"{name} {usage}", "```", "",
                  "| argument / option | default | meaning |", "|---|---|---|", *map(_row, params), ""]
    return "\n".join(parts)


def exit_code_table() -> str:
    from lorakit.errors import EXIT_CODES

    rows = [f"| {code} | {meaning} |" for code, meaning in EXIT_CODES]
    return "\n".join(["| code | meaning |", "|---:|---|", *rows]) + "\n"


def _replace_section(text: str, marker: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- BEGIN {marker} -->\n).*?(<!-- END {marker} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"README has no <!-- BEGIN {marker} --> ... <!-- END {marker} --> section")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def render_readme(text: str) -> str:
    from lorakit.cli import app

    text = _replace_section(text, "COMMANDS", command_reference(app))
    return _replace_section(text, "EXIT CODES", exit_code_table())


def completion_scripts() -> dict[str, str]:
    from typer._completion_shared import get_completion_script

    var = f"_{PROG.upper()}_COMPLETE"
    return {f: get_completion_script(prog_name=PROG, complete_var=var, shell=s) for s, f in SHELLS.items()}


def main(argv: list[str]) -> None:
    what, target = argv
    if what == "readme":
        p = Path(target)
        p.write_text(render_readme(p.read_text(encoding="utf-8")), encoding="utf-8")
    elif what == "completions":
        folder = Path(target)
        folder.mkdir(exist_ok=True)
        for name, script in completion_scripts().items():
            (folder / name).write_text(script, encoding="utf-8")
    else:
        raise SystemExit(f"unknown target {what!r}: readme|completions")


if __name__ == "__main__":
    main(sys.argv[1:])
