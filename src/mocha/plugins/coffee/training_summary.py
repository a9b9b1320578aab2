"""TrainingSummary: log and record the objective and solver statistics (semantics §7.2)."""

from __future__ import annotations

import logging
import math
from typing import Any

from mocha.core.coffee import CoffeeBreak
from mocha.core.errors import SolverError
from mocha.core.hookspecs import hookimpl

logger = logging.getLogger("mocha")
# the training log: printed to the stream, and logged here for programs that collect it
# (`mocha run` leaves it out of its own log on stderr, where it would repeat the lines)
training_log = logging.getLogger("mocha.training")


class TrainingSummary(CoffeeBreak):
    """`TrainingSummary("iter", "obj_val", "learning_rate", ...)`.

    "iter" and "obj_val" come from the solver state; other names from the solver's internal
    state (learning_rate, momentum, ...), else from the loss layer of that name; `init`
    refuses a name that is none of these (with the closest known name). Prints
    ` TRAIN iter=000100 obj_val=0.12345678 ...` and records every entry but "iter" in the
    coffee lounge.
    """

    plain_log = True  # prints the training log on `stream` (RichProgress may mute it)

    def __init__(self, *statistic_names: str, stream: Any = None) -> None:
        self.names = statistic_names or ("iter", "obj_val")
        self.stream = stream
        self.last_line = ""

    def known_names(self, solver: Any, net: Any) -> list[str]:
        """The statistics this break can report for `solver` training `net`."""
        internal = getattr(getattr(solver, "state", None), "internal", None) or {}
        names = ["iter", "obj_val"]
        names += [k for k, v in internal.items() if not isinstance(v, dict)]
        names += [s.layer.name for s in getattr(net, "states", []) if s.layer.has_loss]
        return names

    def init(self, lounge: Any, solver: Any, net: Any) -> None:
        known = self.known_names(solver, net)
        for name in self.names:
            if name not in known:
                import difflib

                close = difflib.get_close_matches(str(name), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise SolverError(
                    f"TrainingSummary: no statistic {name!r}{hint}; known: {', '.join(known)} "
                    f"(the solver's values and the loss layers of net {net.name!r})"
                )

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
        training_log.info(self.last_line)


@hookimpl
def mocha_register_coffee(register):
    register(TrainingSummary)
