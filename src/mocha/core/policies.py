"""Learning-rate and momentum policies (semantics §6.7): the contract and the namespaces.

`get(state)` is evaluated with `state.iter`, the solver's iteration at update time: **1 at the
first update** (Mocha's convention, Appendix A5; Caffe uses 0). `initial()` is the no-state
value the solver puts in its initial state (what TrainingSummary shows at iteration 0). A policy
with run-time state (DecayOnValidation, Staged's sub-policies) saves it through
`state_dict()`/`load_state_dict()`, which snapshots store as JSON.

The policies themselves are plugins, registered like neurons: `LRPolicy.<Name>` looks `<Name>`
up in the registry kind "lr_policies" (hook `mocha_register_lr_policies`; the built-ins are
in `mocha.plugins.components.lr_policies`, `DecayOnValidation` in
`mocha.plugins.coffee.decay_on_validation`), `MomPolicy.<Name>` in "mom_policies"
(`mocha_register_mom_policies`, `mocha.plugins.components.mom_policies`). Experiment files
name them by the same names (`lr_policy = {type = "Inv", ...}`).
"""

from __future__ import annotations

import bisect
import math
import numbers
from typing import TYPE_CHECKING, Any

from mocha.core.components import RegistryNamespace

if TYPE_CHECKING:
    from mocha.core.solver import Solver


class Policy:
    """Base class of learning-rate and momentum policies: `get(state)` the value at
    `state.iter`, `initial()` the value before any update."""

    def get(self, state: Any) -> float:
        raise NotImplementedError

    def initial(self) -> float:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """JSON-serializable run-time state (saved in snapshots); empty for pure formulas."""
        return {}

    def load_state_dict(self, data: dict[str, Any]) -> None:
        pass


def policy_check(cond: bool, policy: str, message: str) -> None:
    """Raise `ValueError("<policy>: <message>")` unless `cond`."""
    if not cond:
        raise ValueError(f"{policy}: {message}")


def policy_number(value: Any, policy: str, name: str, low: float | None = None,
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


def policy_int(value: Any, policy: str, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{policy}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def policy_lr(value: Any, policy: str) -> float:
    return policy_number(value, policy, "base_lr", low=0.0)


def policy_mom(value: Any, policy: str, name: str = "base_mom") -> float:
    return policy_number(value, policy, name, low=0.0, high=1.0, high_open=True)


class StagedPolicy(Policy):
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
        policy_check(len(stages) > 0, "Staged", "needs at least one (n_iter, policy) stage")
        for item in stages:
            policy_check(isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Policy),
                   "Staged", f"each stage must be (n_iter, policy), got {item!r}")
            policy_int(item[0], "Staged", "a stage's length (n_iter)", 0)
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


LRPolicy = RegistryNamespace("lr_policies", "LRPolicy")
"""Learning-rate policies: `LRPolicy.Inv(0.01, 0.0001, 0.75)` (registry kind "lr_policies")."""
MomPolicy = RegistryNamespace("mom_policies", "MomPolicy")
"""Momentum policies: `MomPolicy.Fixed(0.9)` (registry kind "mom_policies")."""


def setup(policy: Any, validation_coffee: Any, solver: Solver, snapshot_dir: str | None = None
          ) -> None:
    """Mocha's `setup(policy, validation_coffee, solver)`: wire a DecayOnValidation policy to
    a ValidationPerformance coffee break."""
    if not hasattr(policy, "setup"):
        raise TypeError(f"setup: {policy!r} is not a policy that listens to validations")
    policy.setup(validation_coffee, solver, snapshot_dir)
