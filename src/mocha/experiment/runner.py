"""Running an experiment: backend, nets, solver, training, a final validation pass.

`run_experiment(exp)` is what `mocha run` calls; it is a plain function usable from Python.
Ctrl-C (SIGINT, main thread only) asks the solver to stop after the next iteration; the
run returns a result with `interrupted=True` and where to resume from. A second Ctrl-C
aborts at once. When the file configures a `Snapshot` coffee break, the last iteration is
always saved (after Ctrl-C too), so a run can be resumed or used for prediction.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from mocha.core.coffee import CoffeeBreak, add_coffee_break
from mocha.core.errors import MochaError
from mocha.core.parallel import parallel_of
from mocha.core.resume import ResumePointAt, stop_on_sigint
from mocha.experiment.base import Experiment, ExperimentError
from mocha.experiment.build import build_nets, build_solver, make_experiment_backend
from mocha.experiment.finetune import apply_init
from mocha.experiment.start_over import StartWatch, move_aside

logger = logging.getLogger("mocha")


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
    start_iteration: int = 0  # the resumed snapshot's iteration (0: a fresh start)
    resumed_from: str | None = None
    moved_aside: str | None = None  # fresh=True: where the previous run's files went
    stopped_early: str | None = None  # why a coffee break (EarlyStopping) ended the run
    #: the iteration whose parameters were validated at the end: the last one trained, or the
    #: best one an EarlyStopping(restore_best=true) restored (`model` says which)
    model_iteration: int = 0
    model: str = "last"  # "last" or "best (restored by EarlyStopping)"
    warnings: list[str] = field(default_factory=list)
    #: per-iteration means of solve()'s parts and its own overhead (mocha.core.loop_timing)
    loop_timing: dict[str, Any] = field(default_factory=dict)
    #: the backend's thread count and why (`threads=` given, or the setting that decided the
    #: default), with what the default's adaptive mode chose (`Backend.thread_info()`)
    thread_choice: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self.max_iter, float) and math.isinf(self.max_iter):
            out["max_iter"] = None
        for key in ("objective",):
            if not math.isfinite(out[key]):
                out[key] = None
        return out


class ObjectiveWatch(CoffeeBreak):
    """Warns once (log and `RunResult.warnings`) when the objective has stayed above
    `factor` times its starting value for `patience` iterations in a row: a run that is
    diverging without reaching NaN (e.g. Adam with a huge learning rate) should not end
    quietly. A starting objective <= 0 disables the check."""

    def __init__(self, factor: float = 10.0, patience: int = 50) -> None:
        self.factor, self.patience = factor, patience
        self.start: float | None = None
        self.since: int | None = None
        self.message = ""

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        obj = float(state.obj_val)
        if self.start is None:
            self.start = obj if math.isfinite(obj) else None
            return
        if self.message or self.start <= 0:
            return
        if obj > self.factor * self.start:
            self.since = state.iter if self.since is None else self.since
            if state.iter - self.since + 1 >= self.patience:
                self.message = (
                    f"the objective has stayed above {self.factor:g}x its starting value "
                    f"{self.start:.6g} for {state.iter - self.since + 1} iterations (since "
                    f"iteration {self.since}; now {obj:.6g}): the training is probably "
                    f"diverging; lower the learning rate"
                )
                logger.warning("%s: %s", net.name, self.message)
        else:
            self.since = None


def snapshot_breaks(solver: Any) -> list[Any]:
    """The scheduled coffee breaks of `solver` that write snapshots (`ScheduledCoffee` entries
    whose break declares a `snapshot_dir`, see `CoffeeBreak`)."""
    return [s for s in solver.coffee_lounge.coffee_breaks if s.coffee.snapshot_dir is not None]


@contextmanager
def lock_snapshot_folders(snaps: list[Any]) -> Iterator[None]:
    """Hold the folder lock of every `Snapshot` break from before the solve (so a second run
    stops before it touches the folder or the statistics file) until after the final
    snapshot; the breaks take the same lock again (it is shared within a process)."""
    locks = [s.coffee.folder_lock() for s in snaps if hasattr(s.coffee, "folder_lock")]
    taken = []
    try:
        for lock in locks:
            lock.acquire()
            taken.append(lock)
        yield
    finally:
        for lock in reversed(taken):
            lock.release()


def snapshot_dir_of(coffee: CoffeeBreak) -> str | None:
    """The folder a coffee break writes snapshots into (None: it writes none)."""
    return None if coffee.snapshot_dir is None else os.fspath(coffee.snapshot_dir)


def validate(test_net: Any) -> dict[str, float]:
    """One epoch of the validation net; its statistics (e.g. `accuracy`)."""
    if test_net is None or not test_net.data_layers:
        return {}
    with test_net.evaluating():  # no dropout masks, however the net was built
        test_net.reset_statistics()
        test_net.forward_epoch()
        parallel_of(test_net.backend).reduce_statistics(test_net)  # data parallel: all ranks
    return {k: float(v) for k, v in test_net.statistics().items()}


def _build(
    exp: Experiment, be: Any, solver_args: dict[str, Any] | None = None
) -> tuple[Any, Any, Any]:
    """(train net, test net, solver if `solver_args` is given); errors blame the file."""
    train_net = test_net = None
    try:
        train_net, test_net = build_nets(exp, be)
        apply_init(exp.init, train_net)  # [init]: start layers from a model, freeze some
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


def _refuse_placeholders(exp: Experiment) -> None:
    """A converted model's data layers read stand-in zeros: training on them is nonsense."""
    stand_ins = [e.layer for e in exp.layers if e.placeholder and e.phase in ("train", "both")]
    if stand_ins:
        names = ", ".join(f"{type(x).__name__}({x.name!r})" for x in stand_ins)
        raise ExperimentError(
            f"{exp.path.name}: {names} reads placeholder zeros written by `mocha convert` "
            f"(placeholder = true), not training data. Point its `source` at real data (an "
            f".h5/.npz file or an HDF5 list file with the input and label arrays; add the "
            f"label top and a loss layer) and delete the `placeholder = true` line."
        )


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
    distributed: bool = False,
    weights_only: bool = False,
    allow_foreign_snapshot: bool = False,
    fresh: bool = False,
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
        distributed: train data-parallel over MPI (`mocha.distributed.enable`; run every
            rank under `mpirun`).
        weights_only: load only the parameters from `load_from` and start at iteration 0.
        allow_foreign_snapshot: resume a snapshot written by another experiment.
        fresh: start over at iteration 0: no `load_from`, and the snapshots and statistics
            file already in the snapshot folder are moved into a `previous-<time>/`
            subfolder of it (under the folder lock; nothing is deleted).

    Raises:
        ExperimentError: the backend, nets or solver cannot be built from the file.
        MochaError: training failed (e.g. `SolverError` when the objective diverges).
    """
    from mocha.core.backend import shutdown

    _refuse_placeholders(exp)
    started = time.perf_counter()
    be = make_experiment_backend(exp, backend)
    train_net = test_net = None
    try:
        if distributed:
            from mocha.distributed import enable

            enable(be)
        solver_args = {
            "max_iter": max_iter,
            "load_from": load_from,
            "weights_only": weights_only,
            "allow_foreign_snapshot": allow_foreign_snapshot,
        }
        train_net, test_net, solver = _build(exp, be, solver_args)
        watch = add_coffee_break(solver, ObjectiveWatch(), every_n_iter=1)
        start = add_coffee_break(solver, StartWatch(), every_n_iter=0)
        if fresh:
            solver.params["load_from"] = ""
        for coffee, every in extra_coffee_breaks:
            add_coffee_break(solver, coffee, every_n_iter=every)
        restorers = [  # EarlyStopping(restore_best): restored after the final snapshot
            s.coffee
            for s in solver.coffee_lounge.coffee_breaks
            if getattr(s.coffee, "restore_best", False) and callable(s.coffee.restore)
        ]
        for coffee in restorers:
            coffee.defer_restore = True
        result = RunResult(
            experiment=exp.name,
            backend=type(be).__name__,
            threads=be.threads,
            max_iter=solver.params["max_iter"],
            statistics_file=solver.coffee_lounge.save_into or None,
        )
        snaps = snapshot_breaks(solver)
        if snaps:
            result.snapshot_dir = snapshot_dir_of(snaps[0].coffee)
            last, every = solver.params["max_iter"], snaps[0].every_n_iter
            if final_snapshot and 0 < last < math.inf and every and last % every:
                add_coffee_break(solver, ResumePointAt(), every_n_iter=int(last))
        from mocha.core.solver import solve

        locked = snaps if parallel_of(be).is_root else []  # data parallel: rank 0 writes
        with lock_snapshot_folders(locked), stop_on_sigint(solver, handle_sigint):
            if fresh and parallel_of(be).is_root:
                result.moved_aside = move_aside(
                    [snapshot_dir_of(s.coffee) for s in snaps], result.statistics_file
                )
            try:
                state = solve(solver, train_net)
            except KeyboardInterrupt as exc:  # a second Ctrl-C: say where the snapshots are
                exc.snapshot_dir = result.snapshot_dir  # type: ignore[attr-defined]
                raise
            result.start_iteration = start.start_iteration
            result.resumed_from = start.resumed_from
            result.stopped_early = getattr(solver, "stop_reason", None)
            result.interrupted = solver.stop_requested and not result.stopped_early
            every = snaps[0].every_n_iter if snaps else 0
            if snaps and final_snapshot and not (every and state.iter % every == 0):
                snap = snaps[0].coffee  # the last iteration was not saved by the schedule
                snap.enjoy(solver.coffee_lounge, solver, train_net, state)
                result.snapshot_written = snap.last_path or None
            result.iterations, result.objective = int(state.iter), float(state.obj_val)
            result.model_iteration = result.iterations
            for coffee in restorers if not result.interrupted else []:
                restored = coffee.restore(train_net)
                if restored is not None:
                    result.model_iteration = restored
                    result.model = "best (restored by EarlyStopping)"
            result.warnings += [watch.message] if watch.message else []
            result.loop_timing = state.timing.summary()
            result.thread_choice = be.thread_info()
            result.threads = int(result.thread_choice.get("threads", result.threads))
            if final_validation:
                result.validation = validate(test_net)
        result.wall_time_s = round(time.perf_counter() - started, 3)
        return result
    finally:
        for net in (test_net, train_net):
            if net is not None:
                net.shutdown()
        shutdown(be)
