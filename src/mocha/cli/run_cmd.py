"""`mocha run EXPERIMENT.toml`: train the network an experiment file describes.

A thin adapter over `mocha.experiment.load_experiment` / `run_experiment`: it adds the live
progress display (only when stderr is a terminal), turns a bad file into one message and
exit status 2, and prints a summary (a JSON object with `--json`).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mocha.cli.app import fail
from mocha.core.errors import MochaError, SnapshotError
from mocha.core.hookspecs import hookimpl


def _progress_breaks(enabled: bool) -> list[tuple[Any, int]]:
    if not enabled or not sys.stderr.isatty():
        return []
    from mocha.core.registry import lookup

    try:
        return [(lookup("coffee_breaks", "RichProgress")(), 1)]
    except MochaError:
        return []


def _print_summary(result: Any, stderr: bool) -> None:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    status = "interrupted" if result.interrupted else "done"
    console.print(
        f"[bold]{result.experiment}[/]: {status} at iteration {result.iterations} on "
        f"{result.backend}, objective {result.objective:.6g}, {result.wall_time_s:.1f} s"
    )
    for name, value in sorted(result.validation.items()):
        pct = f" ({100 * value:.2f}%)" if name.endswith(("accuracy", "error")) else ""
        console.print(f"  validation {name} = {value:.6g}{pct}")


def run(
    experiment: Annotated[Path, typer.Argument(help="The experiment file (TOML).")],
    *,
    backend: Annotated[str | None, typer.Option(
        help="Backend (numpy, numba, cupy, cpu, gpu, default); overrides \\[backend].")] = None,
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, help="CPU threads of the backend (default: the cores available; "
        "overrides \\[backend] threads).")] = None,
    max_iter: Annotated[int | None, typer.Option(
        "--max-iter", min=0, help="Stop after N iterations (overrides \\[solver]).")] = None,
    load_from: Annotated[Path | None, typer.Option(
        "--load-from", help="Resume from a snapshot file or a snapshot folder.")] = None,
    no_progress: Annotated[bool, typer.Option(
        "--no-progress", help="No live progress bar, plain log lines only.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print a machine-readable summary (JSON) on stdout at the end.")] = False,
) -> None:
    """Train the network described by an [bold]experiment file[/] (see docs/experiment-files.md).

    Ctrl-C stops after the next iteration, writes a snapshot when the file has a Snapshot
    coffee break, and tells how to resume.
    """
    from mocha.experiment import ExperimentError, load_experiment, run_experiment

    try:
        exp = load_experiment(experiment)
    except MochaError as exc:
        raise fail(str(exc)) from None
    if threads is not None:
        exp.backend["threads"] = threads
    if load_from is not None and not load_from.exists():
        raise fail(f"--load-from {str(load_from)!r}: no such snapshot file or folder")
    progress = _progress_breaks(not no_progress)
    if progress and (as_json or sys.stdout.isatty()):  # the bar and tables replace the log
        redirect: Any = contextlib.redirect_stdout(io.StringIO())
    elif as_json:  # stdout carries only the JSON object: the training log goes to stderr
        redirect = contextlib.redirect_stdout(sys.stderr)
    else:
        redirect = contextlib.nullcontext()
    try:
        with redirect:
            result = run_experiment(
                exp, backend=backend, max_iter=max_iter,
                load_from=str(load_from) if load_from else "", extra_coffee_breaks=progress,
            )
    except (ExperimentError, SnapshotError) as exc:  # the file or the snapshot is at fault
        raise fail(f"{experiment}: {exc}" if isinstance(exc, SnapshotError) else str(exc)) \
            from None
    except MochaError as exc:  # training failed (e.g. diverged)
        raise fail(f"{experiment}: {exc}", code=1) from None
    except KeyboardInterrupt:
        raise fail("interrupted twice; stopped without a snapshot", code=130) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_summary(result, stderr=False)
    if result.interrupted:
        where = result.snapshot_dir
        hint = (f"snapshot written to {result.snapshot_written or where}; resume with:\n"
                f"  mocha run {experiment} --load-from {where}") if where else (
                "no Snapshot coffee break is configured, so nothing was saved")
        typer.echo(f"Interrupted at iteration {result.iterations}: {hint}", err=True)


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("run")(run)
