"""TensorBoardLogger: every lounge statistic as a TensorBoard scalar (the `tensorboard` extra,
tensorboardX)."""

from __future__ import annotations

import math
import os
from typing import Any

from mocha.core.coffee import CoffeeBreak
from mocha.core.extras import require
from mocha.core.hookspecs import hookimpl


class TensorBoardLogger(CoffeeBreak):
    """`add_coffee_break(solver, TensorBoardLogger("runs/tb"), every_n_iter=100)`; then
    `tensorboard --logdir runs/tb`.

    At each break it adds every lounge statistic recorded since the previous break as a
    scalar (tag = the statistic's name, step = the iteration), and flushes; `destroy` adds
    the rest and closes the writer. Needs tensorboardX (`pip install "mocha-dl[tensorboard]"`;
    without it, `init` says so). Fields: `logdir` (default "tensorboard"; relative paths are
    against the experiment file's folder).
    """

    def __init__(self, logdir: str = "tensorboard") -> None:
        self.logdir = os.fspath(logdir)
        self.writer: Any = None
        self.done: dict[str, int] = {}  # statistic -> last iteration written

    def init(self, lounge: Any, solver: Any, net: Any) -> None:
        tbx = require("tensorboard", "the TensorBoardLogger coffee break")
        self.writer = tbx.SummaryWriter(logdir=self.logdir)

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        self._add(lounge.statistics)
        self.writer.flush()

    def destroy(self, lounge: Any, solver: Any, net: Any) -> None:
        if self.writer is not None:
            self._add(lounge.statistics)
            self.writer.close()
            self.writer = None

    def _add(self, statistics: dict[str, dict[int, float]]) -> None:
        for name, series in statistics.items():
            last = self.done.get(name, -1)
            for iteration in sorted(i for i in series if i > last):
                value = float(series[iteration])
                if math.isfinite(value):
                    self.writer.add_scalar(name, value, global_step=int(iteration))
                self.done[name] = iteration

    def __repr__(self) -> str:
        return f"TensorBoardLogger({self.logdir!r})"


@hookimpl
def mocha_register_coffee(register):
    register(TensorBoardLogger)
