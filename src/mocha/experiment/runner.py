"""Running an experiment: backend, nets, solver, training, a final validation pass.

`run_experiment(exp)` is what `mocha run` calls; it is a plain function usable from Python.
Ctrl-C (SIGINT, main thread only) asks the solver to stop after the next iteration; the
run returns a result with `interrupted=True` and where to resume from. A second Ctrl-C
aborts at once. When the file configures a `Snapshot` coffee break, the last iteration is
always saved (after Ctrl-C too), so a run can be resumed or used for prediction.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from mocha.core.coffee import CoffeeBreak, add_coffee_break
from mocha.core.errors import MochaError
from mocha.experiment.base import Experiment, ExperimentError
from mocha.experiment.build import build_nets, build_solver, make_experiment_backend


@dataclass
class RunResult:
    """What a run did: the JSON summary of `mocha run --json`."""

    experiment: str
    backend: str
    threads: int = 0
    iterations: int = 0
    max_iter: float = 0
    objective: float = math.nan
    validation: dict[str, float] = field(default_factory=dict)
    wall_time_s: float = 0.0
    interrupted: bool = False
    snapshot_dir: str | None = None
    snapshot_written: str | None = None
    statistics_file: str | None = None
    #: per-iteration means of solve()'s parts and its own overhead (mocha.core.loop_timing)
    loop_timing: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self.max_iter, float) and math.isinf(self.max_iter):
            out["max_iter"] = None
        for key in ("objective",):
            if not math.isfinite(out[key]):
                out[key] = None
        return out


class GracefulStop(CoffeeBreak):
    """Stops the solver at the first iteration after `request()` whose resume point (RNG
    state and data cursors) was captured, so that a snapshot written then resumes exactly."""

    def __init__(self) -> None:
        self.requested = False

    def request(self, solver: Any) -> None:
        self.requested = True
        solver.capture_every_iter = True  # capture before every forward from now on

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        if not self.requested:
            return
        point = solver.resume_point
        if point is None or point.get("iter") == state.iter:
            solver.request_stop()


class ResumePointAt(CoffeeBreak):
    """Does nothing; scheduled at `every_n_iter=max_iter`, it makes the solver capture the
    resume point before the last forward, so that the final snapshot resumes exactly."""

    needs_resume_point = True

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        pass


@contextmanager
def stop_on_sigint(solver: Any, enabled: bool = True) -> Iterator[None]:
    """While active, the first SIGINT asks the solver to stop cleanly (see `GracefulStop`),
    a second one raises `KeyboardInterrupt`. Does nothing outside the main thread or when not
    `enabled`."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    stopper = GracefulStop()
    add_coffee_break(solver, stopper, every_n_iter=1)

    def handler(signum: int, frame: Any) -> None:
        if stopper.requested:
            raise KeyboardInterrupt
        stopper.request(solver)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def snapshot_breaks(solver: Any) -> list[Any]:
    """The scheduled coffee breaks of `solver` that write snapshots (`ScheduledCoffee` entries
    whose break declares a `snapshot_dir`, see `CoffeeBreak`)."""
    return [s for s in solver.coffee_lounge.coffee_breaks if s.coffee.snapshot_dir is not None]


def snapshot_dir_of(coffee: CoffeeBreak) -> str | None:
    """The folder a coffee break writes snapshots into (None: it writes none)."""
    return None if coffee.snapshot_dir is None else os.fspath(coffee.snapshot_dir)


def validate(test_net: Any) -> dict[str, float]:
    """One epoch of the validation net; its statistics (e.g. `accuracy-accuracy`)."""
    if test_net is None or not test_net.data_layers:
        return {}
    test_net.reset_statistics()
    test_net.forward_epoch()
    return {k: float(v) for k, v in test_net.statistics().items()}


def _build(
    exp: Experiment, be: Any, solver_args: dict[str, Any] | None = None
) -> tuple[Any, Any, Any]:
    """(train net, test net, solver if `solver_args` is given); errors blame the file."""
    train_net = test_net = None
    try:
        train_net, test_net = build_nets(exp, be)
        solver = None if solver_args is None else build_solver(exp, test_net, **solver_args)
        return train_net, test_net, solver
    except BaseException as exc:
        for net in (test_net, train_net):
            if net is not None:
                net.shutdown()
        if isinstance(exc, MochaError) and not isinstance(exc, ExperimentError):
            # topology, shapes, missing data files: the file is at fault
            raise ExperimentError(f"{exp.path.name}: {exc}") from exc
        raise


@contextmanager
def experiment_nets(exp: Experiment, backend: str | None = None) -> Iterator[tuple[Any, Any]]:
    """The experiment's (train net, test net or None) on a fresh backend, torn down after."""
    from mocha.core.backend import shutdown

    be = make_experiment_backend(exp, backend)
    try:
        train_net, test_net, _ = _build(exp, be)
        try:
            yield train_net, test_net
        finally:
            for net in (test_net, train_net):
                if net is not None:
                    net.shutdown()
    finally:
        shutdown(be)


def run_experiment(
    exp: Experiment,
    *,
    backend: str | None = None,
    max_iter: int | None = None,
    load_from: str = "",
    extra_coffee_breaks: Iterable[tuple[Any, int]] = (),
    handle_sigint: bool = True,
    final_validation: bool = True,
    final_snapshot: bool = True,
) -> RunResult:
    """Train the experiment and return a `RunResult`.

    Args:
        exp: a loaded experiment (`load_experiment`).
        backend: a backend name overriding the file's [backend] name.
        max_iter: overrides the solver's `max_iter`.
        load_from: a snapshot file or folder to resume from (overrides `load_from`).
        extra_coffee_breaks: `(coffee, every_n_iter)` pairs added after the file's breaks
            (the command line adds its progress display this way).
        handle_sigint: install the Ctrl-C handler described in the module docstring.
        final_validation: after training, run one epoch of the validation net (if any).
        final_snapshot: when the file has a `Snapshot` break, also save the last iteration
            (after Ctrl-C, or when `max_iter` is not a multiple of its schedule).

    Raises:
        ExperimentError: the backend, nets or solver cannot be built from the file.
        MochaError: training failed (e.g. `SolverError` when the objective diverges).
    """
    from mocha.core.backend import shutdown

    started = time.perf_counter()
    be = make_experiment_backend(exp, backend)
    train_net = test_net = None
    try:
        solver_args = {"max_iter": max_iter, "load_from": load_from}
        train_net, test_net, solver = _build(exp, be, solver_args)
        for coffee, every in extra_coffee_breaks:
            add_coffee_break(solver, coffee, every_n_iter=every)
        result = RunResult(experiment=exp.name, backend=type(be).__name__, threads=be.threads,
                           max_iter=solver.params["max_iter"],
                           statistics_file=solver.coffee_lounge.save_into or None)
        snaps = snapshot_breaks(solver)
        if snaps:
            result.snapshot_dir = snapshot_dir_of(snaps[0].coffee)
            last, every = solver.params["max_iter"], snaps[0].every_n_iter
            if final_snapshot and 0 < last < math.inf and every and last % every:
                add_coffee_break(solver, ResumePointAt(), every_n_iter=int(last))
        from mocha.core.solver import solve

        with stop_on_sigint(solver, handle_sigint):
            state = solve(solver, train_net)
            result.interrupted = solver.stop_requested
            every = snaps[0].every_n_iter if snaps else 0
            if snaps and final_snapshot and not (every and state.iter % every == 0):
                snap = snaps[0].coffee  # the last iteration was not saved by the schedule
                snap.enjoy(solver.coffee_lounge, solver, train_net, state)
                result.snapshot_written = snap.last_path or None
            result.iterations, result.objective = int(state.iter), float(state.obj_val)
            result.loop_timing = state.timing.summary()
            if final_validation:
                result.validation = validate(test_net)
        result.wall_time_s = round(time.perf_counter() - started, 3)
        return result
    finally:
        for net in (test_net, train_net):
            if net is not None:
                net.shutdown()
        shutdown(be)
