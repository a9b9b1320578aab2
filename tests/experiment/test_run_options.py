"""`RunOptions`: what a run may set, declared once, from the command line to the solver; and
the one mapping of errors to `mocha run`'s exit statuses."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mocha.cli._run_exit import exit_status
from mocha.core.errors import MochaError, SnapshotError, SolverError
from mocha.core.solver import ResumeOptions, Solver
from mocha.experiment import (
    ExperimentError,
    RunOptions,
    build_solver,
    experiment_nets,
    load_experiment,
)
from mocha.experiment.runner import run_experiment

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits" / "digits.toml"


def test_options_are_frozen_and_unknown_ones_are_named():
    options = RunOptions(max_iter=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.max_iter = 4  # type: ignore[misc]
    with pytest.raises(TypeError, match=r"unknown run option\(s\) \['max_iters'\]; known: "):
        options.replace(max_iters=4)
    assert options.replace(seed=0).seed == 0 and options.seed is None


def test_fresh_cannot_be_combined_with_a_load_from():
    with pytest.raises(ExperimentError, match="--fresh starts over"):
        RunOptions(fresh=True, load_from="snapshots")
    with pytest.raises(ExperimentError, match="--fresh starts over"):
        RunOptions(fresh=True, weights_only=True)


def test_the_solver_declares_what_reaches_it():
    exp = load_experiment(EXAMPLE)
    options = RunOptions(max_iter=7, load_from="elsewhere", weights_only=True)
    with experiment_nets(exp, "numpy") as (_, test_net):
        solver = build_solver(exp, test_net, options)
        fresh = build_solver(exp, test_net, RunOptions(fresh=True))
    assert solver.params["max_iter"] == 7 and solver.params["load_from"] == "elsewhere"
    assert solver.resume_options == ResumeOptions(True, False, exp.identity)
    declared = set(vars(Solver(solver.method, solver.params)))
    assert set(vars(solver)) == declared  # nothing set on the solver beyond its declaration
    assert fresh.params["load_from"] == ""


def test_backend_settings_come_from_the_options():
    exp = load_experiment(EXAMPLE)
    table = RunOptions(threads=2, seed=0).backend_table(exp)
    assert table["threads"] == 2 and table["seed"] == 0
    result = run_experiment(
        exp, RunOptions(backend="numpy", max_iter=2, handle_sigint=False, seed=3)
    )
    assert result.iterations == 2 and result.backend == "NumpyBackend"


def test_a_missing_snapshot_file_is_refused_before_training(tmp_path):
    with pytest.raises(ExperimentError, match="no such snapshot file"):
        RunOptions(load_from=str(tmp_path / "never.h5")).check_load_from()


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ExperimentError("x.toml: bad"), 2),
        (SnapshotError("damaged"), 2),
        (MochaError("a layer"), 2),
        (SolverError("diverged"), 1),
        (MemoryError(), 1),
        (OSError(28, "No space left on device"), 1),
        (IsADirectoryError(21, "Is a directory"), 2),
        (PermissionError(13, "Permission denied"), 2),
        (KeyboardInterrupt(), 130),
    ],
)
def test_one_mapping_of_errors_to_exit_statuses(exc, code):
    message, status = exit_status(exc, Path("x.toml"))
    assert status == code and message
    assert exit_status(ValueError("a bug"), Path("x.toml")) is None
