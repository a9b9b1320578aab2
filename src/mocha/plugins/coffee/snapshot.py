"""Snapshot(dir): save the model and the full solver state (semantics §7.2, conventions)."""

from __future__ import annotations

import logging
import os
from typing import Any

from mocha.core.coffee import CoffeeBreak
from mocha.core.errors import SnapshotError
from mocha.core.hookspecs import hookimpl
from mocha.core.parallel import parallel_of
from mocha.core.resume import save_snapshot
from mocha.plugins.coffee._snapshot_folder import OwnedSnapshotFolder

logger = logging.getLogger("mocha")


class Snapshot(CoffeeBreak):
    """`add_coffee_break(solver, Snapshot(dir), every_n_iter=5000)`.

    `init` creates `dir`; `enjoy` writes `dir/snapshot-%06d.h5` of the current iteration
    (`snapshot-000000.h5` is the initial model) atomically, overwriting an existing file of
    the same iteration with a warning (that happens on a resume). Point the solver's
    `load_from` at `dir` to resume from the latest snapshot; see `mocha.core.io.snapshot` for
    the file layout and why the resume is exact. Scheduled with `every_n_epoch`, the solver
    captures the resume point (RNG state, data cursors) before every forward, since any
    iteration may end an epoch; with `every_n_iter` only before the due ones. In data-parallel
    training only rank 0 writes (every rank holds the same state) and holds the lock.

    The folder (its naming, lock, listing, pruning and moving aside) is `snapshot_folder`, an
    `OwnedSnapshotFolder` (see `_snapshot_folder`).
    From `init` to `destroy` the folder is locked (`dir/.mocha.lock`): a
    second run given the same folder stops at once with a `SnapshotError`. `init` also
    deletes the temporary files that writes killed mid-way left in the folder.

    `keep_last = K` (> 0) keeps only the K newest `snapshot-<iteration>.h5` files: after each
    save the older ones are deleted (the one just written always stays; `best.h5` and other
    files are never touched). 0 (the default) keeps every snapshot.
    """

    needs_resume_point = True  # the solver captures RNG and cursors before the forward

    def __init__(self, dir: str, keep_last: int = 0) -> None:  # noqa: A002 - Mocha's name
        if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0:
            raise SnapshotError(
                f"Snapshot: keep_last must be an integer >= 0 (0 keeps every "
                f"snapshot), got {keep_last!r}"
            )
        self.keep_last = keep_last
        self.snapshot_dir = os.fspath(dir)
        self.snapshot_folder = OwnedSnapshotFolder(self.snapshot_dir)
        self.last_path = ""
        self._lock = self.snapshot_folder.lock()
        self._resumed: tuple[int, str] | None = None

    def init(self, lounge: Any, solver: Any, net: Any) -> None:
        self._resumed = resumed_snapshot(solver)
        if not parallel_of(net.backend).is_root:
            return  # data parallel: rank 0 alone writes, so it alone holds the folder
        self.snapshot_folder.prepare(self._lock)

    def destroy(self, lounge: Any, solver: Any, net: Any) -> None:
        self._lock.release()

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        if not parallel_of(net.backend).is_root:
            return
        path = self.snapshot_folder.path_of(state.iter)
        if self._resumed and _same_file(path, self._resumed[1]) and state.iter == self._resumed[0]:
            # the breaks of the resumed iteration (and a run with nothing to train) leave the
            # snapshot the solver just loaded as it is (issue 28)
            logger.info("Snapshot: %s is the snapshot resumed from; left as it is", path)
            self.last_path = path
            return
        if os.path.exists(path):
            logger.warning("Snapshot: overwriting %s", path)
        outside = not self._lock.held  # e.g. the runner's final snapshot, after destroy
        if outside:
            self._lock.acquire()
        try:
            self.last_path = save_snapshot(path, solver, net, state)
        finally:
            if outside:
                self._lock.release()
        logger.info("Snapshot: saved %s", path)
        if self.keep_last:
            self.snapshot_folder.prune(self.keep_last, path)

    def __repr__(self) -> str:
        keep = f", keep_last={self.keep_last}" if self.keep_last else ""
        return f"Snapshot({self.snapshot_dir!r}{keep})"


def resumed_snapshot(solver: Any) -> tuple[int, str] | None:
    """`(iteration, file)` of the snapshot the solver resumed from (None: it starts at 0)."""
    if solver.resumed_from is None or solver.state is None:
        return None
    return int(solver.state.iter), solver.resumed_from


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@hookimpl
def mocha_register_coffee(register):
    register(Snapshot)
