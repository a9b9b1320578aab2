"""`mocha run EXPERIMENT.toml`: train the network an experiment file describes.

A thin adapter over `mocha.experiment.load_experiment` / `run_experiment`: it adds the live
progress display (only when stderr is a terminal), turns a bad file into one message and
exit status 2, and prints a summary (a JSON object with `--json`).

Under `mpirun -n N` (N > 1; or with `--distributed`) it trains data-parallel through
`mocha.distributed`: rank 0 prints, the other ranks stay silent, and an error on any rank
aborts the whole job (`MPI_Abort` with the exit status the error would have had).

Exit status: 0 done (also when a resumed snapshot is already at or past `--max-iter`,
which is said), 2 the experiment file, a data file, a snapshot or a plugin is at fault (also
when found only while training: a layer configuration, a shape, a snapshot folder in use by
another run), 1 training failed (`SolverError`: a diverging objective) or the system did (out
of memory, disk full), 130 stopped by Ctrl-C (the first stops after the iteration, saving a
snapshot when the file has a Snapshot break, and prints how to resume; a second one aborts
at once and names the latest snapshot on disk).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mocha.cli.app import fail
from mocha.core.errors import MochaError, SolverError
from mocha.core.hookspecs import hookimpl

logger = logging.getLogger("mocha")
INTERRUPTED = 130  # exit status after Ctrl-C, as a shell reports a SIGINT


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
    from mocha.experiment import ExperimentError, load_experiment, run_experiment

    try:
        exp = load_experiment(experiment)
    except MochaError as exc:
        raise fail(str(exc)) from None
    if fresh and (load_from is not None or weights_only):
        raise fail("--fresh starts over: it cannot be combined with --load-from/--weights-only")
    if seed is not None:
        exp.backend["seed"] = seed
    if threads is not None:
        exp.backend["threads"] = threads
    if load_from is not None and not load_from.exists():
        if load_from.suffix in (".h5", ".hdf5"):
            raise fail(f"--load-from {str(load_from)!r}: no such snapshot file")
        typer.echo(
            f"Warning: --load-from {str(load_from)!r} does not exist yet (a run killed "
            f"before its first snapshot?); starting fresh",
            err=True,
        )
    mpi_size = _mpi_size(distributed)
    # on a terminal (or with --json) the bar and its tables replace the plain log; other
    # output printed while it runs (a plugin's) shows above the bar, on stderr
    take_stdout = as_json or sys.stdout.isatty()
    progress = _progress_breaks(not no_progress and mpi_size == 0, take_stdout=take_stdout)
    if progress:
        redirect: Any = contextlib.nullcontext()
    elif as_json:  # stdout carries only the JSON object: the training log goes to stderr
        redirect = contextlib.redirect_stdout(sys.stderr)
    else:
        redirect = contextlib.nullcontext()
    try:
        with redirect, _abort_job_on_exit(mpi_size):
            result = run_experiment(
                exp,
                backend=backend,
                max_iter=max_iter,
                load_from=str(load_from) if load_from else "",
                extra_coffee_breaks=progress,
                distributed=mpi_size > 0,
                weights_only=weights_only,
                allow_foreign_snapshot=allow_foreign_snapshot,
                fresh=fresh,
            )
    except ExperimentError as exc:  # the file is at fault
        raise fail(str(exc)) from None
    except SolverError as exc:  # training failed (e.g. diverged)
        raise fail(f"{experiment}: {exc}", code=1) from None
    except MochaError as exc:  # a snapshot, data file or layer configuration found faulty
        raise fail(f"{experiment}: {exc}") from None
    except MemoryError as exc:
        raise fail(
            f"{experiment}: out of memory while training: {exc or 'MemoryError'}", code=1
        ) from None
    except OSError as exc:  # e.g. the disk filled up while writing a snapshot
        raise fail(f"{experiment}: {type(exc).__name__}: {exc}", code=1) from None
    except KeyboardInterrupt as exc:
        raise fail(
            _aborted_message(experiment, getattr(exc, "snapshot_dir", None)), code=130
        ) from None
    if mpi_size and not _is_root():
        return
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
            max_iter if max_iter is not None else f"{result.max_iter:g}",
        )
    if as_json:
        from mocha.cli._run_info import run_info

        info = result.to_dict()
        info["environment"] = run_info(exp, int(exp.backend.get("seed", 0)))
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
        typer.echo(f"Interrupted at iteration {result.iterations}: {hint}", err=True)
        raise typer.Exit(INTERRUPTED)


def _aborted_message(experiment: Path, snapshot_dir: str | None) -> str:
    """What a second Ctrl-C (abort at once) says: the latest snapshot on disk, if any."""
    from mocha.core.io.snapshot import list_snapshots

    found = list_snapshots(snapshot_dir) if snapshot_dir else []
    if not found:
        return "interrupted twice; stopped at once, without a snapshot"
    return (
        f"interrupted twice; stopped at once; the latest snapshot is {found[-1][1]}; "
        f"resume with:\n  mocha run {experiment} --load-from {snapshot_dir}"
    )


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


@contextlib.contextmanager
def _abort_job_on_exit(mpi_size: int) -> Any:
    """With several MPI ranks, an error on this rank ends the job (`MPI_Abort`), after its
    message is printed, instead of leaving the other ranks waiting for it forever."""
    if mpi_size <= 1:
        yield
        return
    try:
        yield
    except BaseException as exc:
        from mocha.experiment import ExperimentError

        if isinstance(exc, KeyboardInterrupt):
            message, code = "interrupted twice; stopped without a snapshot", 130
        elif isinstance(exc, SolverError):  # training failed (diverged): as in one process
            message, code = str(exc), 1
        elif isinstance(exc, ExperimentError | MochaError):  # a file or setting at fault
            message, code = str(exc), 2
        else:
            import traceback

            traceback.print_exc()
            message, code = f"{type(exc).__name__}: {exc}", 1
        fail(f"[MPI rank {_rank()}] {message}; ending the MPI job", code=code)
        sys.stderr.flush()
        sys.stdout.flush()
        from mocha.distributed import import_mpi

        import_mpi().COMM_WORLD.Abort(code)
        raise


def _rank() -> int:
    from mocha.distributed import rank_and_size

    return rank_and_size()[0]


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("run")(run)
