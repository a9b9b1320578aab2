"""Learning-rate and momentum policies (semantics §6.7).

`get(state)` is evaluated with `state.iter`, the solver's iteration at update time: **1 at the
first update** (Mocha's convention, Appendix A5; Caffe uses 0). `initial()` is the no-state
value the solver puts in its initial state (what TrainingSummary shows at iteration 0). A policy
with run-time state (DecayOnValidation, Staged's sub-policies) saves it through
`state_dict()`/`load_state_dict()`, which snapshots store as JSON.
"""

from __future__ import annotations

import bisect
import logging
import math
import numbers
import os
from typing import Any

from mocha.core.errors import SolverError

logger = logging.getLogger("mocha")


class Policy:
    def get(self, state: Any) -> float:
        raise NotImplementedError

    def initial(self) -> float:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """JSON-serializable run-time state (saved in snapshots); empty for pure formulas."""
        return {}

    def load_state_dict(self, data: dict[str, Any]) -> None:
        pass


def _check(cond: bool, policy: str, message: str) -> None:
    if not cond:
        raise ValueError(f"{policy}: {message}")


def _num(value: Any, policy: str, name: str, low: float | None = None,
         high: float | None = None, high_open: bool = False) -> float:
    """`value` as a float after checking it is a finite number (not a string, not a bool)
    within [low, high] (or [low, high) when `high_open`)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(
            value):
        raise ValueError(f"{policy}: {name} must be a finite number, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{policy}: {name} must be >= {low}, got {value}")
    if high is not None and (value >= high if high_open else value > high):
        bound = f"< {high}" if high_open else f"<= {high}"
        raise ValueError(f"{policy}: {name} must be {bound}, got {value}")
    return float(value)


def _int(value: Any, policy: str, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{policy}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _lr(value: Any, policy: str) -> float:
    return _num(value, policy, "base_lr", low=0.0)


def _mom(value: Any, policy: str, name: str = "base_mom") -> float:
    return _num(value, policy, name, low=0.0, high=1.0, high_open=True)


class _Staged(Policy):
    """Stages `(n1, P1), (n2, P2), ...` with cumulative boundaries `B_k = n1 + ... + nk`.

    At iteration `iter` the active stage is the first k with `iter < B_k` (the last stage lasts
    forever), and its policy is evaluated with the **global** iteration, not the iteration
    relative to the stage start: with `(60000, Fixed(1e-3)), (5000, Fixed(1e-4)), (1, ...)`,
    iterations 1–59999 use 1e-3 and 60000–64999 use 1e-4. The stage is recomputed from `iter`
    on every call, which equals Mocha's "advance while iter >= B_curr" for increasing
    iterations and also stays right after a resume or a DecayOnValidation rewind.
    `initial()` is the current stage's initial value (the first stage's before any call).
    """

    def __init__(self, *stages: tuple[int, Policy]) -> None:
        _check(len(stages) > 0, "Staged", "needs at least one (n_iter, policy) stage")
        for item in stages:
            _check(isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Policy),
                   "Staged", f"each stage must be (n_iter, policy), got {item!r}")
            _int(item[0], "Staged", "a stage's length (n_iter)", 0)
        self.stages = [(int(n), p) for n, p in stages]
        bounds, total = [], 0
        for n, _ in self.stages:
            total += n
            bounds.append(total)
        self.bounds = bounds
        self.curr_stage = 0

    def stage_at(self, it: int) -> int:
        """Index of the active stage at iteration `it`."""
        return min(bisect.bisect_right(self.bounds, it), len(self.stages) - 1)

    def get(self, state: Any) -> float:
        self.curr_stage = self.stage_at(int(state.iter))
        return self.stages[self.curr_stage][1].get(state)

    def initial(self) -> float:
        return self.stages[self.curr_stage][1].initial()

    def state_dict(self) -> dict[str, Any]:
        return {"stages": [p.state_dict() for _, p in self.stages]}

    def load_state_dict(self, data: dict[str, Any]) -> None:
        subs = data.get("stages", [])
        for (_, policy), sub in zip(self.stages, subs):
            policy.load_state_dict(sub)

    def __repr__(self) -> str:
        return f"Staged({', '.join(f'({n}, {p!r})' for n, p in self.stages)})"


class LRPolicy:
    """Namespace of learning-rate policies: `LRPolicy.Inv(0.01, 0.0001, 0.75)`."""

    class Fixed(Policy):
        def __init__(self, base_lr: float) -> None:
            self.base_lr = _lr(base_lr, "LRPolicy.Fixed")

        def get(self, state: Any) -> float:
            return self.base_lr

        def initial(self) -> float:
            return self.base_lr

        def __repr__(self) -> str:
            return f"LRPolicy.Fixed({self.base_lr})"

    class Step(Policy):
        """base_lr · gamma^⌊iter/stepsize⌋"""

        def __init__(self, base_lr: float, gamma: float, stepsize: int) -> None:
            self.base_lr = _lr(base_lr, "LRPolicy.Step")
            self.gamma = _num(gamma, "LRPolicy.Step", "gamma", low=0.0)
            self.stepsize = _int(stepsize, "LRPolicy.Step", "stepsize", 1)

        def get(self, state: Any) -> float:
            return self.base_lr * self.gamma ** (int(state.iter) // self.stepsize)

        def initial(self) -> float:
            return self.base_lr

        def __repr__(self) -> str:
            return f"LRPolicy.Step({self.base_lr}, {self.gamma}, {self.stepsize})"

    class Exp(Policy):
        """base_lr · gamma^iter"""

        def __init__(self, base_lr: float, gamma: float) -> None:
            self.base_lr = _lr(base_lr, "LRPolicy.Exp")
            self.gamma = _num(gamma, "LRPolicy.Exp", "gamma", low=0.0)

        def get(self, state: Any) -> float:
            return self.base_lr * self.gamma ** int(state.iter)

        def initial(self) -> float:
            return self.base_lr

        def __repr__(self) -> str:
            return f"LRPolicy.Exp({self.base_lr}, {self.gamma})"

    class Inv(Policy):
        """base_lr · (1 + gamma·iter)^(−power)"""

        def __init__(self, base_lr: float, gamma: float, power: float) -> None:
            self.base_lr = _lr(base_lr, "LRPolicy.Inv")
            self.gamma = _num(gamma, "LRPolicy.Inv", "gamma", low=0.0)
            self.power = _num(power, "LRPolicy.Inv", "power")

        def get(self, state: Any) -> float:
            return self.base_lr * math.pow(1.0 + self.gamma * int(state.iter), -self.power)

        def initial(self) -> float:
            return self.base_lr

        def __repr__(self) -> str:
            return f"LRPolicy.Inv({self.base_lr}, {self.gamma}, {self.power})"

    class Staged(_Staged):
        pass

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

        def __init__(self, base_lr: float, key: str, gamma: float = 0.5, min_lr: float = 1e-8,
                     higher_better: bool = True) -> None:
            where = "LRPolicy.DecayOnValidation"
            _check(0 < _num(gamma, where, "gamma") <= 1, where,
                   f"gamma must be in (0, 1], got {gamma}")
            _check(isinstance(key, str) and key != "", where,
                   f"key must name a statistic, got {key!r}")
            self.base_lr, self.key, self.gamma = _lr(base_lr, where), str(key), float(gamma)
            self.min_lr = _num(min_lr, where, "min_lr", low=0.0)
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
            return {"curr_lr": self.curr_lr, "n_decays": self.n_decays,
                    "best": None if self.best is None else [self.best[0], self.best[1]]}

        def load_state_dict(self, data: dict[str, Any]) -> None:
            if "curr_lr" in data:
                self.curr_lr = float(data["curr_lr"])
                self._adopted = True
            self.n_decays = int(data.get("n_decays", self.n_decays))
            best = data.get("best")
            self.best = None if best is None else (int(best[0]), float(best[1]))

        def is_worse(self, value: float, reference: float) -> bool:
            return value < reference if self.higher_better else value > reference

        def setup(self, validation_coffee: Any, solver: Any,
                  snapshot_dir: str | None = None) -> None:
            """Listen to `validation_coffee` (a ValidationPerformance) of `solver`."""
            if not hasattr(validation_coffee, "register"):
                raise TypeError(f"DecayOnValidation.setup: {validation_coffee!r} has no "
                                f"register(listener) method (use a ValidationPerformance)")
            self.snapshot_dir = snapshot_dir
            validation_coffee.register(
                lambda lounge, net, state: self.on_validation(solver, lounge, state))

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
            from mocha.core.io.snapshot import abandon_snapshots_after, latest_snapshot

            path = latest_snapshot(directory, self.best[0]) if directory else None
            logger.info("DecayOnValidation: %s=%g at iteration %d is worse than %g at %d; "
                        "learning rate %g -> %g; rewinding to %s", self.key, value, state.iter,
                        self.best[1], self.best[0], self.curr_lr, new_lr, path)
            if path is None:
                logger.warning("DecayOnValidation: no snapshot at or before iteration %d "
                               "(snapshot folder %r); only the rate is decayed",
                               self.best[0], directory)
                self.curr_lr, self.n_decays = new_lr, self.n_decays + 1
                return
            kept = self.state_dict()

            def on_loaded(loaded_state: Any) -> None:
                self.load_state_dict(kept)
                self.curr_lr, self.n_decays = new_lr, self.n_decays + 1
                loaded_state.internal["learning_rate"] = new_lr
                abandon_snapshots_after(directory, loaded_state.iter)

            solver.request_rewind(path, on_loaded)

        def __repr__(self) -> str:
            return (f"LRPolicy.DecayOnValidation({self.base_lr}, {self.key!r}, {self.gamma}, "
                    f"{self.min_lr}, higher_better={self.higher_better})")


def setup(policy: Any, validation_coffee: Any, solver: Any, snapshot_dir: str | None = None
          ) -> None:
    """Mocha's `setup(policy, validation_coffee, solver)`: wire a DecayOnValidation policy to
    a ValidationPerformance coffee break."""
    if not hasattr(policy, "setup"):
        raise TypeError(f"setup: {policy!r} is not a policy that listens to validations")
    policy.setup(validation_coffee, solver, snapshot_dir)


class MomPolicy:
    """Namespace of momentum policies: `MomPolicy.Fixed(0.9)`."""

    class Fixed(Policy):
        def __init__(self, base_mom: float) -> None:
            self.base_mom = _mom(base_mom, "MomPolicy.Fixed")

        def get(self, state: Any) -> float:
            return self.base_mom

        def initial(self) -> float:
            return self.base_mom

        def __repr__(self) -> str:
            return f"MomPolicy.Fixed({self.base_mom})"

    class Step(Policy):
        """min(base_mom · gamma^⌊iter/stepsize⌋, max_mom)"""

        def __init__(self, base_mom: float, gamma: float, stepsize: int, max_mom: float) -> None:
            self.base_mom = _mom(base_mom, "MomPolicy.Step")
            self.gamma = _num(gamma, "MomPolicy.Step", "gamma", low=0.0)
            self.stepsize = _int(stepsize, "MomPolicy.Step", "stepsize", 1)
            self.max_mom = _mom(max_mom, "MomPolicy.Step", "max_mom")

        def get(self, state: Any) -> float:
            value = self.base_mom * self.gamma ** (int(state.iter) // self.stepsize)
            return min(value, self.max_mom)

        def initial(self) -> float:
            return self.base_mom

    class Linear(Policy):
        """min(base_mom + ⌊iter/stepsize⌋·gamma, max_mom)"""

        def __init__(self, base_mom: float, gamma: float, stepsize: int, max_mom: float) -> None:
            self.base_mom = _mom(base_mom, "MomPolicy.Linear")
            self.gamma = _num(gamma, "MomPolicy.Linear", "gamma")
            self.stepsize = _int(stepsize, "MomPolicy.Linear", "stepsize", 1)
            self.max_mom = _mom(max_mom, "MomPolicy.Linear", "max_mom")

        def get(self, state: Any) -> float:
            value = self.base_mom + (int(state.iter) // self.stepsize) * self.gamma
            return min(value, self.max_mom)

        def initial(self) -> float:
            return self.base_mom

    class Staged(_Staged):
        pass
