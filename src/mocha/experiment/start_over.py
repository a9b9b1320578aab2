"""Where a run starts: `--fresh` (move the previous run's snapshots aside) and `StartWatch`
(which iteration a run started at, and from which snapshot it resumed)."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from mocha.core.coffee import CoffeeBreak
from mocha.core.io.snapshot import list_snapshots

logger = logging.getLogger("mocha")


class StartWatch(CoffeeBreak):
    """Records, when the lounge is set up (after `load_from` was loaded), the iteration the
    solve starts at and the snapshot it resumed from (None when it starts at 0)."""

    def __init__(self) -> None:
        self.start_iteration = 0
        self.resumed_from: str | None = None

    def init(self, lounge: Any, solver: Any, net: Any) -> None:
        state = getattr(solver, "state", None)
        self.start_iteration = int(getattr(state, "iter", 0) or 0)
        load_from = str(solver.params.get("load_from", "") or "")
        if self.start_iteration and load_from:
            self.resumed_from = load_from
            if os.path.isdir(load_from):
                found = dict(list_snapshots(load_from))
                self.resumed_from = found.get(self.start_iteration, load_from)

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        pass


def move_aside(folders: list[str], statistics_file: str | None) -> str | None:
    """Move the snapshots (`snapshot-*.h5`) of `folders` and the statistics file into a new
    subfolder `previous-<UTC time>/` of the first folder (nothing is deleted; the folders must
    be locked by the caller). Returns that subfolder, or None when there was nothing."""
    files = [path for folder in folders for _, path in list_snapshots(folder)]
    if statistics_file and os.path.isfile(statistics_file):
        files.append(statistics_file)
    if not files:
        return None
    base = folders[0] if folders else os.path.dirname(statistics_file or ".")
    target = os.path.join(base, "previous-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime()))
    n = 1
    while os.path.exists(target + (f"-{n}" if n > 1 else "")):
        n += 1
    target += f"-{n}" if n > 1 else ""
    os.makedirs(target)
    for path in files:
        name = os.path.basename(path)
        if os.path.exists(os.path.join(target, name)):  # same name from two folders
            name = f"{os.path.basename(os.path.dirname(path))}-{name}"
        os.replace(path, os.path.join(target, name))
    logger.warning("--fresh: moved the previous run's %d file(s) to %s", len(files), target)
    return target
