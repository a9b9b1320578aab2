"""What a registered name is: its kind, plugin, distribution, summary line and fields (with
types and defaults), for `mocha plugins --kind KIND` and `mocha describe NAME`."""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any

REQUIRED = "(required)"


def _show(value: Any) -> Any:
    """A default as JSON-friendly data: plain values as they are, objects by their repr."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf or nan
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_show(v) for v in value]
    return repr(value)


def fields_of(obj: Any) -> list[dict[str, Any]]:
    """`[{name, type, default}]` of a dataclass's fields (layers) or a class's/function's
    parameters (neurons, solvers, coffee breaks, ...); `default` is "(required)" when none."""
    if dataclasses.is_dataclass(obj):
        out = []
        for f in dataclasses.fields(obj):
            if not f.init or f.name.startswith("_"):
                continue
            if f.default is not dataclasses.MISSING:
                default = _show(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                try:
                    default = _show(f.default_factory())
                except Exception:  # a factory that needs more than nothing
                    default = "(computed)"
            else:
                default = REQUIRED
            out.append({"name": f.name, "type": str(f.type), "default": default})
        return out
    if inspect.isclass(obj) and callable(getattr(obj, "defaults", None)):
        solver = _solver_fields(obj)
        if solver is not None:
            return solver
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        {
            "name": p.name,
            "type": "" if p.annotation is p.empty else str(p.annotation).replace("'", ""),
            "default": REQUIRED if p.default is p.empty else _show(p.default),
        }
        for p in params
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"
    ]


def _solver_fields(cls: Any) -> list[dict[str, Any]] | None:
    """A solver method's parameters (`make_solver_parameters`: the base ones, then the
    method's) with their defaults; None when `cls` is not a solver method."""
    from mocha.core.solver import SolverMethod, known_parameters, make_solver_parameters

    if not issubclass(cls, SolverMethod):
        return None
    try:
        method = cls()
        params = dict(make_solver_parameters(method))
        names = known_parameters(method)
    except Exception:  # a method that cannot be made without arguments
        return None
    return [
        {
            "name": name,
            "type": type(params[name]).__qualname__ if name in params else "",
            "default": _show(params[name]) if name in params else REQUIRED,
        }
        for name in names
    ]


def summary_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def describe_entry(kind: str, entry: Any, full: bool = False) -> dict[str, Any]:
    """One registered name as a dict (the docstring in full with `full`)."""
    out = {
        "name": entry.name,
        "kind": kind,
        "plugin": entry.plugin,
        "distribution": entry.distribution,
        "summary": summary_line(entry.obj),
        "fields": fields_of(entry.obj),
    }
    if full:
        out["doc"] = inspect.getdoc(entry.obj) or ""
    return out


def registered_by(registry: Any) -> dict[str, dict[str, list[str]]]:
    """plugin name -> {kind -> registered names} (kernels as kind "kernels")."""
    out: dict[str, dict[str, list[str]]] = {}
    for kind, table in registry.tables.items():
        for name, entry in sorted(table.items()):
            out.setdefault(entry.plugin, {}).setdefault(kind, []).append(name)
    for name, impls in sorted(registry.kernels.items()):
        for backend, entry in impls.items():
            label = name if backend == "*" else f"{name}[{backend}]"
            out.setdefault(entry.plugin, {}).setdefault("kernels", []).append(label)
    return out
