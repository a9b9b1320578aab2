"""`LRPolicy.DecayOnValidation`: a learning-rate policy that listens to a validation coffee
break and, when the validation statistic gets worse, rewinds the solver to the last good
snapshot and decays the rate (semantics §6.7). A stateful controller rather than a formula: it
drives the solver's rewind (`mocha.core.resume.rewind`) and renames the abandoned snapshots,
so it lives beside the coffee breaks; it is registered as the learning-rate policy
"DecayOnValidation" (registry kind "lr_policies")."""

from __future__ import annotations

import logging
import os
from typing import Any

from mocha.core.errors import SolverError
from mocha.core.hookspecs import hookimpl
from mocha.core.io.snapshot import SnapshotFolder
from mocha.core.policies import Policy, policy_check, policy_lr, policy_number

logger = logging.getLogger("mocha")


class DecayOnValidation(Policy):
    """Start at `base_lr`; after each validation, if the statistic `key` (e.g.
    `"test-accuracy"`) is worse than at the last good validation, rewind to the latest
    snapshot taken at or before that good validation and scale the rate: `lr ← γ·lr`.

    "Worse" is strictly lower when `higher_better` (the default, as in Mocha's code; its
    manual says the opposite), strictly higher otherwise. Nothing happens once
    `lr < min_lr`. Wire it with `setup(policy, validation_performance, solver)` (or
    `policy.setup(...)`); snapshots are looked for in `snapshot_dir`, else in the folder of
    the solver's Snapshot coffee break, else in `load_from`. The snapshots past the one
    rewound to belong to the abandoned trajectory and are renamed
    `snapshot-<iter>.abandoned.h5`. Differences from Mocha: the reference value is the
    last good validation (Mocha compares the two newest records, which after a rewind can
    be a stale bad one), the snapshot is chosen by iteration (not mtime), and the whole
    solver state (momentum included) is restored.
    """

    def __init__(
        self,
        base_lr: float,
        key: str,
        gamma: float = 0.5,
        min_lr: float = 1e-8,
        higher_better: bool = True,
    ) -> None:
        where = "LRPolicy.DecayOnValidation"
        policy_check(
            0 < policy_number(gamma, where, "gamma") <= 1,
            where,
            f"gamma must be in (0, 1], got {gamma}",
        )
        policy_check(
            isinstance(key, str) and key != "", where, f"key must name a statistic, got {key!r}"
        )
        self.base_lr, self.key, self.gamma = policy_lr(base_lr, where), str(key), float(gamma)
        self.min_lr = policy_number(min_lr, where, "min_lr", low=0.0)
        self.higher_better = bool(higher_better)
        self.curr_lr = self.base_lr
        self.best: tuple[int, float] | None = None  # (iteration, value) last good
        self.n_decays = 0
        self.snapshot_dir: str | None = None
        self._adopted = False

    def get(self, state: Any) -> float:
        if not self._adopted:  # Mocha: align with a loaded snapshot's learning rate
            self._adopted = True
            internal = getattr(state, "internal", {}) or {}
            lr = internal.get("learning_rate", 0.0)
            if isinstance(lr, int | float) and lr > 0:
                self.curr_lr = float(lr)
        return self.curr_lr

    def initial(self) -> float:
        return self.curr_lr

    def state_dict(self) -> dict[str, Any]:
        return {
            "curr_lr": self.curr_lr,
            "n_decays": self.n_decays,
            "best": None if self.best is None else [self.best[0], self.best[1]],
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        if "curr_lr" in data:
            self.curr_lr = float(data["curr_lr"])
            self._adopted = True
        self.n_decays = int(data.get("n_decays", self.n_decays))
        best = data.get("best")
        self.best = None if best is None else (int(best[0]), float(best[1]))

    def is_worse(self, value: float, reference: float) -> bool:
        return value < reference if self.higher_better else value > reference

    def setup(self, validation_coffee: Any, solver: Any, snapshot_dir: str | None = None) -> None:
        """Listen to `validation_coffee` (a ValidationPerformance) of `solver`."""
        if not hasattr(validation_coffee, "register"):
            raise TypeError(
                f"DecayOnValidation.setup: {validation_coffee!r} has no "
                f"register(listener) method (use a ValidationPerformance)"
            )
        self.snapshot_dir = snapshot_dir
        validation_coffee.register(
            lambda lounge, net, state: self.on_validation(solver, lounge, state)
        )

    def find_snapshot_dir(self, solver: Any) -> str | None:
        if self.snapshot_dir:
            return self.snapshot_dir
        for scheduled in solver.coffee_lounge.coffee_breaks:
            directory = getattr(scheduled.coffee, "snapshot_dir", None)
            if directory:
                return str(directory)
        load_from = str(solver.params.get("load_from", ""))
        return load_from if load_from and os.path.isdir(load_from) else None

    def on_validation(self, solver: Any, lounge: Any, state: Any) -> None:
        """The listener: compare, and on a worse value decay and request a rewind."""
        if self.curr_lr < self.min_lr:
            return
        series = lounge.statistics.get(self.key, {})
        if state.iter not in series:
            raise SolverError(
                f"LRPolicy.DecayOnValidation: the validation recorded no statistic "
                f"{self.key!r} at iteration {state.iter}; recorded: {sorted(lounge.statistics)}"
            )
        value = series[state.iter]
        if self.best is None or not self.is_worse(value, self.best[1]):
            self.best = (int(state.iter), float(value))
            return
        new_lr = self.curr_lr * self.gamma
        directory = self.find_snapshot_dir(solver)

        path = SnapshotFolder(directory).latest(self.best[0]) if directory else None
        logger.info(
            "DecayOnValidation: %s=%g at iteration %d is worse than %g at %d; "
            "learning rate %g -> %g; rewinding to %s",
            self.key,
            value,
            state.iter,
            self.best[1],
            self.best[0],
            self.curr_lr,
            new_lr,
            path,
        )
        if path is None:
            logger.warning(
                "DecayOnValidation: no snapshot at or before iteration %d "
                "(snapshot folder %r); only the rate is decayed",
                self.best[0],
                directory,
            )
            self.curr_lr, self.n_decays = new_lr, self.n_decays + 1
            return
        kept = self.state_dict()

        def on_loaded(loaded_state: Any) -> None:
            self.load_state_dict(kept)
            self.curr_lr, self.n_decays = new_lr, self.n_decays + 1
            loaded_state.internal["learning_rate"] = new_lr
            SnapshotFolder(directory).abandon_after(loaded_state.iter)

        solver.request_rewind(path, on_loaded)

    def __repr__(self) -> str:
        return (
            f"LRPolicy.DecayOnValidation({self.base_lr}, {self.key!r}, {self.gamma}, "
            f"{self.min_lr}, higher_better={self.higher_better})"
        )


@hookimpl
def mocha_register_lr_policies(register: Any) -> None:
    register(DecayOnValidation)
