"""SGD with momentum (semantics §6.3).

For every trainable parameter with local rate lr_p, gradient g (regularizer included) and
history h (zero at start):  h ← μ_prev·h − lr_t·lr_p·g;  W ← W + h;  μ_prev ← μ_t.
The momentum lags one iteration (Mocha's A4): iteration 1 uses the policy's initial value.
"""

from __future__ import annotations

from typing import Any

from mocha.core.hookspecs import hookimpl
from mocha.core.solver import SolverMethod
from mocha.plugins.solvers._momentum import MomentumMethod

#: kept for plugins written against earlier versions; use `SolverMethod.history_of`
history_of = SolverMethod.history_of


class SGD(MomentumMethod):
    """Stochastic gradient descent with momentum. Parameters: lr_policy, mom_policy."""

    name = "sgd"

    def update(self, solver: Any, net: Any, state: Any) -> None:
        internal = state.internal
        lr = solver.params["lr_policy"].get(state)
        mom_prev = internal["momentum"]
        internal["learning_rate"] = lr
        step = net.backend.kernels.momentum_update  # h ← μ·h − rate·g; W ← W + h
        for layer_state in net.trainable_states():
            for param in layer_state.parameters:
                h = self.history_of(solver, state, layer_state.layer.name, param)
                step(h, param.gradient.data, param.blob.data, mom_prev, lr * param.learning_rate)
        internal["momentum"] = solver.params["mom_policy"].get(state)


@hookimpl
def mocha_register_solvers(register):
    register(SGD)
