"""Nesterov accelerated gradient (semantics §6.4, fixed as Appendix A2 asks).

The Bengio–Boulanger-Lewandowski–Pascanu form (arXiv:1212.0901), with the learning rate and
the momentum recomputed at every iteration and SGD's one-iteration momentum lag (A4). For every
trainable parameter with local rate lr_p, gradient g (regularizer included), history h (zero at
start) and lr_t = lr_policy(t), μ_t = mom_policy(t):

    W ← W − μ_prev·h
    h ← μ_prev·h − lr_t·lr_p·g
    W ← W + (1 + μ_t)·h
    μ_prev ← μ_t

so the net step is W ← W + (1 + μ_t)·h_new − μ_prev·h_old. μ_prev starts as the policy's
initial value (iteration 1 uses base_mom). Parameters and state are SGD's: lr_policy,
mom_policy; internal learning_rate, momentum (= μ_prev) and the history "h".
"""

from __future__ import annotations

from typing import Any

from mocha.core.hookspecs import hookimpl
from mocha.plugins.solvers._momentum import MomentumMethod


class Nesterov(MomentumMethod):
    """Nesterov's accelerated gradient with momentum. Parameters: lr_policy, mom_policy."""

    name = "nesterov"

    def update(self, solver: Any, net: Any, state: Any) -> None:
        internal = state.internal
        lr = solver.params["lr_policy"].get(state)
        mom = solver.params["mom_policy"].get(state)
        mom_prev = internal["momentum"]
        internal["learning_rate"] = lr
        for layer_state in net.trainable_states():
            for param in layer_state.parameters:
                h = self.history_of(solver, state, layer_state.layer.name, param)
                w = param.blob.data
                w -= mom_prev * h
                h *= mom_prev
                h -= (lr * param.learning_rate) * param.gradient.data
                w += (1.0 + mom) * h
        internal["momentum"] = mom


@hookimpl
def mocha_register_solvers(register):
    register(Nesterov)
