"""`mocha plot statistics.h5 -o curve.png`: the learning curve of a training run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from mocha.cli.app import fail
from mocha.core.errors import MochaError
from mocha.core.hookspecs import hookimpl


def low_pass(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last `window + 1` values at each point (the manual's MNIST tutorial filter:
    the first points average what exists so far, so the curve starts with the raw data)."""
    window = max(int(window), 0)
    sums = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    idx = np.arange(len(values))
    lo = np.maximum(idx - window, 0)
    return (sums[idx + 1] - sums[lo]) / (idx + 1 - lo)


def plot(
    statistics: Annotated[
        Path,
        typer.Argument(help="The lounge's statistics file (HDF5), e.g. snapshots/statistics.h5."),
    ],
    *,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Image to write (.png, .svg or .pdf).")
    ] = Path("curve.png"),
    statistic: Annotated[str, typer.Option(help="The training series to plot.")] = "obj_val",
    window: Annotated[
        int | None,
        typer.Option(help="Low-pass window in points (default: a twentieth of the series)."),
    ] = None,
    log_y: Annotated[
        bool,
        typer.Option(
            "--log-y/--linear-y", help="Logarithmic objective axis (when all values are > 0)."
        ),
    ] = True,
    title: Annotated[str, typer.Option(help="Plot title.")] = "Learning curve",
) -> None:
    """Plot a learning curve from a statistics file.

    The raw objective and a low-pass curve, with the validation accuracy (any `*-accuracy`
    series) on a second axis.
    """
    from mocha.core.io.statistics import load_statistics

    if not statistics.is_file():
        raise fail(f"statistics file {str(statistics)!r} does not exist")
    if output.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise fail(f"cannot write {str(output)!r}: use a .png, .svg or .pdf file name")
    try:
        stats = load_statistics(str(statistics))
    except MochaError as exc:
        raise fail(str(exc)) from None
    if statistic not in stats or not stats[statistic]:
        raise fail(
            f"{statistics} has no {statistic!r} series; it has: "
            f"{', '.join(sorted(stats)) or 'nothing'}"
        )
    from mocha.core.extras import MissingExtraError, require

    try:
        matplotlib = require("plot", "mocha plot")
        matplotlib.use("Agg")
        plt = require("plot", "mocha plot", "matplotlib.pyplot")
    except MissingExtraError as exc:
        raise fail(str(exc)) from None

    items = sorted(stats[statistic].items())
    x = np.array([i for i, _ in items])
    y = np.array([v for _, v in items], dtype=np.float64)
    w = max(1, round(len(y) / 20)) if window is None else window
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(x, y, linewidth=1, label="Raw", color="tab:blue", alpha=0.6)
    ax.plot(x, low_pass(y, w), linewidth=2, label="Low pass", color="tab:orange")
    if log_y and np.all(y > 0):
        ax.set_yscale("log")
    ax.set_xlabel("Iterations")
    ax.set_ylabel("Objective value" if statistic == "obj_val" else statistic)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    accuracy = sorted(k for k in stats if (k == "accuracy" or k.endswith("-accuracy")) and stats[k])
    if accuracy:
        ax2 = ax.twinx()
        colors = ("tab:green", "tab:red", "tab:purple", "tab:brown")
        for j, name in enumerate(accuracy):
            acc = sorted(stats[name].items())
            ax2.plot(
                [i for i, _ in acc],
                [100 * v for _, v in acc],
                marker="o",
                linestyle="--",
                color=colors[j % len(colors)],
                label=f"{name} (validation)",
            )
        ax2.set_ylabel("Validation accuracy (%)")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="center right")
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)
    typer.echo(f"wrote {output}")


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("plot")(plot)
