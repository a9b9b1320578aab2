"""The TOML spelling of nested objects: neurons, initializers, regularizers, constraints,
data transformers, small class families (`Pooling.Max()`) and learning-rate / momentum
policies. See `docs/experiment-files.md`."""

from __future__ import annotations

import difflib
import re
import sys
from typing import Any

from mocha.core.components import (
    Constraint,
    DataTransformer,
    Initializer,
    Neuron,
    Regularizer,
)
from mocha.experiment.base import (
    PATH_KEYS,
    Experiment,
    ExperimentError,
    as_tuples,
    check_value_types,
    construct,
    lookup_named,
    split_spec,
)
from mocha.experiment.providers import is_provider_source

COMPONENT_KINDS: tuple[tuple[type, str], ...] = (
    (Neuron, "neurons"),
    (Initializer, "initializers"),
    (Regularizer, "regularizers"),
    (Constraint, "constraints"),
    (DataTransformer, "data_transformers"),
)
# field names that hold a component even when their default does not tell (e.g. None)
NAME_HINTS: tuple[tuple[str, str], ...] = (
    (r"^neuron$", "neurons"),
    (r"_init$", "initializers"),
    (r"_regu$", "regularizers"),
    (r"_cons$", "constraints"),
)


def component_kind(key: str, default: Any) -> str | None:
    """The registry kind ("neurons", ...) of a layer field, from its default or its name."""
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


def field_value(exp: Experiment, key: str, value: Any, default: Any, where: str) -> Any:
    """The Python value of one layer field given in TOML."""
    if key == "transformers":
        return tuple(make_transformer(exp, item, f"{where}[{j}]") for j, item in enumerate(value))
    kind = component_kind(key, default)
    if kind is not None and isinstance(value, str | dict):
        return make_component(exp, kind, value, where)
    if not _is_plain(default) and isinstance(value, str | dict):
        return make_variant(exp, default, value, where)
    if key in PATH_KEYS and isinstance(value, str) and not is_provider_source(value):
        return exp.resolve(value)
    return as_tuples(value)


def make_component(exp: Experiment, kind: str, value: str | dict, where: str) -> Any:
    """A neuron/initializer/... from `"Name"` or `{type = "Name", arguments...}`."""
    name, kwargs = split_spec(value, where)
    cls = lookup_named(kind, name, where)
    kwargs = {
        k: exp.resolve(v) if k in PATH_KEYS and isinstance(v, str) else v for k, v in kwargs.items()
    }
    check_value_types(cls, kwargs, f"{where} ({name})")
    return construct(cls, kwargs, where)


def variant_family(default: Any) -> dict[str, type]:
    """Classes a field whose default is `default` may take, by name: subclasses of the
    default's base class, and the members of a namespace class of the default's module that
    holds the default's class (`Pooling.Max`, `Pooling.Mean` for a `MaxPooling()` default)."""
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
        members = (
            {k: v for k, v in vars(holder).items() if isinstance(v, type)}
            if isinstance(holder, type)
            else {}
        )
        if cls in members.values():
            family.update(members)
    family.setdefault(cls.__name__, cls)
    return family


def make_variant(exp: Experiment, default: Any, value: str | dict, where: str) -> Any:
    """A field whose default is an object of a small class family (`Pooling.Max()`): the
    TOML name picks a member of the family. A string naming no member is passed on unchanged
    (the layer's own converter may accept it, e.g. `pooling = "mean"`)."""
    family = variant_family(default)
    if isinstance(value, str) and value not in family:
        return value
    name, kwargs = split_spec(value, where)
    if name not in family:
        close = difflib.get_close_matches(name, sorted(family), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ExperimentError(
            f"{where}: unknown type {name!r}.{hint} Known: {', '.join(sorted(family))}"
        )
    return construct(family[name], kwargs, where)


def make_transformer(exp: Experiment, item: Any, where: str) -> tuple[str, Any]:
    """(top, transformer) from `{top = "data", type = "SubMean", ...}` or `[top, spec]`."""
    if isinstance(item, list | tuple) and len(item) == 2:
        top, spec = item
    elif isinstance(item, dict):
        spec = dict(item)
        top = spec.pop("top", "data")
    else:
        raise ExperimentError(
            f'{where}: a transformer is {{top = "data", type = "SubMean", ...}}, got {item!r}'
        )
    return str(top), make_component(exp, "data_transformers", spec, where)


def make_policy(namespace: Any, value: Any, where: str) -> Any:
    """A policy from TOML: a number (Fixed), `{type = "Inv", base_lr = ...}`, or
    `{type = "Staged", stages = [{n_iter = 1000, type = "Fixed", base_lr = 0.01}, ...]}`."""
    label = namespace.__name__
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return namespace.Fixed(value)
        except ValueError as exc:
            raise ExperimentError(f"{where}: {exc}") from None
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
                f'{{n_iter = N, type = "Fixed", ...}} tables'
            )
        built = []
        for j, stage in enumerate(stages):
            stage = dict(stage) if isinstance(stage, dict) else {}
            if "n_iter" not in stage:
                raise ExperimentError(f"{where}: stages[{j}] needs n_iter and a policy type")
            n = stage.pop("n_iter")
            built.append((n, make_policy(namespace, stage, f"{where}, stages[{j}]")))
        if not built:
            return construct(cls, {}, where)
        try:
            return cls(*built)
        except ValueError as exc:
            raise ExperimentError(f"{where}: {exc}") from None
    return construct(cls, spec, where)
