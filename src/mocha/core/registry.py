"""The registry: every layer, backend, kernel, solver, ... found by name. Notes: docs/core.md."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mocha.core import hookspecs
from mocha.core.errors import PluginError, UnknownNameError
from mocha.core.hookspecs import KernelRegistrar, Registrar
from mocha.core.kernel_names import check_kernel_name
from mocha.core.plugins import (
    COMMANDS,
    CONTAINED,
    EXTRA_DISTRIBUTION,
    ON_RESET,
    MochaPluginManager,
    get_plugin_manager,
    replace_names,
    strict_plugins,
)

logger = logging.getLogger("mocha")

# kind -> its hook: every `mocha_register_<kind>` hook whose `register` is a `Registrar` (the
# kernel table and the command line have their own)
KINDS: dict[str, str] = {
    name.removeprefix("mocha_register_"): name
    for name, hook in vars(hookspecs).items()
    if name.startswith("mocha_")
    and hook.__annotations__.get("register", "").startswith("Registrar")
}
# the word of the experiment file's [[coffee_breaks]], also accepted by lookups: kind -> kind
KIND_ALIASES: dict[str, str] = {"coffee_breaks": "coffee"}
# how errors name one thing / several things of a kind (default: from the kind's name)
KIND_LABELS: dict[str, tuple[str, str]] = {
    "coffee": ("coffee break", "coffee breaks"),
    "lr_policies": ("learning-rate policy", "learning-rate policies"),
    "mom_policies": ("momentum policy", "momentum policies"),
    "interchange": ("interchange rule", "interchange rules"),
}


def _labels(kind: str) -> tuple[str, str]:
    return KIND_LABELS.get(kind, (kind.rstrip("s").replace("_", " "), kind.replace("_", " ")))


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    plugin: str
    distribution: str
    replaced: bool = False
    third_party: bool = False


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

    def kernel_table(self) -> dict[str, dict[str, Callable[..., Any]]]:
        return {
            name: {backend: e.obj for backend, e in impls.items()}
            for name, impls in self.kernels.items()
        }


class NameConflict(PluginError):
    """A third-party plugin registers a name that a built-in (or an earlier plugin) has."""


@dataclass(frozen=True)
class _Who:
    """The plugin whose hook is running, and the rules that apply to it."""

    plugin: str
    distribution: str
    third_party: bool
    allowed: frozenset[str]  # MOCHA_REPLACE: names it may take over


def _check_taken(who: _Who, label: str, key: str, old: Entry, replace: bool) -> bool:
    """Whether `who` may store `key` over `old` (True), or raise. Built-ins and plugins given
    directly keep the old rule (`replace=True` overrides, else a duplicate is an error); a
    third-party plugin may take over only names listed in MOCHA_REPLACE, and another third
    party's name with `replace=True` (with a warning): built-ins always win."""
    if who.third_party and key in who.allowed:
        logger.info(
            "%s of %s (%s) replaced by plugin %r (%s), as MOCHA_REPLACE asks",
            label,
            old.plugin,
            old.distribution,
            who.plugin,
            who.distribution,
        )
        return True
    if not who.third_party:
        if replace:
            return True
        raise PluginError(
            f"{label} is registered twice: by plugin {old.plugin!r} "
            f"({old.distribution}) and by plugin {who.plugin!r} ({who.distribution})"
        )
    hint = f"set MOCHA_REPLACE={key} to use this plugin's instead"
    if not old.third_party:
        raise NameConflict(
            f"registers {label}, which plugin {old.plugin!r} of {old.distribution} "
            f"already registers; built-ins always win ({hint})"
        )
    if not replace:
        raise NameConflict(
            f"registers {label}, which plugin {old.plugin!r} of {old.distribution} "
            f"already registers; the first one wins ({hint})"
        )
    warnings.warn(
        f"mocha plugin {who.plugin!r} from {who.distribution} replaces {label} "
        f"of plugin {old.plugin!r} ({old.distribution})",
        RuntimeWarning,
        stacklevel=4,
    )
    return True


def _registrar(registry: Registry, kind: str, who: _Who) -> Registrar[Any]:
    table = registry.tables.setdefault(kind, {})
    what = _labels(kind)[0]

    def register(obj: Any, name: str | None = None, replace: bool = False) -> None:
        if kind in ("backends", "formats"):
            key = name or obj.name
        else:
            key = name or getattr(obj, "registry_name", None) or obj.__name__
        replaced = key in table and _check_taken(who, f"{what} {key!r}", key, table[key], replace)
        table[key] = Entry(
            key, obj, who.plugin, who.distribution, replaced=replaced, third_party=who.third_party
        )

    return register


def _kernel_registrar(registry: Registry, who: _Who) -> KernelRegistrar:
    def register(
        name: str, impl: Callable[..., Any], backend: str = "*", replace: bool = False
    ) -> None:
        check_kernel_name(name)  # only the kernels of the table
        impls = registry.kernels.setdefault(name, {})
        replaced = backend in impls and _check_taken(
            who, f"kernel {name!r} for backend {backend!r}", name, impls[backend], replace
        )
        impls[backend] = Entry(
            name, impl, who.plugin, who.distribution, replaced=replaced, third_party=who.third_party
        )

    return register


def _register_plugin(registry: Registry, plugin: Any, who: _Who) -> None:
    for kind, hook in KINDS.items():
        impl = getattr(plugin, hook, None)
        if impl is not None:
            impl(register=_registrar(registry, kind, who))
    impl = getattr(plugin, "mocha_register_kernels", None)
    if impl is not None:
        impl(register=_kernel_registrar(registry, who))


def build_registry(pm: MochaPluginManager) -> Registry:
    """Call every registration hook of `pm`, one plugin at a time (so errors name it):
    Mocha's own plugins (and those given directly) first, then the third-party ones.

    A built-in's failure, or a duplicate name between built-ins, is a `PluginError` naming the
    plugin. A third-party plugin whose hook raises anything (`SystemExit` too) or registers a
    name that is taken (see `_check_taken`; MOCHA_REPLACE lists the names it may take over)
    is dropped with a `RuntimeWarning` and a "failed" row in `pm.infos` that says why, unless
    MOCHA_STRICT_PLUGINS is set (then a `PluginError`).
    """
    registry = Registry()
    allowed = frozenset(replace_names())
    strict = strict_plugins() and not pm.lenient
    plugins = sorted(pm.list_name_plugin(), key=lambda item: pm.is_third_party(item[0]))
    for plugin_name, plugin in plugins:
        third_party = pm.is_third_party(plugin_name)
        dist = pm.distribution_of(plugin_name)
        who = _Who(plugin_name, dist, third_party, allowed)
        saved = (
            {k: dict(t) for k, t in registry.tables.items()},
            {k: dict(t) for k, t in registry.kernels.items()},
        )
        try:
            _register_plugin(registry, plugin, who)
        except CONTAINED as exc:
            if isinstance(exc, PluginError) and not isinstance(exc, NameConflict):
                raise
            message = str(exc) if isinstance(exc, NameConflict) else f"{type(exc).__name__}: {exc}"
            if not third_party or strict:
                raise PluginError(
                    f"plugin {plugin_name!r} ({dist}) failed to register: {message}"
                ) from exc
            registry.tables, registry.kernels = saved  # drop what it registered before failing
            warnings.warn(
                f"mocha plugin {plugin_name!r} from {dist} failed to register and is "
                f"skipped: {message}",
                RuntimeWarning,
                stacklevel=2,
            )
            pm.mark_failed(plugin_name, message)
            continue
        if not pm.loading:
            _check_not_empty(pm, registry, plugin_name, strict=strict or not third_party)
    return registry


def _check_not_empty(
    pm: MochaPluginManager, registry: Registry, plugin_name: str, strict: bool
) -> None:
    """An entry point (not a command's) that registered nothing: a warning and an "empty" row
    in `mocha plugins`, or a `PluginError` when `strict`."""
    info = pm.infos.get(plugin_name)
    tables = [*registry.tables.values(), *registry.kernels.values()]
    if info is None or info.distribution == EXTRA_DISTRIBUTION or info.kind == COMMANDS:
        return
    if any(e.plugin == plugin_name for table in tables for e in table.values()):
        return
    plugin = pm.get_plugin(plugin_name)
    hooks = [h for h in (*KINDS.values(), "mocha_register_kernels") if hasattr(plugin, h)]
    message = f"loaded but registers nothing: its hooks ({', '.join(hooks)}) never call register"
    if not hooks:
        message = f"loaded but registers nothing: {info.module} has no mocha_register_<kind> hook"
    if strict:
        raise PluginError(f"plugin {plugin_name!r} ({info.distribution}) {message}")
    warnings.warn(
        f"mocha plugin {plugin_name!r} from {info.distribution} {message}", RuntimeWarning, 3
    )
    pm.infos[plugin_name] = dataclasses.replace(info, status="empty", error=message)


def get_registry() -> Registry:
    """The registry of the process-wide plugin manager (built on first use; forgotten by
    `reset_plugin_manager()`). Asked for while the manager imports its plugin modules (a
    plugin module reading `mocha.<Name>` at import), it is built afresh from the plugins
    loaded so far (Mocha's own ones first) and not kept."""
    pm = get_plugin_manager()
    return build_registry(pm) if pm.loading else _registry_of(pm)


@functools.cache
def _registry_of(pm: MochaPluginManager) -> Registry:
    return build_registry(pm)


ON_RESET.append(_registry_of.cache_clear)


def lookup(kind: str, name: str) -> Any:
    """The object registered as `name` of `kind` ("layers", "neurons", ...)."""
    return get_registry().get(kind, name)
