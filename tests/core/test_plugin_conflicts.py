"""Third-party plugins that clash with built-ins or misbehave (issue 19): built-ins always win,
the conflicting registration is reported (a warning and a "failed" row naming the
distribution), MOCHA_REPLACE opts in to a replacement by name, and nothing a plugin raises
(SystemExit included) takes Mocha down. Distributions are faked with `fake_distribution`."""

import pytest

from mocha import PluginError
from mocha.core.plugins import make_plugin_manager
from mocha.core.registry import build_registry
from mocha.plugins.layers.inner_product import InnerProductLayer

# A layer registered as "InnerProductLayer" (the name of a built-in).
IMPOSTOR = """
from dataclasses import dataclass
from mocha import Layer, LayerState, hookimpl, name_field

class _State(LayerState):
    def forward(self, backend, inputs):
        pass

@dataclass(frozen=True, kw_only=True, eq=False)
class ImpostorLayer(Layer):
    name: str = name_field("impostor")
    state_cls = _State

@dataclass(frozen=True, kw_only=True, eq=False)
class HarmlessLayer(Layer):
    name: str = name_field("harmless")
    state_cls = _State

@hookimpl
def mocha_register_layers(register):
    register(HarmlessLayer)
    register(ImpostorLayer, name="InnerProductLayer"{replace})
"""


def _warned(record, *fragments):
    messages = [str(w.message) for w in record]
    assert any(all(f in m for f in fragments) for m in messages), messages


def test_entry_point_key_of_a_builtin_is_skipped_not_fatal(fake_distribution):
    fake_distribution(
        "temp-clash",
        {"layers.inner_product": "temp_clash_plugin"},
        {"temp_clash_plugin": IMPOSTOR.format(replace="")},
    )
    with pytest.warns(RuntimeWarning) as record:
        pm = make_plugin_manager()
    _warned(
        record,
        "'layers.inner_product' from temp-clash",
        "already used by mocha-dl",
        "MOCHA_REPLACE=layers.inner_product",
    )
    assert pm.infos["layers.inner_product"].distribution == "mocha-dl"
    assert pm.infos["layers.inner_product"].status == "loaded"
    failed = pm.infos["layers.inner_product (temp-clash)"]
    assert failed.status == "failed" and "already used by mocha-dl" in failed.error
    registry = build_registry(pm)
    assert (
        registry.get("layers", "InnerProductLayer").__module__
        == "mocha.plugins.layers.inner_product"
    )
    assert "HarmlessLayer" not in registry.names("layers")  # its module was never loaded


def test_entry_point_key_clash_with_mocha_replace_loads_the_third_party(
    fake_distribution, monkeypatch
):
    fake_distribution(
        "temp-clash",
        {"layers.inner_product": "temp_clash_plugin"},
        {"temp_clash_plugin": IMPOSTOR.format(replace="")},
    )
    monkeypatch.setenv("MOCHA_REPLACE", "layers.inner_product, InnerProductLayer")
    pm = make_plugin_manager()
    assert pm.infos["layers.inner_product"].distribution == "temp-clash"
    replaced = pm.infos["layers.inner_product (mocha-dl)"]
    assert replaced.status == "disabled" and "replaced by temp-clash" in replaced.error
    registry = build_registry(pm)
    assert registry.get("layers", "InnerProductLayer").__name__ == "ImpostorLayer"


@pytest.mark.parametrize("replace", ["", ", replace=True"])
def test_a_builtin_name_is_not_taken_over(fake_distribution, replace):
    fake_distribution(
        "temp-impostor",
        {"layers.temp_impostor": "temp_impostor_plugin"},
        {"temp_impostor_plugin": IMPOSTOR.format(replace=replace)},
    )
    pm = make_plugin_manager()
    with pytest.warns(RuntimeWarning) as record:
        registry = build_registry(pm)
    _warned(
        record,
        "'layers.temp_impostor' from temp-impostor",
        "built-ins always win",
        "MOCHA_REPLACE=InnerProductLayer",
    )
    assert registry.get("layers", "InnerProductLayer") is InnerProductLayer
    assert "HarmlessLayer" not in registry.names("layers")  # the whole plugin is dropped
    info = pm.infos["layers.temp_impostor"]
    assert info.status == "failed" and "'InnerProductLayer'" in info.error


@pytest.mark.parametrize("replace", ["", ", replace=True"])
def test_strict_mode_refuses_a_takeover(fake_distribution, monkeypatch, replace):
    fake_distribution(
        "temp-impostor",
        {"layers.temp_impostor": "temp_impostor_plugin"},
        {"temp_impostor_plugin": IMPOSTOR.format(replace=replace)},
    )
    monkeypatch.setenv("MOCHA_STRICT_PLUGINS", "1")
    with pytest.raises(
        PluginError,
        match=r"'layers.temp_impostor' \(temp-impostor\) failed to "
        r"register: registers layer 'InnerProductLayer'",
    ):
        build_registry(make_plugin_manager())


def test_mocha_replace_opts_in_by_name_even_in_strict_mode(fake_distribution, monkeypatch):
    fake_distribution(
        "temp-impostor",
        {"layers.temp_impostor": "temp_impostor_plugin"},
        {"temp_impostor_plugin": IMPOSTOR.format(replace="")},
    )
    monkeypatch.setenv("MOCHA_REPLACE", "InnerProductLayer")
    monkeypatch.setenv("MOCHA_STRICT_PLUGINS", "1")
    registry = build_registry(make_plugin_manager())
    entry = {e.name: e for e in registry.entries("layers")}["InnerProductLayer"]
    assert (entry.obj.__name__, entry.distribution, entry.replaced) == (
        "ImpostorLayer",
        "temp-impostor",
        True,
    )
    assert "HarmlessLayer" in registry.names("layers")


def test_two_third_parties_with_one_name_first_wins(fake_distribution):
    source = IMPOSTOR.format(replace="").replace('name="InnerProductLayer"', 'name="Shared"')
    fake_distribution(
        "temp-aaa", {"layers.temp_aaa": "temp_aaa_plugin"}, {"temp_aaa_plugin": source}
    )
    fake_distribution(
        "temp-bbb",
        {"layers.temp_bbb": "temp_bbb_plugin"},
        {"temp_bbb_plugin": source.replace("HarmlessLayer", "OtherLayer")},
    )
    pm = make_plugin_manager()
    with pytest.warns(
        RuntimeWarning,
        match="'layers.temp_bbb' from temp-bbb failed to register.*'Shared'.*the first one wins",
    ):
        registry = build_registry(pm)
    assert registry.entries("layers")[0].distribution in ("temp-aaa", "mocha-dl")
    assert {e.name: e.distribution for e in registry.entries("layers")}["Shared"] == "temp-aaa"
    assert pm.infos["layers.temp_bbb"].status == "failed"


@pytest.mark.parametrize("statement", ["raise SystemExit(3)", "import sys; sys.exit('bye')"])
def test_system_exit_at_import_is_contained(fake_distribution, statement):
    fake_distribution(
        "temp-exit",
        {"layers.temp_exit": "temp_exit_plugin"},
        {"temp_exit_plugin": statement + "\n"},
    )
    with pytest.warns(
        RuntimeWarning,
        match="'layers.temp_exit' from temp-exit 1.0 failed to load and is skipped: SystemExit",
    ):
        pm = make_plugin_manager()
    assert pm.infos["layers.temp_exit"].status == "failed"
    assert "InnerProductLayer" in build_registry(pm).names("layers")


def test_system_exit_in_a_hook_is_contained(fake_distribution):
    source = (
        "from mocha import hookimpl\n@hookimpl\ndef mocha_register_layers(register):\n"
        "    raise SystemExit(1)\n"
    )
    fake_distribution(
        "temp-exit", {"layers.temp_exit": "temp_exit_plugin"}, {"temp_exit_plugin": source}
    )
    pm = make_plugin_manager()
    with pytest.warns(RuntimeWarning, match="temp-exit failed to register.*SystemExit"):
        build_registry(pm)
    assert pm.infos["layers.temp_exit"].status == "failed"


def test_keyboard_interrupt_is_not_swallowed(fake_distribution):
    fake_distribution(
        "temp-kbd",
        {"layers.temp_kbd": "temp_kbd_plugin"},
        {"temp_kbd_plugin": "raise KeyboardInterrupt\n"},
    )
    with pytest.raises(KeyboardInterrupt):
        make_plugin_manager()
