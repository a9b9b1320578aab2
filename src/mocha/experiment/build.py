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
    from mocha.backend_choice import make_backend
    from mocha.core.backend import init

    chosen = name or exp.backend.get("name", "default")
    try:
        backend = make_backend(
            chosen,
            dtype=exp.backend.get("dtype", "float32"),
            seed=int(exp.backend.get("seed", 0)),
            threads=exp.backend.get("threads"),
        )
    except (MochaError, ValueError, TypeError) as exc:
        raise ExperimentError(f"{exp.path.name}: backend {chosen!r}: {exc}") from None
    try:
        init(backend)
    except ValueError as exc:  # e.g. more threads than numba's pool has
        raise ExperimentError(f"{exp.path.name}: backend {chosen!r}: {exc}") from None
    return backend


def build_nets(exp: Experiment, backend: Any) -> tuple[Any, Any]:
    """The training net and (when some layer has phase = "test") the validation net.

    Sizes too large for this machine (`output_dim`, `batch_size`, data shapes) are an
    `ExperimentError`: when the array library refuses an allocation, and, on the CPU
    backends, when the blobs of the nets (allocated lazily by the OS, not touched yet) need
    more than the memory available now."""
    train = _make_net(exp, f"{exp.name}-train", backend, "train")
    test = None
    try:
        if exp.has_test_net:
            test = _make_net(exp, f"{exp.name}-test", backend, "test")
        check_memory(exp, [train, test])
    except BaseException:
        for net in (test, train):
            if net is not None:
                net.shutdown()
        raise
    return train, test


def _make_net(exp: Experiment, name: str, backend: Any, phase: str) -> Any:
    from mocha.core.net import Net

    try:
        return Net(name, backend, exp.layers_for(phase), phase=phase)
    except MochaError:
        raise
    except (MemoryError, OverflowError, TypeError, ValueError) as exc:
        layer = _layer_being_set_up(exc)
        where = f", layer {type(layer).__name__}({layer.name!r})" if layer is not None else ""
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        hint = ""
        sizes = ("dimension", "allocate", "too big", "maximum", "size")
        if isinstance(exc, MemoryError | OverflowError) or any(w in str(exc) for w in sizes):
            hint = (
                f" (memory available: {_gib(available_memory())}; check output_dim, "
                f"batch_size and the data shapes)"
            )
        raise ExperimentError(
            f"{exp.path.name}: cannot set up net {name!r}{where}: {detail}{hint}"
        ) from None


def _layer_being_set_up(exc: BaseException) -> Any:
    tb = exc.__traceback__
    layer = None
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "_setup_layer":
            layer = tb.tb_frame.f_locals.get("layer")
        tb = tb.tb_next
    return layer


def available_memory() -> int | None:
    """Bytes of memory available now (Linux `MemAvailable`, else free physical pages)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _gib(n: int | None) -> str:
    return "unknown" if n is None else f"{n / 2**30:.1f} GiB"


def _net_bytes(net: Any) -> int:
    arrays = {}
    blobs = [*net.output_blobs.values(), *net.diff_blobs.values()]
    blobs += [p.blob for s in net.states for p in getattr(s, "parameters", [])]
    blobs += [b for s in net.states for b in getattr(s, "blobs", []) or []]
    for blob in blobs:
        data = getattr(blob, "data", None)
        if data is not None:
            arrays[id(data)] = int(getattr(data, "nbytes", 0))
    return sum(arrays.values())


def check_memory(exp: Experiment, nets: list[Any]) -> None:
    """`ExperimentError` when the blobs of `nets` (CPU backends) need more memory than is
    available now: they are allocated lazily, so the training would fail (or be killed)
    when it first touched them."""
    import numpy as np

    nets = [n for n in nets if n is not None]
    if not nets or getattr(nets[0].backend, "xp", None) is not np:
        return
    need, have = sum(_net_bytes(n) for n in nets), available_memory()
    if have is not None and need > have:
        raise ExperimentError(
            f"{exp.path.name}: the nets need {_gib(need)} for their blobs, more than the "
            f"{_gib(have)} of memory available; lower batch_size or output_dim"
        )


def build_solver(
    exp: Experiment,
    test_net: Any = None,
    max_iter: int | None = None,
    load_from: str = "",
    weights_only: bool = False,
    allow_foreign_snapshot: bool = False,
) -> Any:
    """The solver of the [solver] table with the lounge and coffee breaks of the file.

    Its snapshots record `exp.identity`; `load_from` refuses a snapshot of another
    experiment unless `allow_foreign_snapshot`, and with `weights_only` it loads only the
    parameters and starts at iteration 0 (see `mocha.core.resume.load_from_path`)."""
    from mocha.core.coffee import add_coffee_break, setup_coffee_lounge
    from mocha.core.solver import Solver, make_solver_parameters

    table = dict(exp.solver)
    method = lookup("solvers", table.pop("method"))()
    if max_iter is not None:
        table["max_iter"] = max_iter
    if "max_iter" not in table:  # Mocha's default max_iter is inf: the run would never end
        what = "has no [solver] table" if not exp.solver_given else "[solver] has no max_iter"
        raise ExperimentError(
            f"{exp.path.name} {what}, so training would never stop; add "
            f"[solver] with max_iter = N (or pass --max-iter N)"
        )
    if load_from:
        table["load_from"] = load_from
    try:
        solver = Solver(method, make_solver_parameters(method, **table))
    except MochaError as exc:
        raise ExperimentError(f"{exp.path.name}: [solver]: {exc}") from None
    solver.experiment_id = exp.identity
    solver.allow_foreign_snapshot = allow_foreign_snapshot
    solver.load_weights_only = weights_only
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
                    f'{where}: needs a validation net; give some [[layers]] phase = "test" '
                    f"(a data layer reading the validation set and e.g. an AccuracyLayer)"
                )
            spec[pname] = test_net
            break
    spec = {
        k: exp.resolve(v) if k in PATH_KEYS and isinstance(v, str) else as_tuples(v)
        for k, v in spec.items()
    }
    try:
        coffee = cls(*args, **spec)
    except MochaError as exc:
        raise ExperimentError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise ExperimentError(f"{where}: {exc} (parameters: {', '.join(params)})") from None
    return coffee, n_iter, n_epoch
