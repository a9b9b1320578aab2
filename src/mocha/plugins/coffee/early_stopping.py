"""EarlyStopping: stop training when a validation statistic stops improving."""

from __future__ import annotations

import logging
from typing import Any

from mocha.core.coffee import CoffeeBreak
from mocha.core.errors import SolverError
from mocha.core.hookspecs import hookimpl
from mocha.plugins.coffee._watch import Best

logger = logging.getLogger("mocha")


class EarlyStopping(CoffeeBreak):
    """`add_coffee_break(solver, EarlyStopping("accuracy", patience=3), every_n_iter=1000)`,
    scheduled like (and added after) the `ValidationPerformance` break whose statistic it
    watches.

    At each break where the lounge holds `statistic` for the current iteration it compares the
    value with the best so far: better means larger for `mode = "max"`, smaller for `"min"`
    (`"auto"`: max for names ending in "accuracy", else min) by more than `min_delta`. After
    `patience` evaluations in a row without improvement it asks the solver to stop (the run
    ends normally, with `solver.stop_reason` saying why; `mocha run` reports it, exit status
    0). Fields: `statistic`, `patience` (>= 1, default 5), `mode`, `min_delta` (>= 0).
    A snapshot saves the count and the best value (`state_dict()`), so a resume continues
    them; the evaluation of the resumed iteration, which the resume repeats, is not counted
    twice.
    """

    def __init__(
        self,
        statistic: str = "accuracy",
        patience: int = 5,
        mode: str = "auto",
        min_delta: float = 0.0,
    ) -> None:
        who = "EarlyStopping"
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise SolverError(f"{who}: patience must be an integer >= 1, got {patience!r}")
        self.best = Best(statistic, mode, min_delta, who)
        self.patience = patience
        self.waited = 0
        self.stopped_at: int | None = None
        self.seen: int | None = None  # the iteration of the last evaluation counted

    def state_dict(self) -> dict[str, Any]:
        return {"waited": self.waited, "seen": self.seen, "best": self.best.state_dict()}

    def load_state_dict(self, data: dict[str, Any]) -> None:
        self.waited, self.seen = int(data.get("waited", 0)), data.get("seen")
        self.best.load_state_dict(data.get("best", {}))

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        value = self.best.current(lounge, state.iter)
        if value is None or self.seen == state.iter:
            return
        self.seen = int(state.iter)
        if self.best.improves(value, state.iter):
            self.waited = 0
            return
        self.waited += 1
        if self.waited >= self.patience:
            self.stopped_at = int(state.iter)
            reason = (
                f"EarlyStopping: {self.best.statistic} has not improved on "
                f"{self.best.value:.6g} (iteration {self.best.iteration}) for "
                f"{self.waited} evaluations; stopping at iteration {state.iter}"
            )
            logger.warning("%s", reason)
            solver.stop_reason = reason
            solver.request_stop()

    def __repr__(self) -> str:
        return (
            f"EarlyStopping({self.best.statistic!r}, patience={self.patience}, "
            f"mode={self.best.mode!r}, min_delta={self.best.min_delta:g})"
        )


@hookimpl
def mocha_register_coffee(register):
    register(EarlyStopping)
