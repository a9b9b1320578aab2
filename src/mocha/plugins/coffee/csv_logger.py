"""CSVLogger: every lounge statistic as a CSV table, one row per iteration."""

from __future__ import annotations

import csv
import math
import os
from typing import Any

from mocha.core.coffee import CoffeeBreak
from mocha.core.errors import MochaError
from mocha.core.hookspecs import hookimpl


class CSVLogger(CoffeeBreak):
    """`add_coffee_break(solver, CSVLogger("statistics.csv"), every_n_iter=100)`.

    At each break (and when training ends) it rewrites `filename` (atomically) with a header
    `iteration,<statistic>,...` (names sorted) and one row per iteration at which any
    statistic was recorded; a statistic not recorded at an iteration leaves its cell empty,
    non-finite values are written as `nan`/`inf`. It holds every statistic the lounge holds
    (`obj_val`, `learning_rate`, ... and the validation ones such as `accuracy`), so it
    follows what the other breaks record: schedule it as often as the most frequent of them.
    Fields: `filename` (default "statistics.csv"; relative paths are against the experiment
    file's folder).
    """

    def __init__(self, filename: str = "statistics.csv") -> None:
        self.filename = os.fspath(filename)

    def init(self, lounge: Any, solver: Any, net: Any) -> None:
        folder = os.path.dirname(os.path.abspath(self.filename))
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise MochaError(
                f"CSVLogger: cannot create the folder of {self.filename!r}: {exc.strerror or exc}"
            ) from None

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        self.write(lounge.statistics)

    def destroy(self, lounge: Any, solver: Any, net: Any) -> None:
        self.write(lounge.statistics)

    def write(self, statistics: dict[str, dict[int, float]]) -> None:
        names = sorted(statistics)
        iterations = sorted({i for series in statistics.values() for i in series})
        tmp = self.filename + ".tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(["iteration", *names])
            for i in iterations:
                out.writerow([i, *(_cell(statistics[n].get(i)) for n in names)])
        os.replace(tmp, self.filename)

    def __repr__(self) -> str:
        return f"CSVLogger({self.filename!r})"


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    value = float(value)
    return repr(value) if math.isfinite(value) else str(value)


@hookimpl
def mocha_register_coffee(register):
    register(CSVLogger)
