"""Running an experiment: backend, nets, solver, training, a final validation pass.

`run_experiment(exp)` is what `mocha run` calls; it is a plain function usable from Python.
Ctrl-C (SIGINT, main thread only) asks the solver to stop after the next iteration; the
run returns a result with `interrupted=True` and where to resume from. A second Ctrl-C
aborts at once. When the file configures a `Snapshot` coffee break, the last iteration is
always saved (after Ctrl-C too), so a run can be resumed or used for prediction.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import signal
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from mocha.core.coffee import CoffeeBreak, add_coffee_break
from mocha.core.errors import DataError, MochaError
from mocha.core.parallel import parallel_of
from mocha.experiment.base import Experiment, ExperimentError
from mocha.experiment.build import (
    build_nets,
    build_solver,
    check_memory,
    make_experiment_backend,
)
from mocha.experiment.finetune import apply_init
from mocha.experiment.options import RunOptions
from mocha.experiment.start_over import StartWatch
from mocha.experiment.stopping import ResumePointAt, stop_on_signals

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
    signal: str | None = None  # the signal that interrupted the run (SIGINT, SIGTERM)
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


def _folders(snaps: list[Any]) -> list[Any]:
    """The `OwnedSnapshotFolder` of each scheduled break that has one."""
    return [s.coffee.snapshot_folder for s in snaps if s.coffee.snapshot_folder is not None]


@contextmanager
def lock_snapshot_folders(snaps: list[Any]) -> Iterator[None]:
    """Hold the folder lock of every `Snapshot` break (its `snapshot_folder`) from before
    the solve (so a second run stops before it touches the folder or the statistics file)
    until after the final snapshot; the breaks take the same lock again (it is shared
    within a process)."""
    taken = []
    try:
        for folder in _folders(snaps):
            taken.append(folder.lock())
            taken[-1].acquire()
        yield
    finally:
        for lock in reversed(taken):
            lock.release()


def move_aside(snaps: list[Any], statistics_file: str | None) -> str | None:
    """`--fresh`: the previous run's snapshots and statistics into `previous-<time>/` of the
    first snapshot folder (see `OwnedSnapshotFolder.move_aside`)."""
    folders = _folders(snaps)
    if not folders:
        return None
    return folders[0].move_aside(folders[1:], statistics_file)


def agree_on_load_from(solver: Any, parallel: Any) -> None:
    """Data parallel: rank 0 alone looks at `load_from` (which snapshot, or none) and the
    other ranks wait for its decision; so a rank never sees the snapshot folder that rank 0
    is creating in a state rank 0 did not (a fresh start with a missing folder)."""
    from mocha.core.resume import pick_load_from
    from mocha.distributed.data_parallel import bcast_json

    load_from = str(solver.params.get("load_from", "") or "")
    pick = pick_load_from(solver, load_from) if parallel.is_root else None
    solver.params["load_from"] = bcast_json(parallel.comm, pick)


@contextmanager
def naming_data_rows(exp: Experiment, nets: list[Any]) -> Iterator[None]:
    """A bad label found by a loss or accuracy layer (a `DataError` carrying the label
    `blob` and the batch `row`) names the data layer, file and row it came from."""
    try:
        yield
    except DataError as exc:
        blob, row, layer = (getattr(exc, k, None) for k in ("blob", "row", "layer"))
        if blob is None:
            raise
        sources = {e.layer.name: e.source for e in exp.layers if e.source}
        for net in (n for n in nets if n is not None):
            if layer not in {s.layer.name for s in net.states}:
                continue
            for state in net.states:
                if blob in state.layer.tops and hasattr(state, "describe_row"):
                    name = state.layer.name
                    where = ", ".join(filter(None, [state.describe_row(row), sources.get(name)]))
                    raise DataError(
                        f"{exc} (net {net.name!r}, from data layer {name!r}: {where})"
                    ) from None
        raise


def validate(test_net: Any) -> dict[str, float]:
    """One epoch of the validation net; its statistics (e.g. `accuracy`)."""
    if test_net is None or not test_net.data_layers:
        return {}
    with test_net.evaluating():  # no dropout masks, however the net was built
        test_net.reset_statistics()
        test_net.forward_epoch()
        parallel_of(test_net.backend).reduce_statistics(test_net)  # data parallel: all ranks
    return {k: float(v) for k, v in test_net.statistics().items()}


def _build(exp: Experiment, be: Any, options: RunOptions | None = None) -> tuple[Any, Any, Any]:
    """(train net, test net, solver if `options` are given); errors blame the file."""
    train_net = test_net = None
    try:
        train_net, test_net = build_nets(exp, be, check=options is None)
        apply_init(exp.init, train_net)  # [init]: start layers from a model, freeze some
        solver = None if options is None else build_solver(exp, test_net, options)
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
    options: RunOptions | None = None,
    *,
    extra_coffee_breaks: Iterable[tuple[Any, int]] = (),
    **overrides: Any,
) -> RunResult:
    """Train the experiment and return a `RunResult`.

    Args:
        exp: a loaded experiment (`load_experiment`).
        options: the `RunOptions` (backend, max_iter, load_from, fresh, ...; see there);
            keywords named like its fields override them (`run_experiment(exp,
            backend="numpy", max_iter=500)`).
        extra_coffee_breaks: `(coffee, every_n_iter)` pairs added after the file's breaks
            (the command line adds its progress display this way).

    Raises:
        ExperimentError: the backend, nets or solver cannot be built from the file.
        MochaError: training failed (e.g. `SolverError` when the objective diverges).
    """
    from mocha.core.backend import shutdown

    exp.refuse_placeholders("train", "training data")
    opts = (options or RunOptions()).replace(**overrides)
    opts.check_load_from()
    exp = dataclasses.replace(exp, backend=opts.backend_table(exp))
    started = time.perf_counter()
    be = make_experiment_backend(exp, opts.backend)
    train_net = test_net = None
    try:
        if opts.distributed:
            from mocha.distributed import enable

            enable(be)
        train_net, test_net, solver = _build(exp, be, opts)
        check_memory(exp, [train_net, test_net], solver.method)  # what training will hold
        if parallel_of(be).size > 1:
            agree_on_load_from(solver, parallel_of(be))
        watch = add_coffee_break(solver, ObjectiveWatch(), every_n_iter=1)
        start = add_coffee_break(solver, StartWatch(), every_n_iter=0)
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
            result.snapshot_dir = os.fspath(snaps[0].coffee.snapshot_dir)
            last, every = solver.params["max_iter"], snaps[0].every_n_iter
            if opts.final_snapshot and 0 < last < math.inf and every and last % every:
                add_coffee_break(solver, ResumePointAt(), every_n_iter=int(last))
        from mocha.core.solver import solve

        root = parallel_of(be).is_root
        locked = snaps if root else []  # data parallel: rank 0 writes
        with (
            lock_snapshot_folders(locked),
            stop_on_signals(solver, opts.handle_sigint) as stopper,
        ):
            if opts.fresh and root:
                result.moved_aside = move_aside(snaps, result.statistics_file)
            try:
                with naming_data_rows(exp, [train_net, test_net]):
                    state = solve(solver, train_net)
            except KeyboardInterrupt as exc:  # a second Ctrl-C: say where the snapshots are
                exc.snapshot_dir = result.snapshot_dir  # type: ignore[attr-defined]
                raise
            result.start_iteration = start.start_iteration
            result.resumed_from = start.resumed_from
            result.stopped_early = solver.stop_reason
            result.interrupted = solver.stop_requested and not result.stopped_early
            if result.interrupted and stopper is not None and stopper.signum is not None:
                result.signal = signal.Signals(stopper.signum).name
            every = snaps[0].every_n_iter if snaps else 0
            if snaps and opts.final_snapshot and not (every and state.iter % every == 0):
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
            if opts.final_validation:
                with naming_data_rows(exp, [test_net]):
                    result.validation = validate(test_net)
        result.wall_time_s = round(time.perf_counter() - started, 3)
        return result
    finally:
        for net in (test_net, train_net):
            if net is not None:
                net.shutdown()
        shutdown(be)
