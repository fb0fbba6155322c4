"""Running lorakit in-process (Typer's CliRunner), failing with its stderr on a non-zero exit."""

from __future__ import annotations

from typing import Any


def lorakit(*args: Any, code: int = 0) -> Any:
    from typer.testing import CliRunner

    from lorakit.cli import app

    result = CliRunner().invoke(app, list(map(str, args)))
    assert result.exit_code == code, f"lorakit {' '.join(map(str, args))}: exit {result.exit_code}\n{result.stderr}"
    return result
