"""Shared by the coffee breaks that watch a validation statistic (EarlyStopping, KeepBest):
which direction is better, and the statistic's value at the current iteration."""

from __future__ import annotations

import math
from typing import Any

from mocha.core.errors import SolverError

MODES = ("auto", "max", "min")


def resolve_mode(statistic: str, mode: str, who: str) -> str:
    """ "max" or "min"; "auto" is "max" for accuracies, else "min" (losses, errors)."""
    if mode not in MODES:
        raise SolverError(f"{who}: mode = {mode!r}; use one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    return "max" if statistic.endswith("accuracy") else "min"


class Best:
    """The best value seen so far of one statistic, better by more than `min_delta`."""

    def __init__(self, statistic: str, mode: str, min_delta: float, who: str) -> None:
        if not isinstance(statistic, str) or not statistic:
            raise SolverError(f"{who}: statistic must name a lounge statistic, e.g. 'accuracy'")
        if isinstance(min_delta, bool) or not isinstance(min_delta, int | float) or min_delta < 0:
            raise SolverError(f"{who}: min_delta must be a number >= 0, got {min_delta!r}")
        self.statistic, self.who = statistic, who
        self.mode = resolve_mode(statistic, mode, who)
        self.min_delta = float(min_delta)
        self.value: float | None = None
        self.iteration: int | None = None

    def current(self, lounge: Any, iteration: int) -> float | None:
        """The statistic at `iteration` (None when it was not recorded then, e.g. the break
        runs more often than the validation). An unknown statistic, once the lounge holds
        others at this iteration, is an error naming the known ones."""
        series = lounge.statistics.get(self.statistic)
        if series is None or iteration not in series:
            if series is None and any(iteration in s for s in lounge.statistics.values()):
                known = sorted(k for k, s in lounge.statistics.items() if iteration in s)
                raise SolverError(
                    f"{self.who}: no statistic {self.statistic!r} at iteration "
                    f"{iteration}; recorded then: {', '.join(known)} (schedule "
                    f"it with, or after, the ValidationPerformance break)"
                )
            return None
        return float(series[iteration])

    def improves(self, value: float, iteration: int) -> bool:
        """Record `value` if it beats the best; True when it did."""
        if not math.isfinite(value):
            return False
        better = self.value is None or (
            value > self.value + self.min_delta
            if self.mode == "max"
            else value < self.value - self.min_delta
        )
        if better:
            self.value, self.iteration = value, iteration
        return better

    def state_dict(self) -> dict[str, Any]:
        """The best so far, for a snapshot (see `mocha.core.coffee.Resumable`)."""
        return {} if self.value is None else {"value": self.value, "iteration": self.iteration}

    def load_state_dict(self, data: dict[str, Any]) -> None:
        if "value" in data:
            self.value, self.iteration = float(data["value"]), int(data["iteration"])
