"""SGD with momentum (semantics §6.3).

For every trainable parameter with local rate lr_p, gradient g (regularizer included) and
history h (zero at start):  h ← μ_prev·h − lr_t·lr_p·g;  W ← W + h;  μ_prev ← μ_t.
The momentum lags one iteration (Mocha's A4): iteration 1 uses the policy's initial value.
"""

from __future__ import annotations

from typing import Any

from mocha.core.hookspecs import hookimpl
from mocha.core.policies import LRPolicy, MomPolicy
from mocha.core.solver import SolverMethod, param_id
from mocha.plugins.components.regularizers import scratch


def history_of(solver: Any, state: Any, layer_name: str, param: Any, key: str = "h") -> Any:
    """The per-parameter history array `key`, created as zeros on first use."""
    hist = state.internal["history"]
    name = f"{param_id(layer_name, param.name)}/{key}"
    arr = hist.get(name)
    if arr is None:
        arr = solver.net.backend.xp.zeros(param.blob.shape, dtype=param.blob.dtype)
        hist[name] = arr
    return arr


class SGD(SolverMethod):
    """Stochastic gradient descent with momentum. Parameters: lr_policy, mom_policy."""

    name = "sgd"
    required = ("lr_policy", "mom_policy")

    def defaults(self) -> dict[str, Any]:
        return {"lr_policy": LRPolicy.Fixed(0.01), "mom_policy": MomPolicy.Fixed(0.0)}

    def init_state(self, solver: Any, net: Any) -> dict[str, Any]:
        return {
            "history": {},
            "learning_rate": solver.params["lr_policy"].initial(),
            "momentum": solver.params["mom_policy"].initial(),
        }

    def update(self, solver: Any, net: Any, state: Any) -> None:
        internal = state.internal
        lr = solver.params["lr_policy"].get(state)
        mom_prev = internal["momentum"]
        internal["learning_rate"] = lr
        for layer_state in net.trainable_states():
            for param in layer_state.parameters:
                h = history_of(solver, state, layer_state.layer.name, param)
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
