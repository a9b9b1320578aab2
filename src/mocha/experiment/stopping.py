"""The graceful stop of a run (semantics §6.8): Ctrl-C asks the solver to stop at the first
iteration whose resume point was captured (`GracefulStop`), so the final snapshot resumes
exactly; a second Ctrl-C raises `KeyboardInterrupt`. `ResumePointAt` makes the solver capture
the point before a given iteration's forward (the last one), for a final snapshot off the
schedule."""

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

    def __init__(self) -> None:
        self.requested = False

    def request(self, solver: Solver) -> None:
        self.requested = True
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


@contextmanager
def stop_on_sigint(solver: Solver, enabled: bool = True) -> Iterator[None]:
    """While active, the first SIGINT asks the solver to stop cleanly (see `GracefulStop`),
    a second one raises `KeyboardInterrupt` (unless the solver has stopped already and the
    last snapshot is being written, which is then not torn). Does nothing outside the main
    thread or when not `enabled`."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    stopper = GracefulStop()
    add_coffee_break(solver, stopper, every_n_iter=1)

    def handler(signum: int, frame: Any) -> None:
        if stopper.requested and solver.stop_requested:
            logger.warning("stopping already: writing the last snapshot")  # do not tear it
            return
        if stopper.requested:
            raise KeyboardInterrupt
        logger.warning("Ctrl-C: stopping after this iteration (press again to abort at once)")
        stopper.request(solver)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
