"""Plugin discovery: entry points of the `mocha` group, loaded lazily into a pluggy manager.

Nothing here runs at `import mocha`. `get_plugin_manager()` builds (once) a manager holding
every plugin module named by an installed distribution's `mocha` entry points. Built-ins are
found exactly the same way, through `mocha-dl`'s own entry points. The command-line's
sub-commands (entry points `"commands.*"`, which import typer and rich) are left out until the
`mocha` app asks for them with `MochaPluginManager.load_commands()`, so training a network from
Python never imports the command-line libraries.

Environment:
* `MOCHA_DISABLE_PLUGINS=layers.dropout,backends.cupy` — entry points not to load.
* `MOCHA_LOAD_PLUGINS=dist-a,dist-b` — load `mocha-dl` plus only these distributions
  (empty: `mocha-dl` only).
* `MOCHA_STRICT_PLUGINS=1` — a third-party plugin that fails to import is an error, not a warning.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata as md
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from mocha.core import hookspecs
from mocha.core.errors import PluginError

OWN_DISTRIBUTION = "mocha-dl"
COMMANDS = "commands"  # the kind of the entry points loaded only by the command line


@dataclass(frozen=True)
class PluginInfo:
    """One entry point of the `mocha` group and what became of it."""

    name: str  # entry-point key, "<kind>.<module>"
    module: str
    distribution: str
    version: str
    status: str  # "loaded", "failed", "disabled"
    error: str = ""

    @property
    def kind(self) -> str:
        return self.name.split(".", 1)[0]


class MochaPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers where each plugin came from."""

    def __init__(self) -> None:
        super().__init__("mocha")
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.uses_entrypoints = False  # set by make_plugin_manager(load_entrypoints=True)
        self.commands_loaded = False

    def distribution_of(self, plugin_name: str) -> str:
        info = self.infos.get(plugin_name)
        return info.distribution if info else "(registered directly)"

    def load_commands(self) -> None:
        """Load the `"commands.*"` entry points (sub-commands of the `mocha` command line),
        once, under the same MOCHA_* rules as the others; nothing for a manager built without
        entry points. A command plugin should register commands only: the registry may have
        been built before."""
        if not self.uses_entrypoints or self.commands_loaded:
            return
        self.commands_loaded = True
        _load_entrypoints(self, commands=True)
        self.check_pending()


def _env_list(var: str) -> list[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def _normalize(dist: str) -> str:
    """A distribution name compared the packaging way: `Mocha_Example.Layer` is
    `mocha-example-layer`."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def _iter_entry_points() -> Iterable[tuple[md.EntryPoint, str, str]]:
    seen: set[tuple[str, str]] = set()
    for ep in md.entry_points(group="mocha"):
        dist = ep.dist.name if ep.dist is not None else "(unknown)"
        version = ep.dist.version if ep.dist is not None else ""
        key = (_normalize(dist), ep.name)
        if key in seen:  # the same distribution found twice on sys.path
            continue
        seen.add(key)
        yield ep, dist, version


def _register_checked(pm: MochaPluginManager, name: str, plugin: Any) -> None:
    """Register `plugin`, refusing (pluggy's `PluginValidationError`) a hook whose signature
    does not match its spec or a `mocha_*` hook that Mocha does not define."""
    pm.register(plugin, name=name)
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.spec is None and any(impl.plugin is plugin and not impl.optionalhook
                                       for impl in caller.get_hookimpls()):
            pm.unregister(plugin)
            known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("mocha_")))
            raise pluggy.PluginValidationError(
                plugin, f"plugin {name!r} implements unknown hook {caller.name!r}; Mocha's "
                        f"hooks are: {known}")


def _load(pm: MochaPluginManager, ep: md.EntryPoint, dist: str, version: str,
          strict: bool) -> None:
    """Import and register one entry point's module. A failure is a `PluginError` when
    `strict` (Mocha's own plugins, MOCHA_STRICT_PLUGINS), else a warning and a "failed" row."""
    try:
        _register_checked(pm, ep.name, importlib.import_module(ep.value))
    except Exception as exc:  # a broken plugin must not take Mocha down
        message = f"{type(exc).__name__}: {exc}"
        if strict:
            raise PluginError(
                f"plugin {ep.name!r} ({ep.value}) from {dist} failed to load: {message}"
            ) from exc
        warnings.warn(
            f"mocha plugin {ep.name!r} from {dist} {version} failed to load and is skipped: "
            f"{message}",
            RuntimeWarning,
            stacklevel=4,  # the caller of make_plugin_manager / load_commands
        )
        pm.infos[ep.name] = PluginInfo(ep.name, ep.value, dist, version, "failed", message)
        return
    pm.infos[ep.name] = PluginInfo(ep.name, ep.value, dist, version, "loaded")


def _load_entrypoints(pm: MochaPluginManager, commands: bool) -> None:
    """Load the `mocha` entry points of kind "commands" (`commands`) or of every other kind."""
    disabled = set(_env_list("MOCHA_DISABLE_PLUGINS") or [])
    only = _env_list("MOCHA_LOAD_PLUGINS")
    if only is not None:
        only = [_normalize(d) for d in only]
    strict = os.environ.get("MOCHA_STRICT_PLUGINS", "") not in ("", "0")
    claimed: dict[str, str] = {}
    for ep, dist, version in _iter_entry_points():
        if (ep.name.split(".", 1)[0] == COMMANDS) != commands:
            continue
        norm = _normalize(dist)
        if only is not None and norm != OWN_DISTRIBUTION and norm not in only:
            continue
        if ep.name in claimed and _normalize(claimed[ep.name]) != norm:
            raise PluginError(
                f"plugin name {ep.name!r} is claimed by two distributions: "
                f"{claimed[ep.name]!r} and {dist!r}"
            )
        claimed[ep.name] = dist
        if ep.name in disabled:
            pm.infos[ep.name] = PluginInfo(ep.name, ep.value, dist, version, "disabled")
            continue
        _load(pm, ep, dist, version, strict=strict or norm == OWN_DISTRIBUTION)


def make_plugin_manager(
    load_entrypoints: bool = True, extra_plugins: Iterable[tuple[str, Any]] = ()
) -> MochaPluginManager:
    """A fresh manager: the installed entry points (unless told not to; the command-line's
    `"commands.*"` ones wait for `load_commands()`) plus `extra_plugins`, given as
    `(name, module_or_object)` pairs."""
    pm = MochaPluginManager()
    if load_entrypoints:
        pm.uses_entrypoints = True
        _load_entrypoints(pm, commands=False)
    for name, plugin in extra_plugins:
        pm.register(plugin, name=name)
        pm.infos.setdefault(name, PluginInfo(name, repr(plugin), "(extra)", "", "loaded"))
    pm.check_pending()
    return pm


@functools.cache
def get_plugin_manager() -> MochaPluginManager:
    """The process-wide manager built from the installed entry points (built on first use)."""
    return make_plugin_manager()


def reset_plugin_manager() -> None:
    """Forget the cached manager and registry (tests; after installing a plugin at run time)."""
    from mocha.core import registry

    get_plugin_manager.cache_clear()
    registry.get_registry.cache_clear()
