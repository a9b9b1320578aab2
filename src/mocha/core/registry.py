"""The registry: every layer, backend, kernel, solver, coffee break, ... found by name.

It is built once from a plugin manager by calling each `mocha_register_<kind>` hook with a
`register` callable. Lookups of unknown names raise `UnknownNameError` listing the known names
of that kind (and the closest matches).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mocha.core.backend import check_kernel_name
from mocha.core.errors import PluginError, UnknownNameError

KINDS: dict[str, str] = {
    # kind -> hook name
    "layers": "mocha_register_layers",
    "backends": "mocha_register_backends",
    "solvers": "mocha_register_solvers",
    "coffee": "mocha_register_coffee",
    "neurons": "mocha_register_neurons",
    "initializers": "mocha_register_initializers",
    "regularizers": "mocha_register_regularizers",
    "constraints": "mocha_register_constraints",
    "data_transformers": "mocha_register_data_transformers",
    "data_providers": "mocha_register_data_providers",
    "datasets": "mocha_register_datasets",
}
# earlier spellings of a kind, still accepted: kind -> kind, hook -> kind
KIND_ALIASES: dict[str, str] = {"coffee_breaks": "coffee"}
HOOK_ALIASES: dict[str, str] = {"mocha_register_coffee_breaks": "coffee"}
# how errors name one thing / several things of a kind (default: from the kind's name)
KIND_LABELS: dict[str, tuple[str, str]] = {"coffee": ("coffee break", "coffee breaks")}


def _labels(kind: str) -> tuple[str, str]:
    return KIND_LABELS.get(kind, (kind.rstrip("s").replace("_", " "), kind.replace("_", " ")))


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    plugin: str
    distribution: str
    replaced: bool = False


@dataclass
class Registry:
    """Name -> entry tables, one per kind, plus the kernel table."""

    tables: dict[str, dict[str, Entry]] = field(default_factory=dict)
    kernels: dict[str, dict[str, Entry]] = field(default_factory=dict)

    # -- lookups -------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Any:
        kind = KIND_ALIASES.get(kind, kind)
        table = self.tables.get(kind, {})
        if name in table:
            return table[name].obj
        known = sorted(table)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        one, many = _labels(kind)
        raise UnknownNameError(
            f"unknown {one} {name!r}.{hint} Known {many}: {', '.join(known) or '(none)'}"
        )

    def names(self, kind: str) -> list[str]:
        return sorted(self.tables.get(KIND_ALIASES.get(kind, kind), {}))

    def entries(self, kind: str) -> list[Entry]:
        kind = KIND_ALIASES.get(kind, kind)
        return [self.tables[kind][n] for n in self.names(kind)]

    def find(self, name: str) -> Any:
        """Look `name` up in every kind (used for `mocha.<PublicName>`)."""
        for table in self.tables.values():
            if name in table:
                return table[name].obj
        raise UnknownNameError(f"no plugin registers a name {name!r}")

    def kernel_table(self) -> dict[str, dict[str, Callable[..., Any]]]:
        return {
            name: {backend: e.obj for backend, e in impls.items()}
            for name, impls in self.kernels.items()
        }


def _registrar(
    registry: Registry, kind: str, plugin: str, distribution_of: Callable[[str], str]
) -> Callable[..., None]:
    table = registry.tables.setdefault(kind, {})

    def register(obj: Any, name: str | None = None, replace: bool = False) -> None:
        key = name or getattr(obj, "registry_name", None) or obj.__name__
        if kind == "backends":
            key = name or obj.name
        if key in table and not replace:
            old = table[key]
            raise PluginError(
                f"{_labels(kind)[0]} {key!r} is registered twice: by plugin {old.plugin!r} "
                f"({old.distribution}) and by plugin {plugin!r} ({distribution_of(plugin)})"
            )
        table[key] = Entry(key, obj, plugin, distribution_of(plugin), replaced=replace)

    return register


def _kernel_registrar(
    registry: Registry, plugin: str, distribution_of: Callable[[str], str]
) -> Callable[..., None]:
    def register(name: str, impl: Callable[..., Any], backend: str = "*", replace: bool = False):
        check_kernel_name(name)  # only the kernels of the table (mocha.core.backend)
        impls = registry.kernels.setdefault(name, {})
        if backend in impls and not replace:
            old = impls[backend]
            raise PluginError(
                f"kernel {name!r} for backend {backend!r} is registered twice: by plugin "
                f"{old.plugin!r} ({old.distribution}) and by plugin {plugin!r} "
                f"({distribution_of(plugin)})"
            )
        impls[backend] = Entry(name, impl, plugin, distribution_of(plugin), replaced=replace)

    return register


def _register_plugin(registry: Registry, pm: Any, plugin_name: str, plugin: Any) -> None:
    hooks = [(hook, kind) for kind, hook in KINDS.items()] + list(HOOK_ALIASES.items())
    for hook, kind in hooks:
        impl = getattr(plugin, hook, None)
        if impl is not None:
            impl(register=_registrar(registry, kind, plugin_name, pm.distribution_of))
    impl = getattr(plugin, "mocha_register_kernels", None)
    if impl is not None:
        impl(register=_kernel_registrar(registry, plugin_name, pm.distribution_of))


def build_registry(pm: Any) -> Registry:
    """Call every registration hook of `pm`, one plugin at a time (so errors name it).

    A duplicate name is always an error. A third-party plugin whose hook raises anything else
    is dropped with a warning (its "failed" row in `pm.infos` says why), unless
    MOCHA_STRICT_PLUGINS is set; Mocha's own plugins raise a `PluginError` naming the plugin.
    """
    registry = Registry()
    for plugin_name, plugin in pm.list_name_plugin():
        saved = ({k: dict(t) for k, t in registry.tables.items()},
                 {k: dict(t) for k, t in registry.kernels.items()})
        try:
            _register_plugin(registry, pm, plugin_name, plugin)
        except PluginError:
            raise
        except Exception as exc:
            dist = pm.distribution_of(plugin_name)
            message = f"{type(exc).__name__}: {exc}"
            infos = getattr(pm, "infos", {})
            third_party = plugin_name in infos and dist != "mocha-dl" and dist != "(extra)"
            if not third_party or os.environ.get("MOCHA_STRICT_PLUGINS", "") not in ("", "0"):
                raise PluginError(f"plugin {plugin_name!r} ({dist}) failed to register: "
                                  f"{message}") from exc
            registry.tables, registry.kernels = saved  # drop what it registered before failing
            warnings.warn(f"mocha plugin {plugin_name!r} from {dist} failed to register and is "
                          f"skipped: {message}", RuntimeWarning, stacklevel=2)
            infos[plugin_name] = dataclasses.replace(infos[plugin_name], status="failed",
                                                     error=message)
    return registry


@functools.cache
def get_registry() -> Registry:
    """The registry of the process-wide plugin manager (built on first use)."""
    from mocha.core.plugins import get_plugin_manager

    return build_registry(get_plugin_manager())


def lookup(kind: str, name: str) -> Any:
    """The object registered as `name` of `kind` ("layers", "neurons", ...)."""
    return get_registry().get(kind, name)
