"""Learning-rate and momentum policies (semantics §6.7). Notes: docs/core.md."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

from mocha.core.coffee import Resumable
from mocha.core.components import RegistryNamespace

if TYPE_CHECKING:
    from mocha.core.solver import Solver


class Policy(Resumable):
    """Base class of learning-rate and momentum policies: `get(state)` the value at
    `state.iter`, `initial()` the value before any update; `state_dict()` the run-time
    state a snapshot saves (empty for pure formulas)."""

    def get(self, state: Any) -> float:
        raise NotImplementedError

    def initial(self) -> float:
        raise NotImplementedError


def policy_check(cond: bool, policy: str, message: str) -> None:
    """Raise `ValueError("<policy>: <message>")` unless `cond`."""
    if not cond:
        raise ValueError(f"{policy}: {message}")


def policy_number(
    value: Any,
    policy: str,
    name: str,
    low: float | None = None,
    high: float | None = None,
    high_open: bool = False,
) -> float:
    """`value` as a float after checking it is a finite number (not a string, not a bool)
    within [low, high] (or [low, high) when `high_open`)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
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


LRPolicy = RegistryNamespace("lr_policies", "LRPolicy")
"""Learning-rate policies: `LRPolicy.Inv(0.01, 0.0001, 0.75)` (registry kind "lr_policies")."""
MomPolicy = RegistryNamespace("mom_policies", "MomPolicy")
"""Momentum policies: `MomPolicy.Fixed(0.9)` (registry kind "mom_policies")."""


def setup(
    policy: Any, validation_coffee: Any, solver: Solver, snapshot_dir: str | None = None
) -> None:
    """Mocha's `setup(policy, validation_coffee, solver)`: wire a DecayOnValidation policy to
    a ValidationPerformance coffee break."""
    if not hasattr(policy, "setup"):
        raise TypeError(f"setup: {policy!r} is not a policy that listens to validations")
    policy.setup(validation_coffee, solver, snapshot_dir)
