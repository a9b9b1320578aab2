"""Adagrad, Mocha's variant (semantics §6.6, Appendix A21 kept and documented).

For every trainable parameter with gradient g (regularizer included) and accumulator H (zero at
start):

    H ← H + g²
    lr_adj = γ / (ε + sqrt(Σ_all H))          (one **scalar** per parameter blob)
    W ← W − lr_adj·g

This is not the per-element Adagrad of Duchi et al.: the step is scaled by the norm of the
whole accumulated blob. There is no lr policy and no lr multiplier (as in Mocha).
Parameters: gamma=1.0, epsilon=1e-8 (Mocha's test passes `eps`, but `epsilon` is the key).
Internal state: the history "H" (saved in snapshots, unlike Mocha).
"""

from __future__ import annotations

import math
from typing import Any

from mocha.core.errors import SolverError
from mocha.core.hookspecs import hookimpl
from mocha.core.solver import SolverMethod


class Adagrad(SolverMethod):
    """Mocha's Adagrad (scalar step per parameter blob). Parameters: gamma, epsilon."""

    name = "adagrad"
    required = ("gamma", "epsilon")

    def defaults(self) -> dict[str, Any]:
        return {"gamma": 1.0, "epsilon": 1e-8}

    def init_state(self, solver: Any, net: Any) -> dict[str, Any]:
        if float(solver.params["epsilon"]) <= 0:
            raise SolverError(f"Adagrad: epsilon must be > 0, got {solver.params['epsilon']}")
        return {"history": {}}

    def update(self, solver: Any, net: Any, state: Any) -> None:
        gamma, eps = float(solver.params["gamma"]), float(solver.params["epsilon"])
        for layer_state in net.trainable_states():
            for param in layer_state.parameters:
                h = self.history_of(solver, state, layer_state.layer.name, param, "H")
                g = param.gradient.data
                h += g * g
                lr_adj = gamma / (eps + math.sqrt(float(h.sum())))
                param.blob.data -= lr_adj * g


@hookimpl
def mocha_register_solvers(register):
    register(Adagrad)
