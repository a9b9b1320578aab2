"""The built-in learning-rate policies (semantics §6.7), found as `LRPolicy.<Name>`: `Fixed`,
`Step`, `Exp`, `Inv`, `Staged` (registry kind "lr_policies"). `iter` is the solver's iteration
at update time, 1 at the first update."""

from __future__ import annotations

import math
from typing import Any

from mocha.core.hookspecs import hookimpl
from mocha.core.policies import (
    Policy,
    policy_int,
    policy_lr,
    policy_number,
)
from mocha.plugins.components._staged import StagedPolicy


class Fixed(Policy):
    """base_lr at every iteration."""

    def __init__(self, base_lr: float) -> None:
        self.base_lr = policy_lr(base_lr, "LRPolicy.Fixed")

    def get(self, state: Any) -> float:
        return self.base_lr

    def initial(self) -> float:
        return self.base_lr

    def __repr__(self) -> str:
        return f"LRPolicy.Fixed({self.base_lr})"


class Step(Policy):
    """base_lr · gamma^⌊iter/stepsize⌋"""

    def __init__(self, base_lr: float, gamma: float, stepsize: int) -> None:
        self.base_lr = policy_lr(base_lr, "LRPolicy.Step")
        self.gamma = policy_number(gamma, "LRPolicy.Step", "gamma", low=0.0)
        self.stepsize = policy_int(stepsize, "LRPolicy.Step", "stepsize", 1)

    def get(self, state: Any) -> float:
        return self.base_lr * self.gamma ** (int(state.iter) // self.stepsize)

    def initial(self) -> float:
        return self.base_lr

    def __repr__(self) -> str:
        return f"LRPolicy.Step({self.base_lr}, {self.gamma}, {self.stepsize})"


class Exp(Policy):
    """base_lr · gamma^iter"""

    def __init__(self, base_lr: float, gamma: float) -> None:
        self.base_lr = policy_lr(base_lr, "LRPolicy.Exp")
        self.gamma = policy_number(gamma, "LRPolicy.Exp", "gamma", low=0.0)

    def get(self, state: Any) -> float:
        return self.base_lr * self.gamma ** int(state.iter)

    def initial(self) -> float:
        return self.base_lr

    def __repr__(self) -> str:
        return f"LRPolicy.Exp({self.base_lr}, {self.gamma})"


class Inv(Policy):
    """base_lr · (1 + gamma·iter)^(−power)"""

    def __init__(self, base_lr: float, gamma: float, power: float) -> None:
        self.base_lr = policy_lr(base_lr, "LRPolicy.Inv")
        self.gamma = policy_number(gamma, "LRPolicy.Inv", "gamma", low=0.0)
        self.power = policy_number(power, "LRPolicy.Inv", "power")

    def get(self, state: Any) -> float:
        return self.base_lr * math.pow(1.0 + self.gamma * int(state.iter), -self.power)

    def initial(self) -> float:
        return self.base_lr

    def __repr__(self) -> str:
        return f"LRPolicy.Inv({self.base_lr}, {self.gamma}, {self.power})"


class Staged(StagedPolicy):
    """Stages `(n1, P1), (n2, P2), ...` of learning-rate policies (see `StagedPolicy`)."""


@hookimpl
def mocha_register_lr_policies(register: Any) -> None:
    for cls in (Fixed, Step, Exp, Inv, Staged):
        register(cls)
