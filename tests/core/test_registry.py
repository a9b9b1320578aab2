"""The registry built from a plugin manager: registration, duplicates, lookups of unknown names,
kernel resolution. Every test builds its own manager; the process-wide one is not touched."""

import types
from dataclasses import dataclass

import pytest

import mocha
from mocha import Layer, LayerState, PluginError, UnknownNameError, hookimpl, name_field
from mocha.core.backend import Backend, KernelTable
from mocha.core.plugins import PluginInfo, make_plugin_manager
from mocha.core.registry import build_registry


class _State(LayerState):
    def forward(self, backend, inputs):
        pass


@dataclass(frozen=True, kw_only=True, eq=False)
class FooLayer(Layer):
    name: str = name_field("foo")
    state_cls = _State


@dataclass(frozen=True, kw_only=True, eq=False)
class OtherFooLayer(Layer):
    name: str = name_field("foo")
    state_cls = _State


def plugin(name: str, **hooks) -> types.ModuleType:
    """A plugin module whose hooks are `hookimpl`-marked functions."""
    module = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(module, f"mocha_register_{hook}", hookimpl(fn))
    return module


def registry_of(*plugins, distributions=None):
    pm = make_plugin_manager(
        load_entrypoints=False, extra_plugins=[(p.__name__, p) for p in plugins]
    )
    for p in plugins:  # pretend they came from installed distributions
        dist = (distributions or {}).get(p.__name__)
        if dist:
            pm.infos[p.__name__] = PluginInfo(p.__name__, p.__name__, dist, "1.0", "loaded")
    return build_registry(pm)


def test_register_and_look_up():
    reg = registry_of(plugin("layers.foo", layers=lambda register: register(FooLayer)))
    assert reg.get("layers", "FooLayer") is FooLayer
    assert reg.names("layers") == ["FooLayer"]
    [entry] = reg.entries("layers")
    assert (entry.name, entry.plugin, entry.distribution) == ("FooLayer", "layers.foo", "(extra)")
    assert reg.names("solvers") == []


def test_register_under_an_explicit_name():
    reg = registry_of(plugin("layers.foo", layers=lambda register: register(FooLayer, name="Bar")))
    assert reg.names("layers") == ["Bar"]


def test_duplicate_name_names_both_plugins_and_distributions():
    a = plugin("layers.foo", layers=lambda register: register(FooLayer))
    b = plugin("layers.other", layers=lambda register: register(OtherFooLayer, name="FooLayer"))
    with pytest.raises(PluginError) as info:
        registry_of(a, b)
    message = str(info.value)
    assert "'FooLayer' is registered twice" in message
    assert "'layers.foo' ((extra))" in message and "'layers.other' ((extra))" in message


def test_duplicate_name_of_two_third_parties_drops_the_second():
    a = plugin("layers.foo", layers=lambda register: register(FooLayer))
    b = plugin("layers.other", layers=lambda register: register(OtherFooLayer, name="FooLayer"))
    with pytest.warns(
        RuntimeWarning,
        match=r"'layers.other' from dist-b failed to register and "
        r"is skipped: registers layer 'FooLayer', which "
        r"plugin 'layers.foo' of dist-a already registers",
    ):
        reg = registry_of(a, b, distributions={"layers.foo": "dist-a", "layers.other": "dist-b"})
    assert reg.get("layers", "FooLayer") is FooLayer


def test_replace_true_overrides_on_purpose():
    a = plugin("layers.foo", layers=lambda register: register(FooLayer))
    b = plugin(
        "layers.other",
        layers=lambda register: register(OtherFooLayer, name="FooLayer", replace=True),
    )
    reg = registry_of(a, b)
    assert reg.get("layers", "FooLayer") is OtherFooLayer
    assert reg.entries("layers")[0].replaced


def test_hook_raising_in_a_plugin_registered_directly_names_the_plugin():
    def hook(register):
        raise TypeError("bad call")

    with pytest.raises(
        PluginError,
        match=r"plugin 'layers.bad' \(\(extra\)\) failed to "
        r"register: TypeError: bad call",
    ):
        registry_of(plugin("layers.bad", layers=hook))


def test_unknown_name_lists_known_names_and_close_matches():
    reg = registry_of(plugin("layers.foo", layers=lambda register: register(FooLayer)))
    with pytest.raises(UnknownNameError) as info:
        reg.get("layers", "FoLayer")
    message = str(info.value)
    assert message == "unknown layer 'FoLayer'. Did you mean FooLayer? Known layers: FooLayer"
    assert isinstance(info.value, KeyError)  # and str() is not quoted like a KeyError
    with pytest.raises(
        UnknownNameError,
        match=r"unknown coffee break 'X'\. Known coffee "
        r"breaks: \(none\)",
    ):
        reg.get("coffee_breaks", "X")


def test_builtin_lookups_through_the_public_api():
    assert mocha.lookup("layers", "InnerProductLayer") is mocha.InnerProductLayer
    with pytest.raises(UnknownNameError, match="Did you mean InnerProductLayer"):
        mocha.lookup("layers", "InnerProductLayr")
    with pytest.raises(AttributeError, match="no attribute 'NoSuchLayer'"):
        _ = mocha.NoSuchLayer
    with pytest.raises(UnknownNameError, match="Did you mean ReLU"):
        _ = mocha.Neurons.ReLu
    assert "ReLU" in dir(mocha.Neurons)


def test_builtins_come_from_mocha_dl():
    entries = {e.name: e for e in mocha.get_registry().entries("layers")}
    ip = entries["InnerProductLayer"]
    assert (ip.plugin, ip.distribution) == ("layers.inner_product", "mocha-dl")


# -- kernels -----------------------------------------------------------------------------
def _generic(backend, x):
    return ("generic", backend.name, x)


def _fast(backend, x):
    return ("fast", backend.name, x)


class _FastBackend(Backend):
    name = "fast"


class _SlowBackend(Backend):
    name = "slow"


def test_kernels_resolve_to_the_backend_or_the_generic_version():
    reg = registry_of(
        plugin(
            "kernels.k",
            kernels=lambda register: (
                register("gemm", _generic),
                register("gemm", _fast, backend="fast"),
            ),
        )
    )
    fast, slow = _FastBackend(), _SlowBackend()
    fast._kernels = KernelTable(fast, reg.kernel_table())
    slow._kernels = KernelTable(slow, reg.kernel_table())
    assert fast.kernels.gemm(1) == ("fast", "fast", 1)
    assert slow.kernels.gemm(2) == ("generic", "slow", 2)
    assert fast.kernels.implementation_of("gemm") == "fast"
    assert slow.kernels.implementation_of("gemm") == "*"
    assert fast.kernels.names() == ["gemm"]
    with pytest.raises(AttributeError, match="unknown kernel 'triple'; registered kernels: gemm"):
        _ = fast.kernels.triple


def test_kernel_without_generic_version():
    reg = registry_of(
        plugin("kernels.k", kernels=lambda register: register("softmax", _fast, backend="fast"))
    )
    slow = _SlowBackend()
    slow._kernels = KernelTable(slow, reg.kernel_table())
    with pytest.raises(AttributeError, match="no implementation for backend 'slow'"):
        _ = slow.kernels.softmax


def test_duplicate_kernel_names_both_plugins():
    a = plugin("kernels.a", kernels=lambda register: register("gemm", _generic))
    b = plugin("kernels.b", kernels=lambda register: register("gemm", _fast))
    with pytest.raises(
        PluginError,
        match=r"kernel 'gemm' for backend '\*' is registered "
        r"twice: by plugin 'kernels.a'.*'kernels.b'",
    ):
        registry_of(a, b)


def test_backends_register_under_their_name():
    reg = registry_of(plugin("backends.fast", backends=lambda register: register(_FastBackend)))
    assert reg.get("backends", "fast") is _FastBackend
