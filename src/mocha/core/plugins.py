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
* `MOCHA_STRICT_PLUGINS=1` — a third-party plugin that fails to import, raises in a hook or
  conflicts with another plugin is an error, not a warning.
* `MOCHA_REPLACE=InnerProductLayer,layers.inner_product` — the names (registry names such as
  `InnerProductLayer`, or entry-point keys such as `layers.inner_product`) that a third-party
  plugin may take over from a built-in or from another plugin.

**Built-ins always win.** A third-party entry point whose key is already used (by `mocha-dl`,
or by a distribution listed earlier) is not loaded: a `RuntimeWarning` and a "failed" row in
`mocha plugins` say why, unless its key is in MOCHA_REPLACE (then it is loaded instead of the
other one, which gets a "disabled" row). Any exception from a third-party plugin's import or
hooks (`SystemExit` too, `KeyboardInterrupt` aside) is contained the same way and names the
distribution.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata as md
import os
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from mocha.core import hookspecs
from mocha.core.errors import PluginError

OWN_DISTRIBUTION = "mocha-dl"
EXTRA_DISTRIBUTION = "(extra)"  # plugins given to make_plugin_manager(extra_plugins=...)
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
        self.lenient = False  # set by make_plugin_manager(lenient=True): no strict mode

    def distribution_of(self, plugin_name: str) -> str:
        info = self.infos.get(plugin_name)
        return info.distribution if info else "(registered directly)"

    def is_third_party(self, plugin_name: str) -> bool:
        """True for a plugin of an installed distribution other than `mocha-dl`."""
        return plugin_name in self.infos and self.distribution_of(plugin_name) not in (
            OWN_DISTRIBUTION,
            EXTRA_DISTRIBUTION,
        )

    def mark_failed(self, plugin_name: str, error: str) -> None:
        """Record that a loaded plugin was dropped later (its hook raised, a name conflict)."""
        info = self.infos.get(plugin_name)
        if info is not None:
            self.infos[plugin_name] = dataclasses.replace(info, status="failed", error=error)
        if self.has_plugin(plugin_name):
            self.unregister(name=plugin_name)

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


def strict_plugins() -> bool:
    """MOCHA_STRICT_PLUGINS is set (to anything but "" or "0")."""
    return os.environ.get("MOCHA_STRICT_PLUGINS", "") not in ("", "0")


def replace_names() -> set[str]:
    """The names of MOCHA_REPLACE: what the user allows a third-party plugin to take over."""
    return set(_env_list("MOCHA_REPLACE") or [])


# What a third-party plugin may raise and still leave Mocha running (KeyboardInterrupt is the
# user's and always propagates).
CONTAINED = (Exception, SystemExit)


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
    # a distribution's name and version parse its METADATA file on every access: once per
    # distribution, not twice per entry point (about 0.1 s of every start-up otherwise)
    about: dict[int, tuple[str, str]] = {}
    for ep in md.entry_points(group="mocha"):
        if ep.dist is None:
            dist, version = "(unknown)", ""
        else:
            if id(ep.dist) not in about:
                meta = ep.dist.metadata
                about[id(ep.dist)] = (meta["Name"], meta["Version"])
            dist, version = about[id(ep.dist)]
        key = (_normalize(dist), ep.name)
        if key in seen:  # the same distribution found twice on sys.path
            continue
        seen.add(key)
        yield ep, dist, version


def _register_checked(pm: MochaPluginManager, name: str, plugin: Any) -> None:
    """Register `plugin`, refusing (pluggy's `PluginValidationError`) a hook whose signature
    does not match its spec or a `mocha_*` hook that Mocha does not define (pluggy 1.6 keeps
    a plugin it refused registered: it is taken out again)."""
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError:
        if pm.has_plugin(name):
            pm.unregister(name=name)
        raise
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.spec is None and any(
            impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls()
        ):
            pm.unregister(plugin)
            known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("mocha_")))
            raise pluggy.PluginValidationError(
                plugin,
                f"plugin {name!r} implements unknown hook {caller.name!r}; Mocha's "
                f"hooks are: {known}",
            )


def _load(pm: MochaPluginManager, ep: md.EntryPoint, dist: str, version: str, strict: bool) -> None:
    """Import and register one entry point's module. A failure is a `PluginError` when
    `strict` (Mocha's own plugins, MOCHA_STRICT_PLUGINS), else a warning and a "failed" row."""
    try:
        _register_checked(pm, ep.name, importlib.import_module(ep.value))
    except CONTAINED as exc:  # a broken plugin must not take Mocha down
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


def _skip_conflict(
    pm: MochaPluginManager, ep: md.EntryPoint, dist: str, version: str, owner: str, strict: bool
) -> None:
    """A third-party entry point whose key `owner` already uses: a "failed" row (keyed
    `"<key> (<dist>)"` so both rows show) and a warning; a `PluginError` when `strict`."""
    message = (
        f"entry-point key {ep.name!r} is already used by {owner}; this one is not "
        f"loaded (rename the key, or set MOCHA_REPLACE={ep.name} to load it instead)"
    )
    if strict:
        raise PluginError(f"plugin {ep.name!r} ({ep.value}) from {dist}: {message}")
    warnings.warn(
        f"mocha plugin {ep.name!r} from {dist} {version} is skipped: {message}",
        RuntimeWarning,
        stacklevel=4,
    )
    pm.infos[f"{ep.name} ({dist})"] = PluginInfo(
        ep.name, ep.value, dist, version, "failed", message
    )


def _load_entrypoints(pm: MochaPluginManager, commands: bool) -> None:
    """Load the `mocha` entry points of kind "commands" (`commands`) or of every other kind."""
    disabled = set(_env_list("MOCHA_DISABLE_PLUGINS") or [])
    only = _env_list("MOCHA_LOAD_PLUGINS")
    if only is not None:
        only = [_normalize(d) for d in only]
    strict = strict_plugins() and not pm.lenient
    replace = replace_names()
    groups: dict[str, list[tuple[md.EntryPoint, str, str]]] = {}
    for ep, dist, version in _iter_entry_points():
        if (ep.name.split(".", 1)[0] == COMMANDS) != commands:
            continue
        norm = _normalize(dist)
        if only is not None and norm != OWN_DISTRIBUTION and norm not in only:
            continue
        groups.setdefault(ep.name, []).append((ep, dist, version))
    # Mocha's own entry points first (built-ins always win), then by distribution name.
    order = sorted(groups, key=lambda k: (min(_rank(d) for _, d, _ in groups[k]), k))
    for key in order:
        claims = sorted(groups[key], key=lambda c: _rank(c[1]))
        if len(claims) > 1 and key in replace:  # the user asked for the next one instead
            (old_ep, old_dist, old_version), claims = claims[0], claims[1:]
            pm.infos[f"{key} ({old_dist})"] = PluginInfo(
                key,
                old_ep.value,
                old_dist,
                old_version,
                "disabled",
                f"replaced by {claims[0][1]} (MOCHA_REPLACE={key})",
            )
        (ep, dist, version), losers = claims[0], claims[1:]
        if key in disabled:
            pm.infos[key] = PluginInfo(key, ep.value, dist, version, "disabled")
        else:
            own = _normalize(dist) == OWN_DISTRIBUTION
            _load(pm, ep, dist, version, strict=(strict or own) and not pm.lenient)
        for lost_ep, lost_dist, lost_version in losers:
            _skip_conflict(pm, lost_ep, lost_dist, lost_version, owner=dist, strict=strict)


def _rank(dist: str) -> tuple[int, str]:
    norm = _normalize(dist)
    return (0 if norm == OWN_DISTRIBUTION else 1, norm)


def make_plugin_manager(
    load_entrypoints: bool = True,
    extra_plugins: Iterable[tuple[str, Any]] = (),
    lenient: bool = False,
) -> MochaPluginManager:
    """A fresh manager: the installed entry points (unless told not to; the command-line's
    `"commands.*"` ones wait for `load_commands()`) plus `extra_plugins`, given as
    `(name, module_or_object)` pairs. `lenient` ignores MOCHA_STRICT_PLUGINS (for the
    diagnostics of `mocha plugins` and `mocha --version`, which must always work)."""
    pm = MochaPluginManager()
    pm.lenient = lenient
    if load_entrypoints:
        pm.uses_entrypoints = True
        _load_entrypoints(pm, commands=False)
    for name, plugin in extra_plugins:
        pm.register(plugin, name=name)
        pm.infos.setdefault(name, PluginInfo(name, repr(plugin), EXTRA_DISTRIBUTION, "", "loaded"))
    pm.check_pending()
    return pm


@functools.cache
def get_plugin_manager() -> MochaPluginManager:
    """The process-wide manager built from the installed entry points (built on first use)."""
    return make_plugin_manager()


# What `reset_plugin_manager` also forgets: caches built from the manager register their
# `cache_clear` here (the registry's `get_registry`), so this module needs no import of them.
ON_RESET: list[Callable[[], None]] = []


def reset_plugin_manager() -> None:
    """Forget the cached manager and the registry (tests; after installing a plugin at run
    time)."""
    get_plugin_manager.cache_clear()
    for clear in ON_RESET:
        clear()
