"""KeepBest: keep the snapshot of the best validation result as `best.h5`."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from mocha.core.coffee import CoffeeBreak
from mocha.core.errors import SnapshotError
from mocha.core.hookspecs import hookimpl
from mocha.core.resume import save_snapshot
from mocha.plugins.coffee._watch import Best

logger = logging.getLogger("mocha")


class KeepBest(CoffeeBreak):
    """`add_coffee_break(solver, KeepBest("snapshots", "accuracy"), every_n_iter=1000)`,
    scheduled like (and added after) the `ValidationPerformance` break it watches.

    Whenever `statistic` improves (`mode` and `min_delta` as for `EarlyStopping`: "auto" is
    max for accuracies, min otherwise) it writes a full snapshot of that iteration to
    `dir/best.h5` (atomically; usable as `--model` for prediction, or `--load-from` to resume
    from it) and `dir/best.json` (`{"statistic", "value", "iteration", "mode"}`). The
    snapshots' resume ignores `best.h5` (not a `snapshot-<iteration>.h5`). On a resume the
    best so far is the one the resumed snapshot saved (`state_dict()`), else (a snapshot
    older than that) the one of `best.json`; a fresh start ignores a `best.json` left by an
    earlier run. Fields: `dir`, `statistic`, `mode`,
    `min_delta`, `filename` (default "best.h5").
    """

    needs_resume_point = True  # best.h5 is a full snapshot that resumes exactly

    def __init__(
        self,
        dir: str = "snapshots",
        statistic: str = "accuracy",  # noqa: A002
        mode: str = "auto",
        min_delta: float = 0.0,
        filename: str = "best.h5",
    ) -> None:
        self.dir = os.fspath(dir)
        self.filename = filename
        self.best = Best(statistic, mode, min_delta, "KeepBest")
        self.last_path = ""

    @property
    def path(self) -> str:
        return os.path.join(self.dir, self.filename)

    @property
    def record_path(self) -> str:
        return os.path.splitext(self.path)[0] + ".json"

    def init(self, lounge: Any, solver: Any, net: Any) -> None:
        try:
            os.makedirs(self.dir, exist_ok=True)
        except OSError as exc:
            raise SnapshotError(
                f"KeepBest: cannot create {self.dir!r}: {exc.strerror or exc}"
            ) from None
        if solver.resumed_from is None:
            return  # a fresh start: a best.json left by an earlier run is not this run's
        try:  # a snapshot older than the coffee breaks' state: the best from best.json
            with open(self.record_path, encoding="utf-8") as fh:
                record = json.load(fh)
            if (
                record.get("statistic") == self.best.statistic
                and record.get("mode") == self.best.mode
                and os.path.exists(self.path)
            ):
                self.best.value = float(record["value"])
                self.best.iteration = int(record["iteration"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no record or an unreadable one: start from scratch

    def state_dict(self) -> dict[str, Any]:
        return self.best.state_dict()

    def load_state_dict(self, data: dict[str, Any]) -> None:
        self.best.load_state_dict(data)

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        value = self.best.current(lounge, state.iter)
        if value is None or not self.best.improves(value, state.iter):
            return
        self.last_path = save_snapshot(self.path, solver, net, state)
        record = {
            "statistic": self.best.statistic,
            "value": value,
            "iteration": int(state.iter),
            "mode": self.best.mode,
        }
        tmp = self.record_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(record, fh)
        os.replace(tmp, self.record_path)
        logger.info(
            "KeepBest: %s = %.6g at iteration %d, saved %s",
            self.best.statistic,
            value,
            state.iter,
            self.path,
        )

    def __repr__(self) -> str:
        return f"KeepBest({self.dir!r}, {self.best.statistic!r}, mode={self.best.mode!r})"


@hookimpl
def mocha_register_coffee(register):
    register(KeepBest)
