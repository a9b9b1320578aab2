"""Coffee breaks and the coffee lounge (semantics §7). Notes: docs/core.md."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mocha.core.errors import MochaError
from mocha.core.io.statistics import load_statistics, save_statistics
from mocha.core.parallel import parallel_of

if TYPE_CHECKING:
    from mocha.core.net import Net
    from mocha.core.solver import Solver


def statistic_name(layer_name: str, kind: str) -> str:
    """The name a statistics layer reports `kind` under: `"<layer>-<kind>"`, or the layer's
    name alone when it already says it (`"accuracy"` or `"test-accuracy"` reporting accuracy),
    so no name is doubled (`accuracy-accuracy`)."""
    if layer_name == kind or layer_name.endswith(f"-{kind}"):
        return layer_name
    return f"{layer_name}-{kind}"


class Resumable:
    """The one protocol of resumable run-time state, shared by the policies, the coffee
    breaks and (under the names `get_cursor`/`set_cursor`, captured before the forward) the
    data layers' positions: `state_dict()` a JSON-able dict that a snapshot saves,
    `load_state_dict(data)` continue from it on a resume. The default holds nothing."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, data: dict[str, Any]) -> None:
        pass


class CoffeeBreak(Resumable):
    """Base class of coffee breaks.

    Besides `init`/`enjoy`/`destroy`, the engine relies on three declared protocols, each with
    a default that suits a break that does none of it:

    * `needs_resume_point` (False): the break writes snapshots (or otherwise needs the exact
      resume point), so the solver captures the RNG state and the data cursors before the
      forward of every iteration at which it may run.
    * `resume_nets()` ([]): other nets (e.g. a validation net) whose data cursors a snapshot
      saves and a resume restores along with the training net's.
    * `snapshot_dir` (None): the folder the break writes snapshots into. `mocha run` reports
      it, saves the last iteration through the break, and `LRPolicy.DecayOnValidation` rewinds
      from it. `last_path` is the file its latest `enjoy` wrote ("" before).
    * `state_dict()` / `load_state_dict(data)` ({}; `Resumable`): what a snapshot saves of the
      break (a count, a best value) and a resume restores after `init`, so that e.g.
      EarlyStopping's patience survives a resume.
    """

    needs_resume_point: bool = False
    snapshot_dir: str | None = None
    snapshot_folder: Any = None  # Snapshot: its folder's owner (lock, listing, move aside)
    last_path: str = ""

    def resume_nets(self) -> list[Any]:
        """Nets besides the training net whose data cursors a snapshot saves."""
        return []

    def init(self, lounge: CoffeeLounge, solver: Solver, net: Net) -> None:
        pass

    def enjoy(self, lounge: CoffeeLounge, solver: Solver, net: Net, state: Any) -> None:
        raise NotImplementedError

    def destroy(self, lounge: CoffeeLounge, solver: Solver, net: Net) -> None:
        pass


@dataclass
class ScheduledCoffee:
    coffee: CoffeeBreak
    every_n_iter: int = 0
    every_n_epoch: int = 0


@dataclass
class CoffeeLounge:
    """Statistics store and coffee-break scheduler of one solver."""

    save_into: str = ""
    save_every_n_iter: int = 1
    file_exists: str = "merge"
    statistics: dict[str, dict[int, float]] = field(default_factory=dict)
    coffee_breaks: list[ScheduledCoffee] = field(default_factory=list)
    curr_iter: int = 0
    last_epoch: int = 0
    _dirty: bool = False
    active: bool = False  # between setup() and shutdown()
    is_root: bool = True  # rank 0 of a data-parallel run (or the only process)
    _initialized: list[ScheduledCoffee] = field(default_factory=list)  # init ran, no destroy

    def update_statistics(self, name: str, value: float) -> None:
        self.statistics.setdefault(name, {})[self.curr_iter] = float(value)
        self._dirty = True

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(iterations, values) of one statistic, sorted by iteration."""
        items = sorted(self.statistics.get(name, {}).items())
        return (
            np.array([i for i, _ in items], dtype=np.int64),
            np.array([v for _, v in items], dtype=np.float64),
        )

    # -- lifecycle -----------------------------------------------------------------------
    def setup(self, solver: Solver, state: Any, net: Net) -> None:
        if self.save_into:
            folder = os.path.dirname(os.path.abspath(self.save_into))
            os.makedirs(folder, exist_ok=True)
            if os.path.exists(self.save_into):
                if self.file_exists == "merge":
                    self.statistics = load_statistics(self.save_into)
                elif self.file_exists == "overwrite":
                    self.statistics = {}
                elif self.file_exists == "panic":
                    raise MochaError(
                        f"coffee lounge: statistics file {self.save_into!r} already exists "
                        f"(file_exists='panic')"
                    )
                else:
                    raise MochaError(
                        f"coffee lounge: file_exists must be 'merge', 'overwrite' or 'panic', "
                        f"not {self.file_exists!r}"
                    )
        self.curr_iter = state.iter
        self.last_epoch = net.epoch
        self.is_root = parallel_of(getattr(net, "backend", None)).is_root
        self.active = True
        self._initialized = []
        for scheduled in self.coffee_breaks:  # a failing init: shutdown() destroys the others
            scheduled.coffee.init(self, solver, net)
            self._initialized.append(scheduled)

    def wants_resume_point(self, it: int) -> bool:
        """Whether a break that needs the pre-forward resume point (Snapshot) may run at
        iteration `it` (an epoch-scheduled one may run at any iteration)."""
        for scheduled in self.coffee_breaks:
            if scheduled.coffee.needs_resume_point:
                if scheduled.every_n_iter > 0:
                    if it % scheduled.every_n_iter == 0:
                        return True
                elif scheduled.every_n_epoch > 0:
                    return True
        return False

    def check_coffee_break(self, solver: Solver, state: Any, net: Net) -> None:
        self.curr_iter = state.iter
        epoch = None
        for scheduled in self.coffee_breaks:
            if not (self.is_root or getattr(scheduled.coffee, "all_ranks", False)):
                continue  # data parallel: only rank 0 prints, draws and saves
            if scheduled.every_n_iter > 0:
                if state.iter % scheduled.every_n_iter == 0:
                    scheduled.coffee.enjoy(self, solver, net, state)
            elif scheduled.every_n_epoch > 0:
                if epoch is None:
                    epoch = net.epoch
                if epoch != self.last_epoch and epoch % scheduled.every_n_epoch == 0:
                    scheduled.coffee.enjoy(self, solver, net, state)
        if self.save_into and self.save_every_n_iter > 0:
            if state.iter % self.save_every_n_iter == 0:
                self.save()
        self.last_epoch = net.epoch

    def shutdown(self, solver: Solver, net: Net) -> None:
        """Destroy the breaks whose `init` ran and save the statistics (only after a `setup`,
        once). A `destroy` that raises does not skip the rest: the first error is raised at
        the end, later ones are added to it as notes."""
        if not self.active:
            return
        self.active = False
        initialized, self._initialized = self._initialized, []
        errors: list[Exception] = []
        for scheduled in initialized:
            try:
                scheduled.coffee.destroy(self, solver, net)
            except Exception as exc:
                errors.append(exc)
        if self.save_into:
            try:
                self.save(force=True)
            except Exception as exc:
                errors.append(exc)
        if errors:
            for later in errors[1:]:
                errors[0].add_note(
                    f"also while shutting the coffee lounge down: {type(later).__name__}: {later}"
                )
            raise errors[0]

    def save(self, force: bool = False) -> None:
        if not self.save_into or not (self._dirty or force) or not self.is_root:
            return
        save_statistics(self.save_into, self.statistics)
        self._dirty = False


def add_coffee_break(
    solver: Solver, coffee: CoffeeBreak, every_n_iter: int = 0, every_n_epoch: int = 0
) -> CoffeeBreak:
    """Schedule `coffee` on `solver`; returns the coffee break."""
    if every_n_iter < 0 or every_n_epoch < 0:
        raise ValueError(
            f"add_coffee_break({type(coffee).__name__}): every_n_iter={every_n_iter} and "
            f"every_n_epoch={every_n_epoch} must be >= 0"
        )
    solver.coffee_lounge.coffee_breaks.append(
        ScheduledCoffee(coffee, int(every_n_iter), int(every_n_epoch))
    )
    return coffee


def setup_coffee_lounge(
    solver: Solver, save_into: str = "", every_n_iter: int = 1, file_exists: str = "merge"
) -> CoffeeLounge:
    lounge = solver.coffee_lounge
    if file_exists not in ("merge", "overwrite", "panic"):
        raise ValueError(
            f"setup_coffee_lounge: file_exists must be 'merge', 'overwrite' or 'panic', not "
            f"{file_exists!r}"
        )
    lounge.save_into = str(save_into)
    lounge.save_every_n_iter = int(every_n_iter)
    lounge.file_exists = file_exists
    return lounge
