"""Generated documentation: README command reference and exit codes, shell completions.

``python -m lorakit.cli.docs readme README.md`` rewrites the marked README sections;
``python -m lorakit.cli.docs completions completions/`` writes bash, zsh and fish scripts.
Tests fail when either is stale, so the Typer app stays the one source of truth.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import typer

PROG = "lorakit"
SHELLS = {"bash": "lorakit.bash", "zsh": "_lorakit", "fish": "lorakit.fish"}


def _commands(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    out = []
    ctx = click.Context(group, info_name=prefix)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{prefix} {name}")
        else:
            out.append((f"{prefix} {name}", cmd))
    return out


def _default(p: click.Parameter) -> str:
    if p.required or p.default is None or isinstance(p, click.Argument):
        return ""
    if isinstance(p, click.Option) and p.is_flag:
        return "off" if not p.default else "on"
    d = p.default.value if hasattr(p.default, "value") else p.default
    return f"`{d}`"


def _row(p: click.Parameter) -> str:
    if isinstance(p, click.Argument):
        name = p.human_readable_name + ("..." if p.nargs == -1 else "")
        helptext = getattr(p, "help", "") or ""
    else:
        name = ", ".join(p.opts)
        helptext = p.help or ""
    helptext = helptext.replace("|", "\\|")
    return f"| `{name}` | {_default(p)} | {helptext} |"


def command_reference(app: typer.Typer) -> str:
    root = typer.main.get_command(app)
    parts = []
    for name, cmd in _commands(root, PROG):
        ctx = click.Context(cmd, info_name=name)
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        params = [p for p in cmd.params if p.name not in ("help",)]
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
