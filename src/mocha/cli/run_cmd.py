"""`mocha run EXPERIMENT.toml`: train the network an experiment file describes.

A thin adapter over `mocha.experiment.load_experiment` / `run_experiment`: it adds the live
progress display (only when stderr is a terminal), turns a bad file into one message and
exit status 2, and prints a summary (a JSON object with `--json`).

Under `mpirun -n N` (N > 1; or with `--distributed`) it trains data-parallel through
`mocha.distributed`: rank 0 prints, the other ranks stay silent, and an error on any rank
aborts the whole job (`MPI_Abort` with the exit status the error would have had).

Exit status: 0 done (also when a resumed snapshot is already at or past `--max-iter`,
which is said), 130 stopped by Ctrl-C, 143 by SIGTERM (the first stops after the iteration,
saving a snapshot when the file has a Snapshot break, and prints how to resume; a second one
aborts at once and names the latest snapshot on disk); the errors' statuses (1, 2) are mapped
in one place, `mocha.cli._run_exit`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mocha.cli._run_exit import interrupted_status, run_exits
from mocha.cli.app import fail
from mocha.core.errors import MochaError
from mocha.core.hookspecs import hookimpl

logger = logging.getLogger("mocha")


def _progress_breaks(enabled: bool, take_stdout: bool = False) -> list[tuple[Any, int]]:
    """The live progress bar (on a terminal); with `take_stdout` it mutes the plain training
    log while it runs and shows whatever else is printed above the bar."""
    if not enabled or not sys.stderr.isatty():
        return []
    from mocha.core.registry import lookup

    try:
        return [(lookup("coffee_breaks", "RichProgress")(take_stdout=take_stdout), 1)]
    except MochaError:
        return []


def _print_summary(result: Any, stderr: bool) -> None:
    from mocha.cli._console import make_console

    console = make_console(stderr=stderr, highlight=False)
    status = (
        "interrupted"
        if result.interrupted
        else ("stopped early" if result.stopped_early else "done")
    )
    if (
        not result.interrupted
        and result.start_iteration
        and result.start_iteration >= result.max_iter
    ):
        status = "nothing to train (resumed)"
    console.print(
        f"[bold]{result.experiment}[/]: {status} at iteration {result.iterations} on "
        f"{result.backend}, objective {result.objective:.6g}, {result.wall_time_s:.1f} s"
    )
    if result.validation and result.model != "last":
        console.print(f"  the {result.model} model, of iteration {result.model_iteration}:")
    elif result.validation:
        console.print(f"  the model of iteration {result.model_iteration} (the last):")
    for name, value in sorted(result.validation.items()):
        pct = f" ({100 * value:.2f}%)" if name.endswith(("accuracy", "error")) else ""
        console.print(f"  validation {name} = {value:.6g}{pct}")


def run(
    experiment: Annotated[Path, typer.Argument(help="The experiment file (TOML).")],
    *,
    backend: Annotated[
        str | None,
        typer.Option(
            help="Backend (numpy, numba, cupy, cpu, gpu, default); overrides \\[backend]."
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="CPU threads of the backend (default: the cores available; "
            "overrides \\[backend] threads).",
        ),
    ] = None,
    max_iter: Annotated[
        int | None,
        typer.Option("--max-iter", min=0, help="Stop after N iterations (overrides \\[solver])."),
    ] = None,
    load_from: Annotated[
        Path | None,
        typer.Option(
            "--load-from",
            help="Resume from a snapshot file or a snapshot folder (the newest "
            "intact snapshot; a folder that does not exist yet starts fresh).",
        ),
    ] = None,
    weights_only: Annotated[
        bool,
        typer.Option(
            "--weights-only",
            help="With --load-from: load only the parameters and start at "
            "iteration 0 (e.g. from a snapshot whose solver state is damaged).",
        ),
    ] = False,
    allow_foreign_snapshot: Annotated[
        bool,
        typer.Option(
            "--allow-foreign-snapshot",
            help="Resume a snapshot written by another experiment (refused by default).",
        ),
    ] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No live progress bar, plain log lines only.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print a machine-readable summary (JSON) on stdout at the end."
        ),
    ] = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Start over at iteration 0: do not resume; the snapshots and "
            "statistics already in the snapshot folder move into its previous-<time>/ "
            "subfolder (nothing is deleted).",
        ),
    ] = False,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="The backend's random seed (overrides \\[backend] seed)."),
    ] = None,
    distributed: Annotated[
        bool | None,
        typer.Option(
            "--distributed/--no-distributed",
            help="Data-parallel over MPI (needs the mpi extra); default: on under mpirun -n N>1.",
        ),
    ] = None,
) -> None:
    """Train the network described by an [bold]experiment file[/] (see docs/experiment-files.md).

    Ctrl-C stops after the next iteration, writes a snapshot when the file has a Snapshot
    coffee break, and tells how to resume.
    """
    from mocha.experiment import RunOptions, load_experiment, run_experiment

    mpi_size = _mpi_size(distributed)
    with run_exits(experiment, mpi_size):
        exp = load_experiment(experiment)
        options = RunOptions(
            backend=backend,
            threads=threads,
            seed=seed,
            max_iter=max_iter,
            load_from=str(load_from or ""),
            weights_only=weights_only,
            allow_foreign_snapshot=allow_foreign_snapshot,
            fresh=fresh,
            distributed=mpi_size > 0,
        )
        # on a terminal (or with --json) the bar and its tables replace the plain log; other
        # output printed while it runs (a plugin's) shows above the bar, on stderr
        take_stdout = as_json or sys.stdout.isatty()
        progress = _progress_breaks(not no_progress and mpi_size == 0, take_stdout=take_stdout)
        to_stderr = as_json and not progress  # stdout carries only the JSON object
        with contextlib.redirect_stdout(sys.stderr) if to_stderr else contextlib.nullcontext():
            result = run_experiment(exp, options, extra_coffee_breaks=progress)
    if mpi_size and not _is_root():
        return
    _report(result, exp, options, as_json, mpi_size, experiment)


def _report(
    result: Any, exp: Any, options: Any, as_json: bool, mpi_size: int, experiment: Path
) -> None:
    """The summary (or the JSON object), and after Ctrl-C how to resume (exit 130)."""
    if (
        not result.interrupted
        and result.start_iteration
        and result.start_iteration >= result.max_iter
    ):
        logger.warning(
            "the snapshot resumed (%s) is at iteration %d, at or past max_iter %s: nothing "
            "was trained; give a higher --max-iter, or --fresh to start over",
            Path(result.resumed_from or "?").name,
            result.start_iteration,
            options.max_iter if options.max_iter is not None else f"{result.max_iter:g}",
        )
    if as_json:
        from mocha.cli._run_info import run_info

        info = result.to_dict()
        info["environment"] = run_info(exp, int(options.backend_table(exp).get("seed", 0)))
        typer.echo(json.dumps(info, indent=2))
    else:
        _print_summary(result, stderr=False)
    if result.interrupted:
        launcher = f"mpirun -n {mpi_size} " if mpi_size > 1 else ""
        where = result.snapshot_dir
        hint = (
            (
                f"snapshot written to {result.snapshot_written or where}; resume with:\n"
                f"  {launcher}mocha run {experiment} --load-from {where}"
            )
            if where
            else ("no Snapshot coffee break is configured, so nothing was saved")
        )
        by = f" ({result.signal})" if result.signal and result.signal != "SIGINT" else ""
        typer.echo(f"Interrupted{by} at iteration {result.iterations}: {hint}", err=True)
        raise typer.Exit(interrupted_status(result.signal))


def _mpi_size(distributed: bool | None) -> int:
    """The MPI job size when training data-parallel, else 0; a missing mpi4py (when asked
    for, or when launched by mpirun with several processes) exits with status 2."""
    from mocha.distributed.launch import DistributedError, import_mpi, launched_world_size

    launched = launched_world_size()
    if distributed is False or (distributed is None and launched <= 1):
        return 0
    try:
        mpi = import_mpi()
    except DistributedError as exc:
        where = f"launched by mpirun with {launched} processes, but " if launched > 1 else ""
        raise fail(f"{where}{exc}") from None
    return mpi.COMM_WORLD.Get_size()


def _is_root() -> bool:
    from mocha.distributed import is_root

    return is_root()


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("run")(run)
