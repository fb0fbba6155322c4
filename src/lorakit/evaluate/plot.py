"""Pictures of training logs and of report tables (``lorakit plot``), drawn with matplotlib (Agg).

- Training curves: ``--log-file`` JSONL files (one ``{"step", "loss", "lr", ...}`` object a step), the
  loss (log scale when it spans more than a factor of 20) above the learning rate, one line per run.
- Tables: eval results (``report``'s inputs) as a heatmap, runs × tasks, each cell annotated with its
  % (bridge tasks "final / bridge"). A single run whose tasks nest as ``TASK/A/B`` (``eval --task
  faithfulness``: language / perturbation) is drawn as the grid A × B, with ``TASK/A`` as an "all" column
  and ``TASK`` (the mean) as an "all" row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorakit.errors import IncompatibleError, InputError, UsageError
from lorakit.evaluate.report import Row
from lorakit.io import atomic_file, iter_jsonl

FORMATS = ("png", "svg", "pdf")
LOG_FIELDS = ("step", "loss", "lr")


@dataclass
class Curve:
    name: str
    step: list[float]
    loss: list[float]
    lr: list[float]


@dataclass
class Grid:
    rows: list[str]
    cols: list[str]
    values: list[list[float | None]]
    """% per cell (None: the run has no such task)."""
    labels: list[list[str]]
    """The text written in each cell."""


def image_format(out: str | Path) -> str:
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise UsageError(f"--out {out}: the file name must end in {', '.join('.' + f for f in FORMATS)}")
    return suffix


def read_log(name: str, path: str | Path) -> Curve:
    """A ``--log-file`` JSONL: every line needs numeric ``step``, ``loss`` and ``lr`` (``FILE:LINE: reason``)."""
    curve = Curve(name, [], [], [])
    for lineno, record in enumerate(iter_jsonl(path), start=1):
        for key in LOG_FIELDS:
            value = record.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"{path}:{lineno}: {key!r} must be a finite number (a --log-file line)")
        curve.step.append(record["step"])
        curve.loss.append(record["loss"])
        curve.lr.append(record["lr"])
    if not curve.step:
        raise InputError(f"{path}: no log lines")
    return curve


def _percent(row: Row, task: str) -> tuple[float | None, str]:
    if task not in row.scores:
        return None, "–"
    value = 100 * row.scores[task]
    text = f"{value:.1f}".removesuffix(".0")
    if task in row.bridge:
        text += f"/{100 * row.bridge[task]:.0f}"
    return value, text


def table_grid(rows: list[Row], cols: list[str]) -> Grid:
    """Runs × tasks; one run with ``TASK/A/B`` tasks becomes the grid A × B ("all" = ``TASK/A``)."""
    nested = [c.split("/") for c in cols if c.count("/") == 2]
    if len(rows) == 1 and nested:
        row, top = rows[0], nested[0][0]
        names = list(dict.fromkeys(a for t, a, _ in nested if t == top))
        parts = list(dict.fromkeys(b for t, a, b in nested if t == top))
        cells = [[_percent(row, f"{top}/{a}")] + [_percent(row, f"{top}/{a}/{b}") for b in parts] for a in names]
        if top in row.scores:
            names.append("all")
            cells.append([_percent(row, top)] + [(None, "–")] * len(parts))
        return Grid(names, ["all", *parts], [[v for v, _ in r] for r in cells], [[t for _, t in r] for r in cells])
    cells = [[_percent(r, c) for c in cols] for r in rows]
    return Grid([r.name for r in rows], cols, [[v for v, _ in r] for r in cells], [[t for _, t in r] for r in cells])


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise IncompatibleError("lorakit plot needs matplotlib: pip install 'lorakit[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_curves(curves: list[Curve], out: str | Path, title: str | None, force: bool) -> None:
    plt = _pyplot()
    fig, (ax_loss, ax_lr) = plt.subplots(2, 1, sharex=True, figsize=(7.5, 5.5), height_ratios=(3, 1.3))
    for c in curves:
        ax_loss.plot(c.step, c.loss, label=c.name, linewidth=1.2)
        ax_lr.plot(c.step, c.lr, label=c.name, linewidth=1.2)
    losses = [v for c in curves for v in c.loss]
    if min(losses) > 0 and max(losses) / min(losses) > 20:
        ax_loss.set_yscale("log")
    ax_loss.set_ylabel("training loss")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    for ax in (ax_loss, ax_lr):
        ax.grid(True, alpha=0.3)
    ax_loss.legend(fontsize=8, loc="upper right")
    ax_loss.set_title(title or "Training loss and learning rate")
    _save(plt, fig, out, force)


def draw_grid(grid: Grid, out: str | Path, title: str | None, force: bool) -> None:
    plt = _pyplot()
    n_rows, n_cols = len(grid.rows), len(grid.cols)
    longest = max(len(c) for c in grid.cols)
    fig, ax = plt.subplots(figsize=(2.0 + 0.8 * n_cols, 1.2 + 0.42 * n_rows + 0.07 * longest))
    values = [[math.nan if v is None else v for v in r] for r in grid.values]
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(n_cols), grid.cols, rotation=40, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(n_rows), grid.rows, fontsize=8)
    ax.tick_params(length=0)
    small = 7 if any("/" in t for r in grid.labels for t in r) else 8
    for i, row in enumerate(grid.labels):
        for j, text in enumerate(row):
            dark = grid.values[i][j] is not None and grid.values[i][j] < 60
            ax.text(j, i, text, ha="center", va="center", fontsize=small, color="white" if dark else "black")
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="%")
    ax.set_title(title or "", fontsize=10)
    if small == 7:
        ax.set_xlabel("cell \"x/y\": x the final answer correct, y the bridge entity named first (%)", fontsize=8)
    _save(plt, fig, out, force)


def _save(plt: Any, fig: Any, out: str | Path, force: bool) -> None:
    try:
        with atomic_file(out, force=force) as tmp:
            fig.savefig(tmp, format=image_format(out), dpi=150, bbox_inches="tight")
    finally:
        plt.close(fig)
