"""Exact resume, in one place: the resume point, the `load_from` dispatch, the rewind and the
graceful stop (semantics §6.8, §6.9). Notes: docs/core.md."""

from __future__ import annotations

import copy
import logging
import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mocha.core.errors import SnapshotError
from mocha.core.io.model import contents_intact, load_network, open_model
from mocha.core.io.snapshot import (
    SnapshotFolder,
    check_weights,
    is_snapshot,
    restore_snapshot,
    write_snapshot,
)

if TYPE_CHECKING:
    from mocha.core.net import Net
    from mocha.core.solver import Solver, SolverState

logger = logging.getLogger("mocha")


# -- the resume point ----------------------------------------------------------------------
def _cursor_states(net: Net) -> dict[str, Any]:
    return {
        s.layer.name: s for s in net.states if hasattr(s, "get_cursor") and hasattr(s, "set_cursor")
    }


def _resume_nets(solver: Solver) -> list[Any]:
    nets = []
    for scheduled in solver.coffee_lounge.coffee_breaks:
        get = getattr(scheduled.coffee, "resume_nets", None)
        if get is not None:
            nets.extend(n for n in get() if n is not None and n is not solver.net)
    return nets


def capture_resume_point(solver: Solver, net: Net, iteration: int) -> dict[str, Any]:
    """The RNG state and the data cursors now, to be restored before the forward that follows
    (the training net under "train", other nets of the coffee breaks under "others"); deep
    copies, so later forwards cannot change them."""
    return copy.deepcopy(
        {
            "iter": int(iteration),
            "rng": net.backend.rng_state(),
            "cursors": {
                "train": {name: s.get_cursor() for name, s in _cursor_states(net).items()},
                "others": {
                    n.name: {name: s.get_cursor() for name, s in _cursor_states(n).items()}
                    for n in _resume_nets(solver)
                },
            },
        }
    )


def _apply_cursors(net: Net, cursors: dict[str, Any], where: str) -> None:
    for name, state in _cursor_states(net).items():
        if name in cursors:
            state.set_cursor(cursors[name])
        else:
            logger.warning(
                "%s: no cursor for data layer %r of net %r; it starts over", where, name, net.name
            )


def load_coffee_states(solver: Solver, states: dict[str, Any]) -> None:
    """Give each coffee break the `state_dict()` a snapshot saved of it (after `init`)."""
    for i, scheduled in enumerate(solver.coffee_lounge.coffee_breaks):
        key = f"{i}:{type(scheduled.coffee).__name__}"
        if key in states:
            scheduled.coffee.load_state_dict(states[key])


def apply_resume_point(solver: Solver, net: Net, point: dict[str, Any]) -> None:
    """Restore the RNG state and the data cursors of a resume point."""
    where = point.get("source", "resume point")
    net.backend.set_rng_state(point["rng"])
    cursors = point.get("cursors", {})
    _apply_cursors(net, cursors.get("train", {}), where)
    others = cursors.get("others", {})
    for other in _resume_nets(solver):
        if other.name in others:
            _apply_cursors(other, others[other.name], where)


def save_snapshot(path: str, solver: Solver, net: Net, state: SolverState) -> str:
    """Write the model and the full solver state of iteration `state.iter` to `path`, with the
    resume point the solver captured before that iteration's forward. Without one (a custom
    break calling `save_snapshot` off the schedule) the current RNG state and cursors are
    stored with `exact_resume = False`, with a warning: resuming from it skips a mini-batch."""
    point = solver.resume_point
    exact = point is not None and point.get("iter") == state.iter
    if not exact:
        logger.warning(
            "snapshot %s: no resume point was captured before the forward of iteration %d; "
            "resuming from it will skip one mini-batch",
            path,
            state.iter,
        )
        point = capture_resume_point(solver, net, state.iter)
    return write_snapshot(path, solver, net, state, point, exact)


# -- load_from -----------------------------------------------------------------------------
def _load_weights(net: Net, path: str) -> None:
    try:
        with open_model(path) as f:
            load_network(f, net, die_if_not_found=True)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise SnapshotError(f"cannot read the parameters of {path!r}: {exc}") from None
    logger.info("loaded the weights of %s; the solve starts at iteration 0", path)


def pick_load_from(solver: Solver, path: str) -> str:
    """The file `load_from_path` loads for `path` ("" for none): the newest intact snapshot
    of a folder, the file itself, nothing for a path that does not exist. The path is looked
    at once (`os.stat`), so a folder that another process creates meanwhile is either seen
    or not, never half; in a data-parallel run rank 0 alone picks (`mocha run`)."""
    try:
        is_folder = stat.S_ISDIR(os.stat(path).st_mode) if path else False
    except FileNotFoundError:
        if path.endswith((".h5", ".hdf5")):
            logger.warning("load_from=%r: no such file; starting fresh", path)
        else:  # the usual first run with load_from=<snapshot folder>
            logger.info("load_from=%r does not exist yet; starting fresh", path)
        return ""
    if not is_folder:
        return path
    folder = SnapshotFolder(path)
    latest = folder.latest_intact(check_weights if solver.resume_options.weights_only else None)
    if latest is None:
        folder.nothing_to_resume(solver.coffee_lounge.save_into)
    return latest or ""


def load_from_path(
    solver: Solver, net: Net, state: SolverState, path: str
) -> dict[str, Any] | None:
    """The solver's `load_from` (semantics §6.9, port rules):

    * `""`: nothing; a folder: the highest-iteration *intact* snapshot in it, full resume
      (damaged ones are skipped with a warning; nothing if the folder is missing or holds
      none; an error if it holds Mocha.jl `.jld` files, a warning naming them if it holds
      other files; `SnapshotError` if all are damaged);
    * a snapshot file: full resume (`SnapshotError` if it is damaged); an HDF5 model file (no
      `solver` group): weights only, the solve starts at iteration 0;
    * with `solver.resume_options.weights_only`: the parameters only, from the file or the newest
      snapshot of the folder whose parameters are intact; the solve starts at iteration 0;
    * a path that does not exist: nothing loaded (Mocha ignores it silently; a missing
      `.h5`/`.hdf5` file is logged as a warning, a missing folder is the usual first run).

    Returns the resume point to apply before the initial forward (None for weights only)."""
    path = pick_load_from(solver, path)
    if not path:
        return None
    weights_only = solver.resume_options.weights_only
    if weights_only:
        _load_weights(net, path)
        return None
    try:
        with open_model(path) as f:
            model_file = not is_snapshot(f) and contents_intact(f) is not False
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise SnapshotError(f"cannot read {path!r}: {exc}") from None
    if model_file:  # a model file (save_network, Caffe): weights only, by design
        _load_weights(net, path)
        return None
    point = restore_snapshot(solver, net, state, path)
    solver.resumed_from = path
    return point


def resume(solver: Solver, net: Net, state: SolverState) -> dict[str, Any] | None:
    """Load the solver's `load_from` into `net` and `state` (before `net.init()`; loaded
    parameters get `NullInitializer`); the resume point to apply later, or None."""
    load_from = solver.params.get("load_from", "")
    return load_from_path(solver, net, state, str(load_from)) if load_from else None


# -- the rewind ----------------------------------------------------------------------------
# (snapshot path, callback after the load, rewrite the snapshot) of a pending rewind
RewindRequest = tuple[str, Callable[[Any], None] | None, bool]


def rewind(solver: Solver, net: Net, state: SolverState, request: RewindRequest) -> dict[str, Any]:
    """Carry out a rewind request: restore the snapshot's full state into `net` and `state`,
    call the requester's `on_loaded(state)`, rewrite the snapshot (when asked) and restore its
    resume point. Returns the point; the caller reruns the forward."""
    path, on_loaded, resave = request
    point = restore_snapshot(solver, net, state, path)
    if on_loaded is not None:
        on_loaded(state)
    if resave:
        solver.resume_point = point
        save_snapshot(path, solver, net, state)
    apply_resume_point(solver, net, point)
    return point
