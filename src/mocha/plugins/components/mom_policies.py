"""The built-in momentum policies (semantics §6.7), found as `MomPolicy.<Name>`: `Fixed`,
`Step`, `Linear`, `Staged` (registry kind "mom_policies")."""

from __future__ import annotations

from typing import Any

from mocha.core.hookspecs import hookimpl
from mocha.core.policies import (
    Policy,
    policy_int,
    policy_mom,
    policy_number,
)
from mocha.plugins.components._staged import StagedPolicy


class Fixed(Policy):
    """base_mom at every iteration."""

    def __init__(self, base_mom: float) -> None:
        self.base_mom = policy_mom(base_mom, "MomPolicy.Fixed")

    def get(self, state: Any) -> float:
        return self.base_mom

    def initial(self) -> float:
        return self.base_mom

    def __repr__(self) -> str:
        return f"MomPolicy.Fixed({self.base_mom})"


class Step(Policy):
    """min(base_mom · gamma^⌊iter/stepsize⌋, max_mom)"""

    def __init__(self, base_mom: float, gamma: float, stepsize: int, max_mom: float) -> None:
        self.base_mom = policy_mom(base_mom, "MomPolicy.Step")
        self.gamma = policy_number(gamma, "MomPolicy.Step", "gamma", low=0.0)
        self.stepsize = policy_int(stepsize, "MomPolicy.Step", "stepsize", 1)
        self.max_mom = policy_mom(max_mom, "MomPolicy.Step", "max_mom")

    def get(self, state: Any) -> float:
        value = self.base_mom * self.gamma ** (int(state.iter) // self.stepsize)
        return min(value, self.max_mom)

    def initial(self) -> float:
        return self.base_mom


class Linear(Policy):
    """min(base_mom + ⌊iter/stepsize⌋·gamma, max_mom)"""

    def __init__(self, base_mom: float, gamma: float, stepsize: int, max_mom: float) -> None:
        self.base_mom = policy_mom(base_mom, "MomPolicy.Linear")
        self.gamma = policy_number(gamma, "MomPolicy.Linear", "gamma")
        self.stepsize = policy_int(stepsize, "MomPolicy.Linear", "stepsize", 1)
        self.max_mom = policy_mom(max_mom, "MomPolicy.Linear", "max_mom")

    def get(self, state: Any) -> float:
        value = self.base_mom + (int(state.iter) // self.stepsize) * self.gamma
        return min(value, self.max_mom)

    def initial(self) -> float:
        return self.base_mom


class Staged(StagedPolicy):
    """Stages `(n1, P1), (n2, P2), ...` of momentum policies (see `StagedPolicy`)."""


@hookimpl
def mocha_register_mom_policies(register: Any) -> None:
    for cls in (Fixed, Step, Linear, Staged):
        register(cls)
