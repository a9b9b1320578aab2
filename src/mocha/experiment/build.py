"""Building what an experiment file describes: the backend, the nets, the solver with its
lounge and coffee breaks."""

from __future__ import annotations

import inspect
import os
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
from mocha.experiment.options import RunOptions

VALIDATION_NET_PARAMS = ("validation_net", "test_net", "net")


def make_experiment_backend(exp: Experiment, name: str | None = None) -> Any:
    """The backend named by `name` (else the file's [backend], else "default"), initialized.

    `[backend] device = N` picks CUDA device N on a GPU backend (before
    `MOCHA_CUDA_DEVICE`); a CPU backend (`default` without a usable GPU) ignores it."""
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
        if exp.backend.get("device") is not None:
            _use_device(backend, check_device_field(exp.backend["device"]))
    except (MochaError, ValueError, TypeError) as exc:
        raise ExperimentError(f"{exp.path.name}: backend {chosen!r}: {exc}") from None
    try:
        init(backend)
    except ValueError as exc:  # e.g. more threads than numba's pool has
        raise ExperimentError(f"{exp.path.name}: backend {chosen!r}: {exc}") from None
    return backend


def _use_device(backend: Any, device: int) -> None:
    if getattr(backend, "device", "cpu") != "gpu":
        return  # a CPU backend has no device to choose
    use = getattr(backend, "use_device", None)
    if use is None:
        raise MochaError(f"backend {backend.name!r} cannot choose a CUDA device ([backend] device)")
    use(device)


def check_device_field(device: Any) -> int:
    """`[backend] device` as a whole number >= 0 (a `MochaError` naming the field)."""
    if isinstance(device, bool) or not isinstance(device, int) or device < 0:
        raise MochaError(
            f"[backend] device must be a CUDA device number (0, 1, ...), not {device!r}"
        )
    return device


def build_nets(exp: Experiment, backend: Any, check: bool = True) -> tuple[Any, Any]:
    """The training net and (when some layer has phase = "test") the validation net.

    Sizes too large for this machine (`output_dim`, `batch_size`, data shapes) are an
    `ExperimentError`: when the array library refuses an allocation, and, on the CPU
    backends, when the blobs of the nets (allocated lazily by the OS, not touched yet) need
    more than the memory available now (`check`; a training run checks once, later, with
    its solver's state counted too)."""
    train = _make_net(exp, f"{exp.name}-train", backend, "train")
    test = None
    try:
        if exp.has_test_net:
            test = _make_net(exp, f"{exp.name}-test", backend, "test")
        if check:
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
    """Bytes of memory available now: the machine's (Linux `MemAvailable`, else free physical
    pages), or less when this process's cgroup (a container, a SLURM job) allows less."""
    machine = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    machine = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if machine is None:
        try:
            machine = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            pass
    group = cgroup_memory_left()
    known = [m for m in (machine, group) if m is not None]
    return min(known) if known else None


def cgroup_memory_left(root: str = "/sys/fs/cgroup", own: str = "/proc/self/cgroup") -> int | None:
    """What this process's memory cgroup still allows (limit - usage; v2 `memory.max` /
    `memory.current`, v1 `memory.limit_in_bytes` / `memory.usage_in_bytes`), None without a
    limit."""
    try:
        with open(own, encoding="utf-8") as f:
            lines = [line.rstrip("\n").split(":", 2) for line in f]
    except OSError:
        return None
    places = []
    for _, controllers, path in (x for x in lines if len(x) == 3):
        if controllers == "":  # v2
            places.append((root, path, "memory.max", "memory.current"))
        elif "memory" in controllers.split(","):  # v1
            v1 = os.path.join(root, "memory")
            places.append((v1, path, "memory.limit_in_bytes", "memory.usage_in_bytes"))
    for base, path, limit_name, usage_name in places:
        for folder in (os.path.join(base, path.lstrip("/")), base):  # inside a container: /
            try:
                with open(os.path.join(folder, limit_name), encoding="ascii") as f:
                    limit = f.read().strip()
                with open(os.path.join(folder, usage_name), encoding="ascii") as f:
                    usage = int(f.read().strip())
            except (OSError, ValueError):
                continue
            if limit != "max" and int(limit) < 2**60:  # v1 says "no limit" with a huge number
                return max(0, int(limit) - usage)
            break
    return None


def _gib(n: int | None) -> str:
    if n is None:
        return "unknown"
    return f"{n / 2**30:.2f} GiB" if n >= 2**27 else f"{n / 2**20:.1f} MiB"


def _layer_bytes(net: Any, history_slots: int, seen: set[int]) -> dict[str, dict[str, int]]:
    """Per layer: bytes of its weights, their gradients, the solver's history of them, and of
    its outputs and their gradients (activations); each array counted once (`seen`)."""
    out: dict[str, dict[str, int]] = {}

    def size(blob: Any) -> int:
        data = getattr(blob, "data", None)
        if data is None or id(data) in seen:
            return 0
        seen.add(id(data))
        return int(getattr(data, "nbytes", 0))

    for state in net.states:
        params = getattr(state, "parameters", []) or []
        weights = sum(size(p.blob) for p in params)
        row = {
            "weights": weights,
            "gradients": sum(size(p.gradient) for p in params),
            "solver state": weights * history_slots,
            "activations": sum(size(net.output_blobs.get(t)) for t in state.layer.tops)
            + sum(size(net.diff_blobs.get(t)) for t in state.layer.tops)
            + sum(size(b) for b in getattr(state, "blobs", []) or []),
        }
        out[state.layer.name] = row
    for name, blob in [*net.output_blobs.items(), *net.diff_blobs.items()]:
        left = size(blob)
        if left:
            out.setdefault(f"blob {name}", {"activations": 0})["activations"] += left
    return out


def check_memory(exp: Experiment, nets: list[Any], method: Any = None) -> None:
    """`ExperimentError` when what training will hold (CPU backends) exceeds the memory the
    machine or this process's cgroup has left: the weights, their gradients, the solver's
    history of them (`method.history_slots` arrays per weight; none without a `method`), the
    activations and their gradients. The arrays are allocated lazily, so without this check
    the training would be killed by the kernel, with no message, when it first touched
    them."""
    import numpy as np

    nets = [n for n in nets if n is not None]
    if not nets or getattr(nets[0].backend, "xp", None) is not np:
        return
    slots = method.history_slots if method is not None else 0
    rows: dict[str, dict[str, int]] = {}
    seen: set[int] = set()  # an array shared by two nets (their parameters) counts once
    for net in nets:
        for name, row in _layer_bytes(net, slots, seen).items():
            total = rows.setdefault(name, {})
            for key, value in row.items():
                total[key] = total.get(key, 0) + value
    parts: dict[str, int] = {}
    for row in rows.values():
        for key, value in row.items():
            parts[key] = parts.get(key, 0) + value
    need, have = sum(parts.values()), available_memory()
    if have is None or need <= have:
        return
    name, row = max(rows.items(), key=lambda kv: sum(kv[1].values()))
    detail = ", ".join(f"{k} {_gib(v)}" for k, v in parts.items() if v)
    biggest = ", ".join(f"{k} {_gib(v)}" for k, v in row.items() if v)
    limit = " (this process's cgroup limit)" if have == cgroup_memory_left() else ""
    raise ExperimentError(
        f"{exp.path.name}: the nets need {_gib(need)} to train ({detail}), more than the "
        f"{_gib(have)} of memory available{limit}; the largest layer is {name!r} "
        f"({biggest}); lower batch_size or output_dim"
    )


def build_solver(
    exp: Experiment, test_net: Any = None, options: RunOptions | None = None, **overrides: Any
) -> Any:
    """The solver of the [solver] table with the lounge and coffee breaks of the file.

    `options` (or `RunOptions` fields as keywords) may override `max_iter` and `load_from`
    and give the `ResumeOptions` (the snapshots record `exp.identity`; `load_from` refuses a
    snapshot of another experiment unless `allow_foreign_snapshot`, and with `weights_only`
    it loads only the parameters and starts at iteration 0; see
    `mocha.core.resume.load_from_path`)."""
    from mocha.core.coffee import add_coffee_break, setup_coffee_lounge
    from mocha.core.solver import Solver, make_solver_parameters

    options = (options or RunOptions()).replace(**overrides)
    table = dict(exp.solver)
    method = lookup("solvers", table.pop("method"))()
    if options.max_iter is not None:
        table["max_iter"] = options.max_iter
    if "max_iter" not in table:  # Mocha's default max_iter is inf: the run would never end
        what = "has no [solver] table" if not exp.solver_given else "[solver] has no max_iter"
        raise ExperimentError(
            f"{exp.path.name} {what}, so training would never stop; add "
            f"[solver] with max_iter = N (or pass --max-iter N)"
        )
    if options.load_from:
        table["load_from"] = options.load_from
    if options.fresh:
        table["load_from"] = ""
    try:
        params = make_solver_parameters(method, **table)
        solver = Solver(method, params, options.resume_options(exp))
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
