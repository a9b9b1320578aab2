"""SGD with momentum (semantics §6.3).

For every trainable parameter with local rate lr_p, gradient g (regularizer included) and
history h (zero at start):  h ← μ_prev·h − lr_t·lr_p·g;  W ← W + h;  μ_prev ← μ_t.
The momentum lags one iteration (Mocha's A4): iteration 1 uses the policy's initial value.
"""

from __future__ import annotations

from typing import Any

from mocha.core.hookspecs import hookimpl
from mocha.core.solver import SolverMethod
from mocha.plugins.components.regularizers import scratch
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
        for layer_state in net.trainable_states():
            for param in layer_state.parameters:
                h = self.history_of(solver, state, layer_state.layer.name, param)
                h *= mom_prev
                g = param.gradient.data
                tmp = scratch(net.backend, g)
                if tmp is None:
                    h -= (lr * param.learning_rate) * g
                else:  # the same arithmetic without a temporary
                    net.backend.xp.multiply(g, lr * param.learning_rate, out=tmp)
                    h -= tmp
                param.blob.data += h
        internal["momentum"] = solver.params["mom_policy"].get(state)


@hookimpl
def mocha_register_solvers(register):
    register(SGD)
