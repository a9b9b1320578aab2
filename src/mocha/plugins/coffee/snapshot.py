"""Snapshot(dir): save the model and the full solver state (semantics §7.2, conventions)."""

from __future__ import annotations

import logging
import os
from typing import Any

from mocha.core.coffee import CoffeeBreak
from mocha.core.hookspecs import hookimpl
from mocha.core.parallel import parallel_of
from mocha.core.snapshot import save_snapshot, snapshot_filename

logger = logging.getLogger("mocha")


class Snapshot(CoffeeBreak):
    """`add_coffee_break(solver, Snapshot(dir), every_n_iter=5000)`.

    `init` creates `dir`; `enjoy` writes `dir/snapshot-%06d.h5` of the current iteration
    (`snapshot-000000.h5` is the initial model) atomically, overwriting an existing file of
    the same iteration with a warning (that happens on a resume). Point the solver's
    `load_from` at `dir` to resume from the latest snapshot; see `mocha.core.snapshot` for
    the file layout and why the resume is exact. Scheduled with `every_n_epoch`, the solver
    captures the resume point (RNG state, data cursors) before every forward, since any
    iteration may end an epoch; with `every_n_iter` only before the due ones. In data-parallel
    training only rank 0 writes (every rank holds the same state).
    """

    needs_resume_point = True  # the solver captures RNG and cursors before the forward

    def __init__(self, dir: str) -> None:  # noqa: A002 - Mocha's name
        self.snapshot_dir = os.fspath(dir)
        self.last_path = ""

    def init(self, lounge: Any, solver: Any, net: Any) -> None:
        os.makedirs(self.snapshot_dir, exist_ok=True)

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        if not parallel_of(net.backend).is_root:
            return
        path = os.path.join(self.snapshot_dir, snapshot_filename(state.iter))
        if os.path.exists(path):
            logger.warning("Snapshot: overwriting %s", path)
        self.last_path = save_snapshot(path, solver, net, state)
        logger.info("Snapshot: saved %s", path)

    def __repr__(self) -> str:
        return f"Snapshot({self.snapshot_dir!r})"


@hookimpl
def mocha_register_coffee(register):
    register(Snapshot)
