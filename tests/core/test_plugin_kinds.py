"""One word per kind: the registry kind, its hook `mocha_register_<kind>` and the entry-point
keys agree; the earlier coffee-break spellings keep working; data providers and data sets
are hooks like the rest."""

import tomllib
import types
from pathlib import Path

import pytest

import mocha
from mocha import CoffeeBreak, UnknownNameError, hookimpl
from mocha.core import hookspecs
from mocha.core.plugins import make_plugin_manager
from mocha.core.registry import KINDS, build_registry

ROOT = Path(__file__).resolve().parents[2]


class Tea(CoffeeBreak):
    def enjoy(self, lounge, solver, net, state):
        pass


def _registry(**hooks):
    module = types.ModuleType("kinds_test")
    for hook, fn in hooks.items():
        setattr(module, hook, hookimpl(fn))
    return build_registry(
        make_plugin_manager(load_entrypoints=False, extra_plugins=[("kinds_test", module)])
    )


def test_every_registry_kind_has_the_hook_of_its_name():
    for kind, hook in KINDS.items():
        assert hook == f"mocha_register_{kind}", kind
        assert callable(getattr(hookspecs, hook)), hook
        assert getattr(hookspecs, hook).__doc__, f"hook {hook} has no docstring"


def test_entry_point_kinds_are_registry_kinds():
    with (ROOT / "pyproject.toml").open("rb") as f:
        keys = tomllib.load(f)["project"]["entry-points"]["mocha"]
    kinds = {key.split(".", 1)[0] for key in keys}
    # components holds the neuron/initializer/... kinds; commands are the command line's
    assert kinds - {"components", "commands"} <= set(KINDS), kinds
    assert {"coffee", "data_providers", "datasets"} <= kinds


def test_coffee_is_the_kind_and_the_earlier_spellings_still_work():
    new = _registry(mocha_register_coffee=lambda register: register(Tea))
    old = _registry(mocha_register_coffee_breaks=lambda register: register(Tea))
    for registry in (new, old):
        assert registry.get("coffee", "Tea") is Tea
        assert registry.get("coffee_breaks", "Tea") is Tea
        assert registry.names("coffee_breaks") == registry.names("coffee") == ["Tea"]
    with pytest.raises(
        UnknownNameError,
        match=r"unknown coffee break 'Teh'\. Did you mean "
        r"Tea\? Known coffee breaks: Tea",
    ):
        new.get("coffee", "Teh")
    assert mocha.lookup("coffee", "Snapshot") is mocha.lookup("coffee_breaks", "Snapshot")


def test_builtin_providers_and_datasets_are_registered_through_hooks():
    from mocha.plugins.data_providers import sklearn_data
    from mocha.plugins.datasets import standard

    assert mocha.lookup("data_providers", "sklearn:digits") is sklearn_data.sklearn_digits
    assert mocha.lookup("data_providers", "sklearn:iris") is sklearn_data.sklearn_iris
    assert mocha.lookup("datasets", "mnist") is standard.mnist
    assert mocha.lookup("datasets", "cifar10") is standard.cifar10
