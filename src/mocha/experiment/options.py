"""`RunOptions`: everything `mocha run` (or a Python caller) can set on a run, declared once.

The command line builds one `RunOptions` from its flags and hands it to `run_experiment`;
the runner reads the backend's settings from it (`backend_table`), the solver's from it
(`max_iter`, `load_from`) and hands the engine the part it needs as
`mocha.core.solver.ResumeOptions` (`resume_options`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from typing import Any

from mocha.core.solver import ResumeOptions
from mocha.experiment.base import Experiment, ExperimentError

logger = logging.getLogger("mocha")


@dataclass(frozen=True)
class RunOptions:
    """What a run may override or choose besides the experiment file.

    Fields: `backend` (a backend name overriding [backend] name), `threads`, `seed`
    (override [backend]), `max_iter` (overrides [solver]), `load_from` (a snapshot file or
    folder to resume from, overriding the file's), `weights_only` (load only the parameters
    of `load_from`, start at 0), `allow_foreign_snapshot` (resume a snapshot of another
    experiment), `fresh` (start at 0: the snapshots and statistics already in the snapshot
    folder move into its `previous-<time>/` subfolder), `distributed` (data-parallel over
    MPI), `handle_sigint` (Ctrl-C and SIGTERM stop after the iteration, see
    `mocha.experiment.stopping`), `final_validation` (one epoch of the validation net after
    training), `final_snapshot` (also save the last iteration when the file has a Snapshot
    break).
    """

    backend: str | None = None
    threads: int | None = None
    seed: int | None = None
    max_iter: int | None = None
    load_from: str = ""
    weights_only: bool = False
    allow_foreign_snapshot: bool = False
    fresh: bool = False
    distributed: bool = False
    handle_sigint: bool = True
    final_validation: bool = True
    final_snapshot: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "load_from", os.fspath(self.load_from or ""))
        if self.fresh and (self.load_from or self.weights_only):
            raise ExperimentError(
                "--fresh starts over: it cannot be combined with --load-from/--weights-only"
            )

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with `changes`; an unknown name is a `TypeError` listing the fields."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            known = ", ".join(f.name for f in dataclasses.fields(self))
            raise TypeError(f"unknown run option(s) {sorted(unknown)}; known: {known}")
        return dataclasses.replace(self, **changes)

    def check_load_from(self) -> None:
        """A `load_from` given here that does not exist: an `ExperimentError` for a file
        (`.h5`/`.hdf5`), a warning for a folder (a run killed before its first snapshot)."""
        path = self.load_from
        if not path or os.path.exists(path):
            return
        if path.endswith((".h5", ".hdf5")):
            raise ExperimentError(f"--load-from {path!r}: no such snapshot file")
        logger.warning(
            "--load-from %r does not exist yet (a run killed before its first snapshot?); "
            "starting fresh",
            path,
        )

    def backend_table(self, exp: Experiment) -> dict[str, Any]:
        """The file's [backend] table with `threads` and `seed` applied."""
        table = dict(exp.backend)
        overrides = (("threads", self.threads), ("seed", self.seed))
        table.update({k: v for k, v in overrides if v is not None})
        return table

    def resume_options(self, exp: Experiment) -> ResumeOptions:
        """What the engine needs to load `load_from` (`mocha.core.solver.ResumeOptions`)."""
        return ResumeOptions(self.weights_only, self.allow_foreign_snapshot, exp.identity)
