"""Snapshots: the model plus the full solver state, for an exact resume (semantics §6.8, §6.9).
Notes: docs/core.md."""

from __future__ import annotations

import json
import logging
import os
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from mocha.core.errors import SnapshotError
from mocha.core.io.model import (
    atomic_h5_write,
    contents_intact,
    dataset_name,
    load_network,
    open_model,
    similar_shape,
    verify_weights,
    write_parameters,
)

if TYPE_CHECKING:
    from mocha.core.net import Net
    from mocha.core.solver import Solver

logger = logging.getLogger("mocha")

SNAPSHOT_PATTERN = re.compile(r"^snapshot-(\d+)\.h5$")
FORMAT_VERSION = 2
REQUIRED_ATTRS = ("method", "iteration", "obj_val", "internal", "rng")
JSON_ATTRS = ("internal", "losses", "lr_policy", "mom_policy", "rng", "coffee")


class DamagedSnapshotError(SnapshotError):
    """A snapshot file is unreadable, fails its checksum, or lacks part of its solver state."""


def snapshot_filename(iteration: int) -> str:
    return f"snapshot-{int(iteration):06d}.h5"


class SnapshotFolder:
    """A snapshot folder as the engine sees it: the naming (`snapshot-%06d.h5`), the one
    listing (by iteration, not mtime), the newest intact snapshot, the renaming after a
    rewind and what a `load_from` folder without a snapshot means. The lock, the creation,
    `keep_last` and `--fresh`'s move aside are the Snapshot break's part
    (`mocha.plugins.coffee._snapshot_folder`, a subclass)."""

    def __init__(self, path: str) -> None:
        self.path = os.fspath(path)

    def path_of(self, iteration: int) -> str:
        return os.path.join(self.path, snapshot_filename(iteration))

    def snapshots(self) -> list[tuple[int, str]]:
        """`(iteration, path)` of every `snapshot-<digits>.h5`, by iteration."""
        try:
            names = os.listdir(self.path)
        except OSError:
            return []
        found = [(SNAPSHOT_PATTERN.match(n), n) for n in names]
        return sorted((int(m.group(1)), os.path.join(self.path, n)) for m, n in found if m)

    def latest(self, max_iter: int | None = None) -> str | None:
        """The snapshot with the highest iteration (at most `max_iter`), or None."""
        found = [p for i, p in self.snapshots() if max_iter is None or i <= max_iter]
        return found[-1] if found else None

    def latest_intact(self, check: Any = None) -> str | None:
        """The highest-iteration snapshot that passes `check` (default `check_snapshot`);
        each damaged one is skipped with a warning naming it. None when the folder holds no
        snapshot; `SnapshotError` when it holds only damaged ones."""
        damaged = []
        for _, path in reversed(self.snapshots()):
            try:
                (check or check_snapshot)(path)
                return path
            except DamagedSnapshotError as exc:
                logger.warning("skipping damaged snapshot %s: %s", path, exc)
                damaged.append(os.path.basename(path))
        if damaged:
            raise SnapshotError(
                f"every snapshot in {self.path!r} is damaged ({', '.join(damaged)}); "
                f"move them away to start fresh"
            )
        return None

    def abandon_after(self, iteration: int) -> list[str]:
        """Rename the snapshots past `iteration` to `snapshot-<iter>.abandoned.h5` (a name no
        loader picks), after a rewind; returns the new names."""
        moved = []
        for it, path in self.snapshots():
            if it > iteration:
                moved.append(os.path.join(self.path, f"snapshot-{it:06d}.abandoned.h5"))
                os.replace(path, moved[-1])
        return moved

    def nothing_to_resume(self, statistics_file: str = "") -> None:
        """A `load_from` folder without a snapshot of ours: fine when it holds nothing else
        (or only our statistics); Mocha.jl's `.jld` snapshots are an error (they cannot be
        read); other files a warning naming them (the run starts fresh at iteration 0)."""
        foreign = sorted(
            name
            for name in os.listdir(self.path)
            if not (
                name.startswith(".")
                or name.endswith(".tmp")
                or name == os.path.basename(statistics_file)
                or (name.startswith(("snapshot-", "statistics")) and name.endswith(".h5"))
            )
        )
        jld = [n for n in foreign if n.lower().endswith((".jld", ".jld2"))]
        if jld:
            raise SnapshotError(
                f"load_from={self.path!r} holds no snapshot-<iteration>.h5 of Mocha for Python "
                f"but Mocha.jl file(s) {', '.join(jld[:5])}, which cannot be read; export the "
                f"weights as an HDF5 model file (layer___param datasets) and give its path to "
                f"load_from, or choose an empty folder to start fresh"
            )
        if foreign:
            logger.warning(
                "load_from=%r holds no snapshot-<iteration>.h5 but %s; starting fresh "
                "at iteration 0 (give a model file's path to load its weights)",
                self.path,
                ", ".join(foreign[:10]) + (" ..." if len(foreign) > 10 else ""),
            )
        else:
            logger.info("load_from=%r: no snapshot in the folder, starting fresh", self.path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "get"):  # a cupy array
        return value.get().tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(value: Any, what: str) -> str:
    try:
        return json.dumps(value, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise SnapshotError(f"cannot save {what} in a snapshot: {exc}") from exc


# -- saving ----------------------------------------------------------------------------------
def write_snapshot(
    path: str, solver: Solver, net: Net, state: Any, point: dict[str, Any], exact: bool
) -> str:
    """Write the model and the full solver state of iteration `state.iter` to `path`, with
    the resume `point` (RNG state and cursors; `exact`: captured before the forward of
    `state.iter`). `mocha.core.resume.save_snapshot` decides the point."""
    internal = {k: v for k, v in state.internal.items() if k != "history"}
    policies = {
        key: solver.params[key].state_dict()
        for key in ("lr_policy", "mom_policy")
        if key in solver.params
    }
    history = state.internal.get("history", {})
    backend = net.backend
    breaks = enumerate(s.coffee for s in solver.coffee_lounge.coffee_breaks)
    coffee = {f"{i}:{type(c).__name__}": c.state_dict() for i, c in breaks if c.state_dict()}

    def write(f: Any) -> None:
        write_parameters(f, net)
        g = f.create_group("solver")
        g.attrs["format_version"] = FORMAT_VERSION
        g.attrs["method"] = solver.method.name
        g.attrs["iteration"] = int(state.iter)
        g.attrs["obj_val"] = float(state.obj_val)
        g.attrs["exact_resume"] = bool(exact)
        g.attrs["experiment"] = solver.resume_options.experiment_id
        g.attrs["internal"] = _dumps(internal, "the solver's internal state")
        g.attrs["losses"] = _dumps(state.losses, "the losses")
        for key, value in policies.items():
            g.attrs[key] = _dumps(value, key)
        g.attrs["rng"] = _dumps(point["rng"], "the RNG state")
        g.attrs["coffee"] = _dumps(coffee, "the coffee breaks' state")
        g.create_dataset("cursors", data=_dumps(point["cursors"], "the data cursors"))
        h = g.create_group("history")
        h.attrs["names"] = _dumps(sorted(history), "the history names")  # checked on load
        for name, array in history.items():
            h.create_dataset(name, data=backend.to_host(array))

    return atomic_h5_write(path, write, checksum=True)


# -- checking --------------------------------------------------------------------------------
def _check_open(f: Any, path: str) -> None:
    """Raise `DamagedSnapshotError` unless the open snapshot `f` is intact and complete."""
    intact = contents_intact(f)
    if intact is False:
        weights = "its parameters are intact, so --weights-only can load them"
        try:
            verify_weights(f, path)
        except SnapshotError:
            weights = "its parameters are damaged too"
        raise DamagedSnapshotError(
            f"snapshot {path!r} does not match its checksum (damaged or edited; {weights})"
        )
    if not is_snapshot(f):
        raise DamagedSnapshotError(f"{path!r} is a model file without a solver state")
    g = f["solver"]
    version = int(g.attrs.get("format_version", 1))
    if version > FORMAT_VERSION:
        raise SnapshotError(
            f"snapshot {path!r} has format version {version}; this Mocha reads "
            f"up to {FORMAT_VERSION} (upgrade mocha-dl)"
        )
    if intact is None and version >= 2:
        raise DamagedSnapshotError(f"snapshot {path!r} has lost its checksum")
    missing = [a for a in REQUIRED_ATTRS if a not in g.attrs]
    missing += [k for k in ("cursors", "history") if k not in g]
    try:
        for key in JSON_ATTRS:
            if key in g.attrs:
                _read_json(g.attrs[key])
        _read_json(g["cursors"][()]) if not missing else None
        names = _read_json(g["history"].attrs.get("names", "[]")) if not missing else []
    except (ValueError, TypeError, OSError) as exc:
        raise DamagedSnapshotError(f"snapshot {path!r}: invalid solver state: {exc}") from None
    missing += [f"history/{n}" for n in names if n not in g["history"]]
    if missing:
        raise DamagedSnapshotError(
            f"snapshot {path!r} lacks solver state {missing}; --weights-only loads its "
            f"parameters and starts at iteration 0"
        )


def check_snapshot(path: str) -> None:
    """Raise `DamagedSnapshotError` (naming `path`) unless it is an intact, complete
    snapshot: readable, matching its checksum, with every part of the solver state."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            _check_open(f, path)
    except DamagedSnapshotError:
        raise
    except SnapshotError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise DamagedSnapshotError(f"snapshot {path!r} is unreadable: {exc}") from None


def _check_experiment(solver: Solver, g: Any, path: str) -> None:
    mine, theirs = solver.resume_options.experiment_id, str(g.attrs.get("experiment", ""))
    if mine and theirs and mine != theirs and not solver.resume_options.allow_foreign_snapshot:
        raise SnapshotError(
            f"snapshot {path!r} was written by another experiment (its id {theirs[:12]}, this "
            f"one's {mine[:12]}); resuming it would mix two runs. Use another snapshot folder, "
            f"or pass --allow-foreign-snapshot (ResumeOptions.allow_foreign_snapshot) to "
            f"resume it anyway"
        )


# -- loading ---------------------------------------------------------------------------------
def _read_json(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return json.loads(value)


def is_snapshot(f: Any) -> bool:
    return "solver" in f and "method" in f["solver"].attrs


def _params_by_id(net: Net) -> dict[str, Any]:
    return {dataset_name(s.layer.name, p.name): p for s in net.states for p in s.parameters}


def restore_snapshot(solver: Solver, net: Net, state: Any, path: str) -> dict[str, Any]:
    """Full resume from a snapshot file: parameters, iteration, objective, method state,
    histories and policy states are restored now; the returned resume point (RNG and cursors)
    must be applied with `apply_resume_point` right before the next forward."""
    check_snapshot(path)
    with open_model(path) as f:
        g = f["solver"]
        _check_experiment(solver, g, path)
        method = str(g.attrs["method"])
        if method != solver.method.name:
            raise SnapshotError(
                f"snapshot {path!r} was written by solver method {method!r}; this solver is "
                f"{solver.method.name!r} (use the same method, or load only the weights from "
                f"a model file with load_network)"
            )
        params = _params_by_id(net)
        missing = [p for p in params if p not in f]
        if missing:
            raise SnapshotError(
                f"snapshot {path!r} has no datasets for parameters {missing} of net "
                f"{net.name!r} (the net does not match the snapshot)"
            )
        for pid, param in params.items():
            if not similar_shape(f[pid].shape, param.shape):
                raise SnapshotError(
                    f"snapshot {path!r}: {pid!r} has shape {tuple(f[pid].shape)}, the net's "
                    f"parameter has shape {tuple(param.shape)} (the net does not match)"
                )
        load_network(f, net, die_if_not_found=True)
        backend = net.backend
        history: dict[str, Any] = {}

        def collect(name: str, obj: Any) -> None:
            if not hasattr(obj, "shape"):
                return
            pid = name.rsplit("/", 1)[0]
            param = params.get(pid)
            if param is None:
                raise SnapshotError(
                    f"snapshot {path!r} holds solver history {name!r} for a parameter this net "
                    f"does not have (the net does not match the snapshot)"
                )
            host = np.asarray(obj[()])
            if tuple(host.shape) != tuple(param.shape):
                raise SnapshotError(
                    f"snapshot {path!r}: history {name!r} has shape {tuple(host.shape)}, "
                    f"parameter has shape {tuple(param.shape)}"
                )
            arr = backend.xp.empty(param.shape, dtype=param.blob.dtype)
            arr[...] = backend.asarray(host.astype(param.blob.dtype, copy=False))
            history[name] = arr

        if "history" in g:
            g["history"].visititems(collect)
        internal = solver.method.init_state(solver, net)
        internal.update(_read_json(g.attrs["internal"]))
        internal["history"] = history
        state.internal = internal
        state.iter = int(g.attrs["iteration"])
        state.obj_val = float(g.attrs["obj_val"])
        state.losses = {k: float(v) for k, v in _read_json(g.attrs.get("losses", "{}")).items()}
        for key in ("lr_policy", "mom_policy"):
            if key in g.attrs and key in solver.params:
                solver.params[key].load_state_dict(_read_json(g.attrs[key]))
        point = {
            "iter": state.iter,
            "rng": _read_json(g.attrs["rng"]),
            "cursors": _read_json(g["cursors"][()]),
            "coffee": _read_json(g.attrs.get("coffee", "{}")),
            "source": path,
        }
        if not bool(g.attrs.get("exact_resume", True)):
            logger.warning(
                "snapshot %s was saved without a resume point; one mini-batch is skipped on resume",
                path,
            )
    logger.info("resumed from %s at iteration %d", path, state.iter)
    return point


def check_weights(path: str) -> None:
    """Raise `DamagedSnapshotError` unless the parameters of the file at `path` are intact."""
    try:
        with open_model(path) as f:
            verify_weights(f, path)
    except SnapshotError as exc:
        raise DamagedSnapshotError(str(exc)) from None
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise DamagedSnapshotError(f"{path!r} is unreadable: {exc}") from None


def load_snapshot(net: Net, path: str) -> int:
    """Load the parameters of a snapshot (a file, or the latest of a folder) or of an HDF5
    model file into `net`, e.g. for prediction. Returns the snapshot's iteration (0 for a
    model file)."""
    if os.path.isdir(path):
        latest = SnapshotFolder(path).latest_intact(check_weights)
        if latest is None:
            raise SnapshotError(f"no snapshot-<iteration>.h5 file in folder {path!r}")
        path = latest
    with open_model(path) as f:
        load_network(f, net, die_if_not_found=True)
        return int(f["solver"].attrs["iteration"]) if is_snapshot(f) else 0
