"""Adam (Kingma & Ba, semantics §6.5), the correct rule (Appendix A1 fixed).

For every trainable parameter with gradient g (regularizer included) and moments m, v (zero at
start), with the step counter t (1 at the first update) and α = lr_policy(iter):

    m ← β1·m + (1 − β1)·g
    v ← β2·v + (1 − β2)·g²
    α_t = α·sqrt(1 − β2^t) / (1 − β1^t)        (bias correction folded into the step, §2)
    W ← W − α_t·m / (sqrt(v) + ε)

Mocha's code never decays v (`v += β2(1−β2)g²`); this port does not reproduce that bug.

Per-parameter learning-rate multipliers (`weight_lr`, `bias_lr`) are **ignored by default**,
as Mocha's manual states ("the Adam solver sets effective learning rates for each parameter
individually"). Set the solver parameter `use_lr_multipliers=True` to scale α_t by them (as
Caffe's Adam does). Defaults: lr_policy=LRPolicy.Inv(0.003, 1e-4, 0.5), beta1=0.9,
beta2=0.999, epsilon=1e-8. Internal state: learning_rate, t, and the histories "m" and "v".
"""

from __future__ import annotations

import math
from typing import Any

from mocha.core.errors import SolverError
from mocha.core.hookspecs import hookimpl
from mocha.core.policies import LRPolicy
from mocha.core.solver import SolverMethod


class Adam(SolverMethod):
    """Adam. Parameters: lr_policy, beta1, beta2, epsilon, use_lr_multipliers."""

    name = "adam"
    history_slots = 2
    required = ("lr_policy", "beta1", "beta2", "epsilon")

    def defaults(self) -> dict[str, Any]:
        return {
            "lr_policy": LRPolicy.Inv(0.003, 0.0001, 0.5),
            "beta1": 0.9,
            "beta2": 0.999,
            "epsilon": 1e-8,
            "use_lr_multipliers": False,
        }

    def init_state(self, solver: Any, net: Any) -> dict[str, Any]:
        p = solver.params
        for key in ("beta1", "beta2"):
            if not 0.0 <= float(p[key]) < 1.0:
                raise SolverError(f"Adam: {key} must be in [0, 1), got {p[key]}")
        if float(p["epsilon"]) <= 0:
            raise SolverError(f"Adam: epsilon must be > 0, got {p['epsilon']}")
        return {"history": {}, "t": 0, "learning_rate": p["lr_policy"].initial()}

    def update(self, solver: Any, net: Any, state: Any) -> None:
        p = solver.params
        internal = state.internal
        beta1, beta2, eps = float(p["beta1"]), float(p["beta2"]), float(p["epsilon"])
        use_mult = bool(p.get("use_lr_multipliers", False))
        internal["t"] = t = int(internal["t"]) + 1
        alpha = p["lr_policy"].get(state)
        internal["learning_rate"] = alpha
        alpha_t = alpha * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        xp = net.backend.xp
        for layer_state in net.trainable_states():
            for param in layer_state.parameters:
                name = layer_state.layer.name
                m = self.history_of(solver, state, name, param, "m")
                v = self.history_of(solver, state, name, param, "v")
                g = param.gradient.data
                m *= beta1
                m += (1.0 - beta1) * g
                v *= beta2
                v += (1.0 - beta2) * (g * g)
                step = alpha_t * param.learning_rate if use_mult else alpha_t
                param.blob.data -= step * m / (xp.sqrt(v) + eps)


@hookimpl
def mocha_register_solvers(register):
    register(Adam)
