"""Building what an experiment file describes: the backend, the nets, the solver with its
lounge and coffee breaks."""

from __future__ import annotations

import inspect
from typing import Any

from mocha.core.errors import MochaError
from mocha.core.registry import lookup
from mocha.experiment.base import (
    PATH_KEYS,
    Experiment,
    ExperimentError,
    as_tuples,
    lookup_named,
)

VALIDATION_NET_PARAMS = ("validation_net", "test_net", "net")


def make_experiment_backend(exp: Experiment, name: str | None = None) -> Any:
    """The backend named by `name` (else the file's [backend], else "default"), initialized."""
    from mocha.core.backend import init
    from mocha.core.backends import make_backend

    chosen = name or exp.backend.get("name", "default")
    try:
        backend = make_backend(chosen, dtype=exp.backend.get("dtype", "float32"),
                               seed=int(exp.backend.get("seed", 0)),
                               threads=exp.backend.get("threads"))
    except (MochaError, ValueError, TypeError) as exc:
        raise ExperimentError(f"{exp.path.name}: backend {chosen!r}: {exc}") from None
    try:
        init(backend)
    except ValueError as exc:  # e.g. more threads than numba's pool has
        raise ExperimentError(f"{exp.path.name}: backend {chosen!r}: {exc}") from None
    return backend


def build_nets(exp: Experiment, backend: Any) -> tuple[Any, Any]:
    """The training net and (when some layer has phase = "test") the validation net."""
    from mocha.core.net import Net

    train = Net(f"{exp.name}-train", backend, exp.layers_for("train"))
    test = None
    if exp.has_test_net:
        try:
            test = Net(f"{exp.name}-test", backend, exp.layers_for("test"), phase="test")
        except BaseException:
            train.shutdown()
            raise
    return train, test


def build_solver(
    exp: Experiment, test_net: Any = None, max_iter: int | None = None, load_from: str = ""
) -> Any:
    """The solver of the [solver] table with the lounge and coffee breaks of the file."""
    from mocha.core.coffee import add_coffee_break, setup_coffee_lounge
    from mocha.core.solver import Solver, make_solver_parameters

    table = dict(exp.solver)
    method = lookup("solvers", table.pop("method"))()
    if max_iter is not None:
        table["max_iter"] = max_iter
    if load_from:
        table["load_from"] = load_from
    try:
        solver = Solver(method, make_solver_parameters(method, **table))
    except MochaError as exc:
        raise ExperimentError(f"{exp.path.name}: [solver]: {exc}") from None
    if exp.lounge:
        setup_coffee_lounge(solver, **exp.lounge)
    for i, spec in enumerate(exp.coffee_breaks):
        coffee, n_iter, n_epoch = make_coffee_break(exp, i, spec, test_net)
        add_coffee_break(solver, coffee, every_n_iter=n_iter, every_n_epoch=n_epoch)
    return solver


def make_coffee_break(
    exp: Experiment, i: int, spec: dict[str, Any], test_net: Any
) -> tuple[Any, int, int]:
    """(coffee break, every_n_iter, every_n_epoch) for one [[coffee_breaks]] table."""
    spec = dict(spec)
    name = spec.pop("type")
    where = f"{exp.path.name}: coffee_breaks[{i}] ({name})"
    cls = lookup_named("coffee_breaks", name, where)  # checked when the file was loaded
    n_iter, n_epoch = int(spec.pop("every_n_iter", 0)), int(spec.pop("every_n_epoch", 0))
    args: list[Any] = []
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    if "statistics" in spec and any(p.kind is p.VAR_POSITIONAL for p in params.values()):
        args = list(spec.pop("statistics"))
    for pname in VALIDATION_NET_PARAMS:
        if pname in params and pname not in spec:
            if test_net is None:
                raise ExperimentError(
                    f"{where}: needs a validation net; give some [[layers]] phase = \"test\" "
                    f"(a data layer reading the validation set and e.g. an AccuracyLayer)"
                )
            spec[pname] = test_net
            break
    spec = {k: exp.resolve(v) if k in PATH_KEYS and isinstance(v, str) else as_tuples(v)
            for k, v in spec.items()}
    try:
        coffee = cls(*args, **spec)
    except MochaError as exc:
        raise ExperimentError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise ExperimentError(f"{where}: {exc} (parameters: {', '.join(params)})") from None
    return coffee, n_iter, n_epoch

