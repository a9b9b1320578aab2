"""Resume points: the RNG state and the data cursors captured before a forward, so that a
snapshot written after it resumes bitwise identically (see `mocha.core.snapshot`)."""

from __future__ import annotations

import copy
import logging
from typing import Any

logger = logging.getLogger("mocha")


def _cursor_states(net: Any) -> dict[str, Any]:
    return {s.layer.name: s for s in net.states
            if hasattr(s, "get_cursor") and hasattr(s, "set_cursor")}


def _resume_nets(solver: Any) -> list[Any]:
    nets = []
    for scheduled in solver.coffee_lounge.coffee_breaks:
        get = getattr(scheduled.coffee, "resume_nets", None)
        if get is not None:
            nets.extend(n for n in get() if n is not None and n is not solver.net)
    return nets


def capture_resume_point(solver: Any, net: Any, iteration: int) -> dict[str, Any]:
    """The RNG state and the data cursors now, to be restored before the forward that follows
    (the training net under "train", other nets of the coffee breaks under "others"); deep
    copies, so later forwards cannot change them."""
    return copy.deepcopy({
        "iter": int(iteration),
        "rng": net.backend.rng_state(),
        "cursors": {
            "train": {name: s.get_cursor() for name, s in _cursor_states(net).items()},
            "others": {n.name: {name: s.get_cursor() for name, s in _cursor_states(n).items()}
                       for n in _resume_nets(solver)},
        },
    })


def _apply_cursors(net: Any, cursors: dict[str, Any], where: str) -> None:
    for name, state in _cursor_states(net).items():
        if name in cursors:
            state.set_cursor(cursors[name])
        else:
            logger.warning("%s: no cursor for data layer %r of net %r; it starts over",
                           where, name, net.name)


def apply_resume_point(solver: Any, net: Any, point: dict[str, Any]) -> None:
    """Restore the RNG state and the data cursors of a resume point."""
    where = point.get("source", "resume point")
    net.backend.set_rng_state(point["rng"])
    cursors = point.get("cursors", {})
    _apply_cursors(net, cursors.get("train", {}), where)
    others = cursors.get("others", {})
    for other in _resume_nets(solver):
        if other.name in others:
            _apply_cursors(other, others[other.name], where)
