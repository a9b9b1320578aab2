"""What SGD and Nesterov share: the parameters lr_policy and mom_policy (defaults
LRPolicy.Fixed(0.01), MomPolicy.Fixed(0)) and the state (the history "h", the current
learning rate and the lagged momentum μ_prev, which starts at the policy's initial value)."""

from __future__ import annotations

from typing import Any

from mocha.core.policies import LRPolicy, MomPolicy
from mocha.core.solver import SolverMethod


class MomentumMethod(SolverMethod):
    """Base of the momentum methods. Parameters: lr_policy, mom_policy."""

    required = ("lr_policy", "mom_policy")

    def defaults(self) -> dict[str, Any]:
        return {"lr_policy": LRPolicy.Fixed(0.01), "mom_policy": MomPolicy.Fixed(0.0)}

    def init_state(self, solver: Any, net: Any) -> dict[str, Any]:
        return {
            "history": {},
            "learning_rate": solver.params["lr_policy"].initial(),
            "momentum": solver.params["mom_policy"].initial(),
        }
