"""Experiment files: a whole training job (backend, layers, solver, coffee breaks) in TOML.

`load_experiment(path)` parses and validates a file and builds every layer object (so a bad
field is reported before anything runs); `build_nets`, `build_solver` and `run_experiment`
turn it into nets and train them. The format is documented in `docs/experiment-files.md`;
in short::

    name = "digits"
    [backend]                       # name, dtype, seed, threads, device
    [[layers]]                      # type = "<registered layer name>", phase, fields...
    [solver]                        # method, max_iter, regu_coef, lr_policy, mom_policy, ...
    [[coffee_breaks]]               # type, every_n_iter | every_n_epoch, arguments...
    [lounge]                        # save_into, every_n_iter, file_exists

Every error about the file is an `ExperimentError` (a `MochaError`) whose message names the
file and the place in it (`layers[2] 'ip1', field 'neuron'`). Relative paths resolve against
the experiment file's folder. This module is a library: it never prints and never exits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

from mocha.core.errors import MochaError
from mocha.core.policies import LRPolicy, MomPolicy
from mocha.experiment.base import (
    Experiment,
    ExperimentError,
    LayerEntry,
    as_tuples,
    check_keys,
    check_value_types,
    lookup_named,
)
from mocha.experiment.providers import is_provider_source, load_provider
from mocha.experiment.spelling import field_value, make_policy

PHASES = ("train", "test", "both")
TOP_LEVEL_KEYS = (
    "name",
    "description",
    "backend",
    "layers",
    "solver",
    "coffee_breaks",
    "lounge",
    "init",
)
BACKEND_KEYS = ("name", "dtype", "seed", "threads", "device")
LOUNGE_KEYS = ("save_into", "every_n_iter", "file_exists")
PROVIDER_KEYS = ("source", "split", "test_fraction", "split_seed", "sample_shape")


def load_experiment(path: str | Path) -> Experiment:
    """Parse, validate and build the layers of the experiment file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExperimentError(f"experiment file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"cannot read experiment file {str(path)!r}: {exc}") from None
    try:
        raw = tomllib.loads(text)
        return parse_experiment(raw, path.resolve())
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ExperimentError(
            f"{path}: a value is nested too deeply (arrays or tables inside "
            f"each other hundreds of levels deep)"
        ) from None


def parse_experiment(raw: dict[str, Any], path: Path) -> Experiment:
    """Build an `Experiment` from an already parsed TOML document (`path` locates files)."""
    check_keys(raw, TOP_LEVEL_KEYS, f"{path.name}: top level")
    exp = Experiment(
        path=path, name=str(raw.get("name") or path.stem), identity=experiment_identity(raw)
    )
    exp.backend = _table(raw, "backend", path)
    check_keys(exp.backend, BACKEND_KEYS, f"{path.name}: [backend]")
    layers = raw.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ExperimentError(f"{path.name}: no [[layers]] tables; an experiment needs layers")
    names: dict[str, int] = {}
    for i, spec in enumerate(layers):
        entry = _build_layer(exp, i, spec)
        if entry.layer.name in names:
            raise ExperimentError(
                f"{path.name}: layers[{i}] and layers[{names[entry.layer.name]}] are both named "
                f"{entry.layer.name!r}; layer names must be unique (they key the parameters)"
            )
        names[entry.layer.name] = i
        exp.layers.append(entry)
    exp.solver = _parse_solver(exp, _table(raw, "solver", path))
    exp.solver_given = "solver" in raw
    breaks = raw.get("coffee_breaks", [])
    if not isinstance(breaks, list) or not all(isinstance(b, dict) for b in breaks):
        raise ExperimentError(f"{path.name}: coffee_breaks must be [[coffee_breaks]] tables")
    for i, spec in enumerate(breaks):
        where = f"{path.name}: coffee_breaks[{i}]"
        if "type" not in spec:
            raise ExperimentError(f"{where}: missing 'type' (e.g. type = \"TrainingSummary\")")
        try:
            lookup_named("coffee_breaks", spec["type"], where)
        except ExperimentError as exc:
            raise ExperimentError(
                f"{exc} (is the plugin that provides it installed? see `mocha plugins`)"
            ) from None
        every = [spec.get(k, 0) for k in ("every_n_iter", "every_n_epoch")]
        if not all(isinstance(n, int) and n >= 0 for n in every) or max(every) <= 0:
            raise ExperimentError(
                f"{where} ({spec['type']}): set every_n_iter or every_n_epoch to an integer > 0"
            )
        exp.coffee_breaks.append(dict(spec))
    exp.lounge = _table(raw, "lounge", path)
    _check_lounge(exp, f"{path.name}: [lounge]")
    if "init" in raw:  # fine-tuning: layers started from a model's weights (finetune.py)
        from mocha.experiment.finetune import parse_init

        exp.init = parse_init(exp, raw["init"])
    return exp


FILE_EXISTS = ("merge", "overwrite", "panic")


def _check_lounge(exp: Experiment, where: str) -> None:
    lounge = exp.lounge
    check_keys(lounge, LOUNGE_KEYS, where)
    if "save_into" in lounge:
        value = lounge["save_into"]
        if not isinstance(value, str) or not value.strip():
            raise ExperimentError(
                f"{where}: save_into = {value!r}; give the statistics file's "
                f'path as a string, e.g. save_into = "statistics.h5"'
            )
        lounge["save_into"] = exp.resolve(value)
        check_writable_file(lounge["save_into"], f"{where}: save_into")
    every = lounge.get("every_n_iter", 1)
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise ExperimentError(
            f"{where}: every_n_iter = {every!r}; use an integer >= 0 (how "
            f"often the statistics are saved; 0: only at the end)"
        )
    if lounge.get("file_exists", "merge") not in FILE_EXISTS:
        raise ExperimentError(
            f"{where}: file_exists = {lounge['file_exists']!r}; use one of {', '.join(FILE_EXISTS)}"
        )


def check_writable_file(path: str, where: str) -> None:
    """`ExperimentError` unless a file can be created at `path`: its nearest existing
    ancestor must be a writable folder (folders below it are created later)."""
    import os

    if os.path.isdir(path):
        raise ExperimentError(f"{where}: {path!r} is a folder, not a file")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ExperimentError(
            f"{where}: cannot create {path!r}: {parent!r} is a file, not a folder"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExperimentError(f"{where}: cannot create {path!r}: folder {parent!r} is not writable")


# What may change between a run and its resume without making it another experiment.
RESUMABLE_CHANGES = {
    "": ("description", "coffee_breaks", "lounge"),
    "backend": ("name", "device"),
    "solver": ("max_iter", "load_from"),
}


def experiment_identity(raw: dict[str, Any]) -> str:
    """SHA-256 of the experiment's content (name, layers, solver, backend dtype and seed),
    leaving out what a resume may change: `max_iter`, `load_from`, the backend's name, the
    coffee breaks, the lounge and the description. Snapshots record it."""
    kept = {k: v for k, v in raw.items() if k not in RESUMABLE_CHANGES[""]}
    for section, keys in RESUMABLE_CHANGES.items():
        if section and isinstance(kept.get(section), dict):
            kept[section] = {k: v for k, v in kept[section].items() if k not in keys}
    text = json.dumps(kept, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _table(raw: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ExperimentError(f"{path.name}: {key!r} must be a table ([{key}]), got {value!r}")
    return dict(value)


def _build_layer(exp: Experiment, i: int, spec: Any) -> LayerEntry:
    where = f"{exp.path.name}: layers[{i}]"
    if not isinstance(spec, dict):
        raise ExperimentError(f"{where}: must be a [[layers]] table")
    spec = dict(spec)
    if "type" not in spec:
        raise ExperimentError(f"{where}: missing 'type' (e.g. type = \"InnerProductLayer\")")
    cls = lookup_named("layers", spec.pop("type"), where)
    if "name" in spec:
        where += f" {spec['name']!r}"
    phase = spec.pop("phase", "both")
    if phase not in PHASES:
        raise ExperimentError(f"{where}: phase = {phase!r}; use one of {', '.join(PHASES)}")
    placeholder = spec.pop("placeholder", False)
    if not isinstance(placeholder, bool):
        raise ExperimentError(f"{where}: placeholder = {placeholder!r}; use true or false")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    source = ""
    if "source" in spec and "data" in fields and "source" not in fields:
        options = {k: spec.pop(k) for k in PROVIDER_KEYS if k in spec}
        split = f", split {options['split']!r}" if options.get("split", "all") != "all" else ""
        source = f"data source {options['source']!r}{split}"
        spec["data"] = _provider_arrays(exp, options, spec.get("tops"), where)
    kwargs = {}
    check_value_types(cls, spec, where)
    for key, value in spec.items():
        f = fields.get(key)
        default = None
        if f is not None and f.default is not dataclasses.MISSING:
            default = f.default
        kwargs[key] = field_value(exp, key, value, default, f"{where}, field {key!r}")
    try:
        layer = cls(**kwargs)
    except MochaError as exc:
        raise ExperimentError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ExperimentError(f"{where}: {cls.__name__}: {exc}") from None
    return LayerEntry(layer, phase, i, placeholder, source)


def _provider_arrays(exp: Experiment, options: dict[str, Any], tops: Any, where: str) -> Any:
    source = str(options.pop("source"))
    if not is_provider_source(source):
        source = exp.resolve(source)
    try:
        return tuple(load_provider(source, tops=tops, **options))
    except MochaError as exc:
        raise ExperimentError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise ExperimentError(f"{where}: data source {source!r}: {exc}") from None


def _parse_solver(exp: Experiment, table: dict[str, Any]) -> dict[str, Any]:
    """The [solver] table, checked like `make_solver_parameters` checks its keywords: every
    key must be one the method reads (with a did-you-mean, e.g. `momentum = 0.9` -> use
    `mom_policy = 0.9`) and every value of the right kind and range."""
    where = f"{exp.path.name}: [solver]"
    out = {k: as_tuples(v) for k, v in table.items()}
    out.setdefault("method", "SGD")
    method = lookup_named("solvers", out["method"], f"{where}, method")()
    from mocha.core.errors import SolverError
    from mocha.core.solver import (
        check_parameter_values,
        known_parameters,
        unknown_parameter_message,
    )

    known = ("method", *known_parameters(method))
    for key, value in out.items():
        if key not in known:
            raise ExperimentError(
                f"{where} ({out['method']}): unknown key {key!r}: "
                f"{unknown_parameter_message(method, key, value, toml=True)}"
            )
    for key, namespace in (("lr_policy", LRPolicy), ("mom_policy", MomPolicy)):
        if key in out:
            out[key] = make_policy(namespace, out[key], f"{where}, {key}")
    try:
        check_parameter_values(method, {k: v for k, v in out.items() if k != "method"})
    except SolverError as exc:
        raise ExperimentError(f"{where} ({out['method']}): {exc}") from None
    if out.get("load_from"):
        out["load_from"] = exp.resolve(str(out["load_from"]))
    return out
