"""Adadelta (Zeiler 2012; semantics §6.6).

For every trainable parameter with gradient g (regularizer included) and running averages
E_g, E_Δ (zero at start):

    E_g ← ρ·E_g + (1 − ρ)·g²
    Δ   = sqrt(E_Δ + ε) / sqrt(E_g + ε) · g
    E_Δ ← ρ·E_Δ + (1 − ρ)·Δ²
    W   ← W − Δ

No lr policy and no lr multipliers (as in Mocha). Parameters: rho=0.95, eps=1e-6.
Internal state: the histories "Eg" and "Edelta" (saved in snapshots, unlike Mocha).
"""

from __future__ import annotations

from typing import Any

from mocha.core.errors import SolverError
from mocha.core.hookspecs import hookimpl
from mocha.core.solver import SolverMethod


class Adadelta(SolverMethod):
    """Adadelta. Parameters: rho, eps."""

    name = "adadelta"
    history_slots = 2
    required = ("rho", "eps")

    def defaults(self) -> dict[str, Any]:
        return {"rho": 0.95, "eps": 1e-6}

    def init_state(self, solver: Any, net: Any) -> dict[str, Any]:
        if not 0.0 <= float(solver.params["rho"]) < 1.0:
            raise SolverError(f"Adadelta: rho must be in [0, 1), got {solver.params['rho']}")
        if float(solver.params["eps"]) <= 0:
            raise SolverError(f"Adadelta: eps must be > 0, got {solver.params['eps']}")
        return {"history": {}}

    def update(self, solver: Any, net: Any, state: Any) -> None:
        rho, eps = float(solver.params["rho"]), float(solver.params["eps"])
        xp = net.backend.xp
        for layer_state in net.trainable_states():
            for param in layer_state.parameters:
                name = layer_state.layer.name
                eg = self.history_of(solver, state, name, param, "Eg")
                ed = self.history_of(solver, state, name, param, "Edelta")
                g = param.gradient.data
                eg *= rho
                eg += (1.0 - rho) * (g * g)
                delta = xp.sqrt(ed + eps) / xp.sqrt(eg + eps) * g
                ed *= rho
                ed += (1.0 - rho) * (delta * delta)
                param.blob.data -= delta


@hookimpl
def mocha_register_solvers(register):
    register(Adadelta)
