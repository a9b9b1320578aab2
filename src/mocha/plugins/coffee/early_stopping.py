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
    0). Fields: `statistic`, `patience` (>= 1, default 5), `mode`, `min_delta` (>= 0),
    `restore_best` (default false; Keras' `restore_best_weights`). A snapshot saves the
    count and the best value (`state_dict()`), so a resume continues them; the evaluation of
    the resumed iteration, which the resume repeats, is not counted twice (the best weights
    that `restore_best` keeps are not in the snapshot: after a resume it restores the best
    seen since).

    With `restore_best`, each improvement keeps a host copy of the parameters, and when the
    training ends (stopped early, or at `max_iter`; not after Ctrl-C, which keeps the last
    weights to resume from) the net gets the best ones back: `restored_iteration` says which
    iteration's. `mocha run` restores after writing its final snapshot (a snapshot holds the
    training state, to resume from) and before its final validation, and says which model
    that validation measured.
    """

    defer_restore = False  # set by a runner that calls `restore` itself, after its snapshot

    def __init__(
        self,
        statistic: str = "accuracy",
        patience: int = 5,
        mode: str = "auto",
        min_delta: float = 0.0,
        restore_best: bool = False,
    ) -> None:
        who = "EarlyStopping"
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise SolverError(f"{who}: patience must be an integer >= 1, got {patience!r}")
        if not isinstance(restore_best, bool):
            raise SolverError(f"{who}: restore_best must be true or false, got {restore_best!r}")
        self.best = Best(statistic, mode, min_delta, who)
        self.patience = patience
        self.restore_best = restore_best
        # data parallel: every rank keeps (and restores) its own copy of the best parameters;
        # the statistics it reads are the reduced ones, the same on every rank
        self.all_ranks = restore_best
        self.waited = 0
        self.stopped_at: int | None = None
        self.restored_iteration: int | None = None
        self._best_weights: dict[tuple[str, str], Any] = {}
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
            if self.restore_best:  # a host copy: the device keeps training
                self._best_weights = {
                    (st.layer.name, p.name): p.blob.to_host()  # a copy already
                    for st in net.states
                    for p in st.parameters
                }
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

    def destroy(self, lounge: Any, solver: Any, net: Any) -> None:
        interrupted = solver.stop_requested and not solver.stop_reason
        if not self.defer_restore and not interrupted:
            self.restore(net)

    def restore(self, net: Any) -> int | None:
        """Give `net` the parameters of the best evaluation (with `restore_best`); returns
        that iteration, or None when there is nothing to restore."""
        if not self.restore_best or not self._best_weights:
            return None
        for st in net.states:
            for p in st.parameters:
                saved = self._best_weights.get((st.layer.name, p.name))
                if saved is not None:
                    p.blob.copy_from(saved)
        self.restored_iteration = self.best.iteration
        logger.info(
            "EarlyStopping: restored the parameters of iteration %s (%s = %.6g)",
            self.best.iteration,
            self.best.statistic,
            self.best.value,
        )
        return self.restored_iteration

    def __repr__(self) -> str:
        restore = ", restore_best=True" if self.restore_best else ""
        return (
            f"EarlyStopping({self.best.statistic!r}, patience={self.patience}, "
            f"mode={self.best.mode!r}, min_delta={self.best.min_delta:g}{restore})"
        )


@hookimpl
def mocha_register_coffee(register):
    register(EarlyStopping)
