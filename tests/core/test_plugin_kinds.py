"""One word per kind: the registry kind, its hook `mocha_register_<kind>` and the entry-point
keys agree, one hook per kind, each given a typed registrar; data providers and data sets
are hooks like the rest."""

import ast
import collections.abc
import inspect
import tomllib
import types
import typing
from pathlib import Path

import pytest
from pluggy import PluginValidationError

import mocha
from mocha import CoffeeBreak, UnknownNameError, hookimpl
from mocha.core import hookspecs
from mocha.core.interchange import ExportRule, ImportRule
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


def test_coffee_is_the_kind_with_one_hook():
    registry = _registry(mocha_register_coffee=lambda register: register(Tea))
    assert registry.get("coffee", "Tea") is Tea
    # the experiment file's word for the kind is also accepted by lookups
    assert registry.names("coffee_breaks") == registry.names("coffee") == ["Tea"]
    with pytest.raises(
        UnknownNameError,
        match=r"unknown coffee break 'Teh'\. Did you mean "
        r"Tea\? Known coffee breaks: Tea",
    ):
        registry.get("coffee", "Teh")
    assert mocha.lookup("coffee", "Snapshot") is mocha.lookup("coffee_breaks", "Snapshot")
    # the earlier alias hook is gone: a plugin implementing it is refused as unknown
    assert not hasattr(hookspecs, "mocha_register_coffee_breaks")
    with pytest.raises(PluginValidationError, match="mocha_register_coffee_breaks"):
        _registry(mocha_register_coffee_breaks=lambda register: register(Tea))


def _hints(hook):
    """The hook's annotations, evaluated with the names hookspecs imports for type checkers
    only (its `if TYPE_CHECKING:` block, run here)."""
    tree = ast.parse(Path(hookspecs.__file__).read_text(encoding="utf-8"))
    [block] = [
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    ]
    namespace = dict(vars(hookspecs))
    exec(compile(ast.Module(block.body, []), hookspecs.__file__, "exec"), namespace)
    return typing.get_type_hints(getattr(hookspecs, hook), namespace)


@pytest.mark.parametrize("hook", [*KINDS.values(), "mocha_register_kernels"])
def test_each_hook_is_given_a_typed_registrar(hook):
    kind = hook.removeprefix("mocha_register_")
    register = _hints(hook)["register"]
    if kind == "kernels":
        assert register is hookspecs.KernelRegistrar
        return
    assert typing.get_origin(register) is hookspecs.Registrar, (hook, register)
    [registered] = typing.get_args(register)
    if kind in ("data_providers", "datasets"):
        assert typing.get_origin(registered) is collections.abc.Callable
    elif kind == "formats":  # format objects (mocha.core.interchange) have no common class
        assert registered is typing.Any
    elif kind == "interchange":
        assert set(typing.get_args(registered)) == {ExportRule, ImportRule}
    else:  # a class of the kind's base: type[Layer], type[Backend], ...
        assert typing.get_origin(registered) is type, (hook, registered)


def test_the_registrars_take_what_their_protocols_declare():
    """The functions `build_registry` hands to hooks accept the protocols' calls."""
    seen = {}

    def layers(register):
        seen["layers"] = inspect.signature(register)

    def kernels(register):
        seen["kernels"] = inspect.signature(register)

    _registry(mocha_register_layers=layers, mocha_register_kernels=kernels)
    for kind, protocol in (("layers", hookspecs.Registrar), ("kernels", hookspecs.KernelRegistrar)):
        declared = list(inspect.signature(protocol.__call__).parameters.values())[1:]
        actual = list(seen[kind].parameters.values())
        assert [(p.name, p.default) for p in actual] == [(p.name, p.default) for p in declared]


def test_builtin_providers_and_datasets_are_registered_through_hooks():
    from mocha.plugins.data_providers import sklearn_data
    from mocha.plugins.datasets import standard

    assert mocha.lookup("data_providers", "sklearn:digits") is sklearn_data.sklearn_digits
    assert mocha.lookup("data_providers", "sklearn:iris") is sklearn_data.sklearn_iris
    assert mocha.lookup("datasets", "mnist") is standard.mnist
    assert mocha.lookup("datasets", "cifar10") is standard.cifar10
