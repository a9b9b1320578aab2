"""TrainingSummary: log and record the objective and solver statistics (semantics §7.2)."""

from __future__ import annotations

import logging
import math
from typing import Any

from mocha.core.coffee import CoffeeBreak
from mocha.core.hookspecs import hookimpl

logger = logging.getLogger("mocha")


class TrainingSummary(CoffeeBreak):
    """`TrainingSummary("iter", "obj_val", "learning_rate", ...)`.

    "iter" and "obj_val" come from the solver state; other names from the solver's internal
    state (learning_rate, momentum, ...), else from the loss layer of that name (NaN when
    missing). Prints ` TRAIN iter=000100 obj_val=0.12345678 ...` and records every entry but
    "iter" in the coffee lounge.
    """

    def __init__(self, *statistic_names: str, stream: Any = None) -> None:
        self.names = statistic_names or ("iter", "obj_val")
        self.stream = stream
        self.last_line = ""

    def value_of(self, name: str, state: Any) -> float:
        if name == "iter":
            return state.iter
        if name == "obj_val":
            return state.obj_val
        if name in state.internal and not isinstance(state.internal[name], dict):
            return float(state.internal[name])
        return float(state.losses.get(name, math.nan))

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        parts = []
        for name in self.names:
            value = self.value_of(name, state)
            if name == "iter":
                parts.append(f"iter={int(value):06d}")
            else:
                parts.append(f"{name}={value:.8f}")
                lounge.update_statistics(name, value)
        self.last_line = " TRAIN " + " ".join(parts)
        if self.stream is not None:
            print(self.last_line, file=self.stream, flush=True)
        else:
            print(self.last_line, flush=True)
        logger.info(self.last_line)


@hookimpl
def mocha_register_coffee(register):
    register(TrainingSummary)
