"""Experiment files: whole training jobs described in TOML (see `docs/experiment-files.md`).

`load_experiment(path) -> Experiment` parses and validates a file (building every layer);
`run_experiment(exp, RunOptions(...)) -> RunResult` trains it. `mocha run` is a thin adapter
over both.
Modules: `loader` (parsing), `spelling` (nested objects and policies), `providers` (arrays
for MemoryDataLayer), `build` (backend, nets, solver), `options` (what a run may set),
`runner` (training), `stopping` (Ctrl-C).
"""

from mocha.experiment.base import Experiment, ExperimentError, LayerEntry
from mocha.experiment.build import (
    build_nets,
    build_solver,
    make_coffee_break,
    make_experiment_backend,
)
from mocha.experiment.loader import load_experiment, parse_experiment
from mocha.experiment.options import RunOptions
from mocha.experiment.providers import load_provider, register_data_provider
from mocha.experiment.runner import RunResult, experiment_nets, run_experiment, validate
from mocha.experiment.spelling import make_policy

__all__ = [
    "Experiment",
    "ExperimentError",
    "LayerEntry",
    "RunOptions",
    "RunResult",
    "build_nets",
    "build_solver",
    "experiment_nets",
    "load_experiment",
    "load_provider",
    "make_coffee_break",
    "make_experiment_backend",
    "make_policy",
    "parse_experiment",
    "register_data_provider",
    "run_experiment",
    "validate",
]
