"""The graceful stop of a run (semantics §6.8): Ctrl-C (SIGINT) or SIGTERM (what `kill`,
systemd, Docker, Kubernetes and SLURM send first) asks the solver to stop at the first
iteration whose resume point was captured (`GracefulStop`), so the final snapshot resumes
exactly; a second signal raises `KeyboardInterrupt` (with the signal's number as `signum`).
`ResumePointAt` makes the solver capture the point before a given iteration's forward (the
last one), for a final snapshot off the schedule."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mocha.core.coffee import CoffeeBreak, add_coffee_break
from mocha.core.solver import Solver

logger = logging.getLogger("mocha")


class GracefulStop(CoffeeBreak):
    """Stops the solver at the first iteration after `request()` whose resume point (RNG
    state and data cursors) was captured, so that a snapshot written then resumes exactly."""

    all_ranks = True  # data parallel: whichever rank got the signal, all agree to stop

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None  # the signal that asked for the stop

    def request(self, solver: Solver, signum: int | None = None) -> None:
        self.requested, self.signum = True, signum
        solver.capture_every_iter = True  # capture before every forward from now on

    def enjoy(self, lounge: Any, solver: Solver, net: Any, state: Any) -> None:
        if not self.requested:
            return
        point = solver.resume_point
        if point is None or point.get("iter") == state.iter:
            solver.request_stop()


class ResumePointAt(CoffeeBreak):
    """Does nothing; scheduled at `every_n_iter=max_iter`, it makes the solver capture the
    resume point before the last forward, so that the final snapshot resumes exactly."""

    needs_resume_point = True

    def enjoy(self, lounge: Any, solver: Solver, net: Any, state: Any) -> None:
        pass


STOP_SIGNALS = ("SIGINT", "SIGTERM")


@contextmanager
def stop_on_signals(solver: Solver, enabled: bool = True) -> Iterator[GracefulStop | None]:
    """While active, the first SIGINT or SIGTERM asks the solver to stop cleanly (see
    `GracefulStop`, which it yields: its `signum` says which signal came), a second one
    raises `KeyboardInterrupt` (unless the solver has stopped already and the last snapshot
    is being written, which is then not torn). Does nothing (yields None) outside the main
    thread or when not `enabled`."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield None
        return
    stopper = GracefulStop()
    add_coffee_break(solver, stopper, every_n_iter=1)

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if stopper.requested and solver.stop_requested:
            logger.warning("%s: stopping already, writing the last snapshot", name)
            return  # do not tear it
        if stopper.requested:
            exc = KeyboardInterrupt()
            exc.signum = signum  # type: ignore[attr-defined]
            raise exc
        what = "Ctrl-C" if signum == signal.SIGINT else name
        logger.warning("%s: stopping after this iteration (again to abort at once)", what)
        stopper.request(solver, signum)

    numbers = [getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)]
    previous = {number: signal.signal(number, handler) for number in numbers}
    try:
        yield stopper
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
