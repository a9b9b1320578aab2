"""How `mocha run` ends: one mapping from what stopped a run to its message and exit status,
used in one process and on every MPI rank (where the rank then ends the job).

Exit status: 2 the experiment file, a data file, a snapshot or a plugin is at fault (also when
found only while training: a layer configuration, a shape, a snapshot folder in use by another
run, a path it names that is a folder, missing or not writable); 1 training failed
(`SolverError`: a diverging objective) or the system did (out of memory, disk full); 130
Ctrl-C twice, 143 SIGTERM twice (abort at once).
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from mocha.cli.app import fail
from mocha.core.errors import MochaError, SolverError
from mocha.core.io.snapshot import SnapshotFolder

# an OSError that says a path the file names is wrong (a folder where a file should be, no
# permission, a read-only place): the file is at fault (exit 2), not the system (exit 1)
PATH_ERRORS = {
    errno.EISDIR,
    errno.ENOTDIR,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOENT,
    errno.EEXIST,
    errno.ENAMETOOLONG,
}
INTERRUPTED = 130  # exit status after Ctrl-C, as a shell reports a SIGINT


def interrupted_status(signal_name: str | None) -> int:
    """128 + the signal's number, as a shell reports it: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + int(signal.Signals[signal_name]) if signal_name else INTERRUPTED


def exit_status(exc: BaseException, experiment: Path) -> tuple[str, int] | None:
    """(message, exit status) for an exception that ends `mocha run`; None: not ours (a
    bug: let the traceback show)."""
    from mocha.experiment.base import ExperimentError

    if isinstance(exc, KeyboardInterrupt):  # a second Ctrl-C or SIGTERM: stopped at once
        signum = getattr(exc, "signum", None)
        code = 128 + signum if signum else INTERRUPTED
        return _aborted_message(experiment, getattr(exc, "snapshot_dir", None)), code
    if isinstance(exc, ExperimentError):  # the file is at fault (its message names it)
        return str(exc), 2
    if isinstance(exc, SolverError):  # training failed (e.g. diverged)
        return f"{experiment}: {exc}", 1
    if isinstance(exc, MochaError):  # the file, a snapshot, data file or layer at fault
        return f"{experiment}: {exc}", 2
    if isinstance(exc, MemoryError):
        return f"{experiment}: out of memory while training: {exc or 'MemoryError'}", 1
    if isinstance(exc, OSError):  # the disk filled up (1), or a path of the file is wrong (2)
        detail = f"{type(exc).__name__}: {exc}"
        if exc.errno and exc.strerror:
            detail = exc.strerror + (f": {exc.filename}" if exc.filename else "")
        return f"{experiment}: {detail}", 2 if exc.errno in PATH_ERRORS else 1
    return None


@contextlib.contextmanager
def run_exits(experiment: Path, mpi_size: int) -> Iterator[None]:
    """Turn what ends a run into its message and exit status (`exit_status`); with several
    MPI ranks, end the whole job (`MPI_Abort`) after the message, instead of leaving the
    other ranks waiting for this one forever."""
    try:
        yield
    except BaseException as exc:
        if isinstance(exc, SystemExit) or type(exc).__name__ == "Exit":
            raise
        found = exit_status(exc, experiment)
        if mpi_size <= 1:
            if found is None:
                raise
            raise fail(*found) from None
        if found is None:
            import traceback

            traceback.print_exc()
        message, code = found or (f"{type(exc).__name__}: {exc}", 1)
        fail(f"[MPI rank {_rank()}] {message}; ending the MPI job", code=code)
        sys.stderr.flush()
        sys.stdout.flush()
        from mocha.distributed import import_mpi

        import_mpi().COMM_WORLD.Abort(code)
        raise


def _aborted_message(experiment: Path, snapshot_dir: str | None) -> str:
    """What a second Ctrl-C (abort at once) says: the latest snapshot on disk, if any."""
    latest = SnapshotFolder(snapshot_dir).latest() if snapshot_dir else None
    if latest is None:
        return "interrupted twice; stopped at once, without a snapshot"
    return (
        f"interrupted twice; stopped at once; the latest snapshot is {latest}; "
        f"resume with:\n  mocha run {experiment} --load-from {snapshot_dir}"
    )


def _rank() -> int:
    from mocha.distributed import rank_and_size

    return rank_and_size()[0]
