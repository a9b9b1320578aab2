"""Experiment files: a whole training job (backend, layers, solver, coffee breaks) in TOML.

`load_experiment(path)` parses and validates a file and builds every layer object (so a bad
field is reported before anything runs); `build_nets`, `build_solver` and `run_experiment`
turn it into nets and train them. The format is documented in `docs/experiment-files.md`;
in short::

    name = "digits"
    [backend]                       # name, dtype, seed
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
import difflib
import inspect
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mocha.core.components import (
    Constraint,
    DataTransformer,
    Initializer,
    Neuron,
    Regularizer,
)
from mocha.core.errors import MochaError, UnknownNameError
from mocha.core.layer import Layer
from mocha.core.policies import LRPolicy, MomPolicy
from mocha.core.registry import get_registry, lookup
from mocha.experiment.providers import is_provider_source, load_provider

PHASES = ("train", "test", "both")
TOP_LEVEL_KEYS = ("name", "description", "backend", "layers", "solver", "coffee_breaks", "lounge")
BACKEND_KEYS = ("name", "dtype", "seed")
LOUNGE_KEYS = ("save_into", "every_n_iter", "file_exists")
PROVIDER_KEYS = ("source", "split", "test_fraction", "split_seed", "sample_shape")
# keys whose string values are file-system paths, resolved against the experiment's folder
PATH_KEYS = frozenset({"source", "load_from", "save_into", "dir", "directory", "path",
                       "mean_file", "filename", "folder"})
COMPONENT_KINDS: tuple[tuple[type, str], ...] = (
    (Neuron, "neurons"),
    (Initializer, "initializers"),
    (Regularizer, "regularizers"),
    (Constraint, "constraints"),
    (DataTransformer, "data_transformers"),
)
# field names that hold a component even when their default does not tell (e.g. None)
NAME_HINTS: tuple[tuple[str, str], ...] = (
    (r"^neuron$", "neurons"), (r"_init$", "initializers"), (r"_regu$", "regularizers"),
    (r"_cons$", "constraints"),
)
VALIDATION_NET_PARAMS = ("validation_net", "test_net", "net")


class ExperimentError(MochaError):
    """An experiment file is malformed, names an unknown thing or configures it badly."""


@dataclass
class LayerEntry:
    """One `[[layers]]` table: the layer object and the nets it belongs to."""

    layer: Layer
    phase: str = "both"  # "train", "test" or "both"
    index: int = 0


@dataclass
class Experiment:
    """A parsed and validated experiment file."""

    path: Path
    name: str
    backend: dict[str, Any] = field(default_factory=dict)
    layers: list[LayerEntry] = field(default_factory=list)
    solver: dict[str, Any] = field(default_factory=dict)
    coffee_breaks: list[dict[str, Any]] = field(default_factory=list)
    lounge: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def resolve(self, value: str) -> str:
        """A path from the file, made absolute against the experiment's folder."""
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (self.folder / p))

    def layers_for(self, phase: str) -> list[Layer]:
        """The layers of the "train" or "test" net, in file order."""
        return [e.layer for e in self.layers if e.phase in (phase, "both")]

    @property
    def has_test_net(self) -> bool:
        return any(e.phase == "test" for e in self.layers)


# -- loading -------------------------------------------------------------------------------
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
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{path}: invalid TOML: {exc}") from None
    return parse_experiment(raw, path.resolve())


def parse_experiment(raw: dict[str, Any], path: Path) -> Experiment:
    """Build an `Experiment` from an already parsed TOML document (`path` locates files)."""
    _check_keys(raw, TOP_LEVEL_KEYS, f"{path.name}: top level")
    exp = Experiment(path=path, name=str(raw.get("name") or path.stem))
    exp.backend = _table(raw, "backend", path)
    _check_keys(exp.backend, BACKEND_KEYS, f"{path.name}: [backend]")
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
    breaks = raw.get("coffee_breaks", [])
    if not isinstance(breaks, list) or not all(isinstance(b, dict) for b in breaks):
        raise ExperimentError(f"{path.name}: coffee_breaks must be [[coffee_breaks]] tables")
    for i, spec in enumerate(breaks):
        where = f"{path.name}: coffee_breaks[{i}]"
        if "type" not in spec:
            raise ExperimentError(f"{where}: missing 'type' (e.g. type = \"TrainingSummary\")")
        exp.coffee_breaks.append(dict(spec))
    exp.lounge = _table(raw, "lounge", path)
    _check_keys(exp.lounge, LOUNGE_KEYS, f"{path.name}: [lounge]")
    if "save_into" in exp.lounge:
        exp.lounge["save_into"] = exp.resolve(str(exp.lounge["save_into"]))
    return exp


def _table(raw: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ExperimentError(f"{path.name}: {key!r} must be a table ([{key}]), got {value!r}")
    return dict(value)


def _check_keys(table: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ExperimentError(
                f"{where}: unknown key {key!r}{hint}; known keys: {', '.join(known)}"
            )


def _lookup(kind: str, name: Any, where: str) -> Any:
    if not isinstance(name, str):
        raise ExperimentError(f"{where}: 'type' must be a string naming a {kind} entry")
    try:
        return lookup(kind, name)
    except UnknownNameError as exc:
        raise ExperimentError(f"{where}: {exc}") from None


# -- layers --------------------------------------------------------------------------------
def _build_layer(exp: Experiment, i: int, spec: Any) -> LayerEntry:
    where = f"{exp.path.name}: layers[{i}]"
    if not isinstance(spec, dict):
        raise ExperimentError(f"{where}: must be a [[layers]] table")
    spec = dict(spec)
    if "type" not in spec:
        raise ExperimentError(f"{where}: missing 'type' (e.g. type = \"InnerProductLayer\")")
    cls = _lookup("layers", spec.pop("type"), where)
    if "name" in spec:
        where += f" {spec['name']!r}"
    phase = spec.pop("phase", "both")
    if phase not in PHASES:
        raise ExperimentError(f"{where}: phase = {phase!r}; use one of {', '.join(PHASES)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if "source" in spec and "data" in fields and "source" not in fields:
        options = {k: spec.pop(k) for k in PROVIDER_KEYS if k in spec}
        spec["data"] = _provider_arrays(exp, options, spec.get("tops"), where)
    kwargs = {}
    for key, value in spec.items():
        f = fields.get(key)
        default = None
        if f is not None and f.default is not dataclasses.MISSING:
            default = f.default
        kwargs[key] = _field_value(exp, key, value, default, f"{where}, field {key!r}")
    try:
        layer = cls(**kwargs)
    except MochaError as exc:
        raise ExperimentError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ExperimentError(f"{where}: {cls.__name__}: {exc}") from None
    return LayerEntry(layer, phase, i)


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


def _component_kind(key: str, default: Any) -> str | None:
    for base, kind in COMPONENT_KINDS:
        if isinstance(default, base):
            return kind
    if default is None:
        for pattern, kind in NAME_HINTS:
            if re.search(pattern, key):
                return kind
    return None


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | tuple | list | dict)


def _field_value(exp: Experiment, key: str, value: Any, default: Any, where: str) -> Any:
    """The Python value of one layer field given in TOML."""
    if key == "transformers":
        return tuple(_transformer(exp, item, f"{where}[{j}]") for j, item in enumerate(value))
    kind = _component_kind(key, default)
    if kind is not None and isinstance(value, str | dict):
        return _make_component(exp, kind, value, where)
    if not _is_plain(default) and isinstance(value, str | dict):
        return _make_variant(exp, default, value, where)
    if key in PATH_KEYS and isinstance(value, str) and not is_provider_source(value):
        return exp.resolve(value)
    return _tuples(value)


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _split_spec(value: str | dict, where: str) -> tuple[str, dict[str, Any]]:
    if isinstance(value, str):
        return value, {}
    if "type" not in value:
        raise ExperimentError(f"{where}: an inline table needs 'type', e.g. {{type = \"ReLU\"}}")
    rest = {k: _tuples(v) for k, v in value.items() if k != "type"}
    return value["type"], rest


def _construct(cls: Any, kwargs: dict[str, Any], where: str) -> Any:
    try:
        return cls(**kwargs)
    except MochaError as exc:
        raise ExperimentError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        try:
            params = ", ".join(inspect.signature(cls).parameters) or "none"
        except (TypeError, ValueError):
            params = "?"
        raise ExperimentError(f"{where}: {cls.__name__}: {exc} (parameters: {params})") from None


def _make_component(exp: Experiment, kind: str, value: str | dict, where: str) -> Any:
    name, kwargs = _split_spec(value, where)
    cls = _lookup(kind, name, where)
    kwargs = {k: exp.resolve(v) if k in PATH_KEYS and isinstance(v, str) else v
              for k, v in kwargs.items()}
    return _construct(cls, kwargs, where)


def _variant_family(default: Any) -> dict[str, type]:
    """Classes a field whose default is `default` may take, by name: subclasses of the
    default's base class, and the members of a namespace class of the default's module that
    holds the default's class (`Pooling.Max`, `Pooling.Mean` for a `MaxPooling()` default)."""
    import sys

    cls = type(default)
    family: dict[str, type] = {}
    base = next((c for c in cls.__mro__[1:] if c is not object), None)
    stack = [base] if base is not None else []
    while stack:
        c = stack.pop()
        family.setdefault(c.__name__, c)
        stack.extend(c.__subclasses__())
    module = sys.modules.get(cls.__module__)
    for holder in vars(module).values() if module else ():
        members = {k: v for k, v in vars(holder).items() if isinstance(v, type)} if isinstance(
            holder, type) else {}
        if cls in members.values():
            family.update(members)
    family.setdefault(cls.__name__, cls)
    return family


def _make_variant(exp: Experiment, default: Any, value: str | dict, where: str) -> Any:
    """A field whose default is an object of a small class family (`Pooling.Max()`): the
    TOML name picks a member of the family. A string naming no member is passed on unchanged
    (the layer's own converter may accept it, e.g. `pooling = "mean"`)."""
    family = _variant_family(default)
    if isinstance(value, str) and value not in family:
        return value
    name, kwargs = _split_spec(value, where)
    if name not in family:
        close = difflib.get_close_matches(name, sorted(family), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ExperimentError(f"{where}: unknown type {name!r}.{hint} Known: "
                              f"{', '.join(sorted(family))}")
    return _construct(family[name], kwargs, where)


def _transformer(exp: Experiment, item: Any, where: str) -> tuple[str, Any]:
    if isinstance(item, list | tuple) and len(item) == 2:
        top, spec = item
    elif isinstance(item, dict):
        spec = dict(item)
        top = spec.pop("top", "data")
    else:
        raise ExperimentError(
            f"{where}: a transformer is {{top = \"data\", type = \"SubMean\", ...}}, got {item!r}"
        )
    return str(top), _make_component(exp, "data_transformers", spec, where)


# -- solver and policies -------------------------------------------------------------------
def _parse_solver(exp: Experiment, table: dict[str, Any]) -> dict[str, Any]:
    where = f"{exp.path.name}: [solver]"
    out = {k: _tuples(v) for k, v in table.items()}
    out.setdefault("method", "SGD")
    method = _lookup("solvers", out["method"], f"{where}, method")()
    from mocha.core.solver import BASE_PARAMETERS

    known = ("method", *BASE_PARAMETERS, "lr_policy", "mom_policy", *method.defaults(),
             *method.required)
    _check_keys(out, tuple(dict.fromkeys(known)), f"{where} ({out['method']})")
    for key, namespace in (("lr_policy", LRPolicy), ("mom_policy", MomPolicy)):
        if key in out:
            out[key] = make_policy(namespace, out[key], f"{where}, {key}")
    if out.get("load_from"):
        out["load_from"] = exp.resolve(str(out["load_from"]))
    return out


def make_policy(namespace: Any, value: Any, where: str) -> Any:
    """A policy from TOML: a number (Fixed), `{type = "Inv", base_lr = ...}`, or
    `{type = "Staged", stages = [{n_iter = 1000, type = "Fixed", base_lr = 0.01}, ...]}`."""
    label = namespace.__name__
    if isinstance(value, int | float) and not isinstance(value, bool):
        return namespace.Fixed(value)
    if not isinstance(value, dict) or "type" not in value:
        raise ExperimentError(
            f"{where}: a policy is a number or an inline table with 'type', got {value!r}"
        )
    spec = dict(value)
    name = spec.pop("type")
    known = sorted(n for n in dir(namespace) if not n.startswith("_"))
    if name not in known:
        close = difflib.get_close_matches(str(name), known, n=2)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ExperimentError(f"{where}: unknown {label} {name!r}.{hint} Known: {', '.join(known)}")
    cls = getattr(namespace, name)
    if name == "Staged":
        stages = spec.pop("stages", None)
        if not isinstance(stages, list) or not stages or spec:
            raise ExperimentError(
                f"{where}: Staged takes only 'stages', a list of "
                f"{{n_iter = N, type = \"Fixed\", ...}} tables"
            )
        built = []
        for j, stage in enumerate(stages):
            stage = dict(stage) if isinstance(stage, dict) else {}
            if "n_iter" not in stage:
                raise ExperimentError(f"{where}: stages[{j}] needs n_iter and a policy type")
            n = stage.pop("n_iter")
            built.append((n, make_policy(namespace, stage, f"{where}, stages[{j}]")))
        return _construct(cls, {}, where) if not built else cls(*built)
    return _construct(cls, spec, where)


# -- building nets, solver and coffee breaks -----------------------------------------------
def make_experiment_backend(exp: Experiment, name: str | None = None) -> Any:
    """The backend named by `name` (else the file's [backend], else "default"), initialized."""
    from mocha.core.backend import init
    from mocha.core.backends import make_backend

    chosen = name or exp.backend.get("name", "default")
    try:
        backend = make_backend(chosen, dtype=exp.backend.get("dtype", "float32"),
                               seed=int(exp.backend.get("seed", 0)))
    except (MochaError, ValueError, TypeError) as exc:
        raise ExperimentError(f"{exp.path.name}: backend {chosen!r}: {exc}") from None
    init(backend)
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
    if name not in get_registry().names("coffee_breaks"):
        try:
            lookup("coffee_breaks", name)
        except UnknownNameError as exc:
            raise ExperimentError(
                f"{where}: {exc} (is the plugin that provides it installed? see `mocha plugins`)"
            ) from None
    cls = lookup("coffee_breaks", name)
    n_iter, n_epoch = int(spec.pop("every_n_iter", 0)), int(spec.pop("every_n_epoch", 0))
    if n_iter <= 0 and n_epoch <= 0:
        raise ExperimentError(f"{where}: set every_n_iter or every_n_epoch to a number > 0")
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
    spec = {k: exp.resolve(v) if k in PATH_KEYS and isinstance(v, str) else _tuples(v)
            for k, v in spec.items()}
    try:
        coffee = cls(*args, **spec)
    except MochaError as exc:
        raise ExperimentError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise ExperimentError(f"{where}: {exc} (parameters: {', '.join(params)})") from None
    return coffee, n_iter, n_epoch
