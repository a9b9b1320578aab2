"""Plugin discovery through entry points (core/plugins.py): third-party distributions, broken
plugins, the MOCHA_* environment variables, and that `import mocha` loads nothing.

Third-party distributions are simulated by a `<name>.dist-info` folder (METADATA and
entry_points.txt) and a module in a temporary folder put on `sys.path`, which is exactly what
`importlib.metadata` reads for an installed package.
"""

import subprocess
import sys
import textwrap

import pytest

from mocha import PluginError
from mocha.core.plugins import OWN_DISTRIBUTION, PluginInfo, make_plugin_manager
from mocha.core.registry import build_registry

GOOD_PLUGIN = """
from dataclasses import dataclass
from mocha import Layer, LayerState, hookimpl, name_field

class _State(LayerState):
    def forward(self, backend, inputs):
        pass

@dataclass(frozen=True, kw_only=True, eq=False)
class TempThirdPartyLayer(Layer):
    name: str = name_field("temp")
    state_cls = _State

@hookimpl
def mocha_register_layers(register):
    register(TempThirdPartyLayer)
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A function installing fake distributions into a temporary folder on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    modules_written: list[str] = []

    def install(dist: str, entry_points: dict[str, str], modules: dict[str, str] | None = None):
        info = tmp_path / f"{dist.replace('-', '_')}-1.2.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2\n")
        lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[mocha]\n{lines}")
        for module, source in (modules or {}).items():
            (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
            modules_written.append(module)

    yield install
    for module in modules_written:  # the next test may write another module of that name
        sys.modules.pop(module, None)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("MOCHA_DISABLE_PLUGINS", "MOCHA_LOAD_PLUGINS", "MOCHA_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


def test_builtins_are_loaded_through_mocha_dl_entry_points():
    pm = make_plugin_manager()
    info = pm.infos["layers.inner_product"]
    assert info == PluginInfo(
        "layers.inner_product",
        "mocha.plugins.layers.inner_product",
        OWN_DISTRIBUTION,
        info.version,
        "loaded",
    )
    assert info.kind == "layers"
    assert pm.has_plugin("layers.inner_product")
    assert all(
        i.status == "loaded" for i in pm.infos.values() if i.distribution == OWN_DISTRIBUTION
    )


def test_third_party_plugin_is_discovered(site):
    site("temp-good", {"layers.temp_good": "temp_good_plugin"}, {"temp_good_plugin": GOOD_PLUGIN})
    pm = make_plugin_manager()
    info = pm.infos["layers.temp_good"]
    assert (info.distribution, info.version, info.status) == ("temp-good", "1.2", "loaded")
    registry = build_registry(pm)
    [entry] = [e for e in registry.entries("layers") if e.name == "TempThirdPartyLayer"]
    assert (entry.plugin, entry.distribution) == ("layers.temp_good", "temp-good")


def test_broken_third_party_plugin_warns_and_is_skipped(site):
    site("temp-broken", {"layers.temp_broken": "temp_missing_module_xyz"})
    with pytest.warns(
        RuntimeWarning,
        match=r"mocha plugin 'layers.temp_broken' from temp-broken "
        r"1.2 failed to load and is skipped",
    ):
        pm = make_plugin_manager()
    info = pm.infos["layers.temp_broken"]
    assert info.status == "failed"
    assert "ModuleNotFoundError" in info.error and "temp_missing_module_xyz" in info.error
    assert not pm.has_plugin("layers.temp_broken")
    assert "InnerProductLayer" in build_registry(pm).names("layers")  # the rest still works


def test_plugin_raising_at_import_is_also_skipped(site):
    site(
        "temp-raises",
        {"layers.temp_raises": "temp_raises_plugin"},
        {"temp_raises_plugin": "raise RuntimeError('boom at import')\n"},
    )
    with pytest.warns(RuntimeWarning, match="RuntimeError: boom at import"):
        pm = make_plugin_manager()
    assert pm.infos["layers.temp_raises"].status == "failed"


@pytest.mark.parametrize(
    ("source", "error"),
    [
        (
            "from mocha import hookimpl\n@hookimpl\n"
            "def mocha_register_layerz(register):\n    pass\n",
            "implements unknown hook 'mocha_register_layerz'; Mocha's hooks are: "
            "mocha_register_backends",
        ),
        (
            "from mocha import hookimpl\n@hookimpl\ndef mocha_register_layers(reg):\n    pass\n",
            "Argument(s) {'reg'} are declared in the hookimpl but can not be found in the hookspec",
        ),
    ],
)
def test_plugin_with_a_bad_hook_is_skipped(site, source, error):
    site(
        "temp-badhook",
        {"layers.temp_badhook": "temp_badhook_plugin"},
        {"temp_badhook_plugin": source},
    )
    with pytest.warns(
        RuntimeWarning,
        match="'layers.temp_badhook' from temp-badhook 1.2 failed "
        "to load and is skipped: PluginValidationError",
    ):
        pm = make_plugin_manager()
    info = pm.infos["layers.temp_badhook"]
    assert info.status == "failed" and error in info.error
    assert not pm.has_plugin("layers.temp_badhook")
    assert "InnerProductLayer" in build_registry(pm).names("layers")


RAISING_HOOK = (
    GOOD_PLUGIN
    + """
@hookimpl
def mocha_register_solvers(register):
    raise RuntimeError("boom while registering")
"""
)


def test_plugin_whose_hook_raises_is_dropped(site, monkeypatch):
    site(
        "temp-raising",
        {"layers.temp_raising": "temp_raising_plugin"},
        {"temp_raising_plugin": RAISING_HOOK},
    )
    pm = make_plugin_manager()
    assert pm.infos["layers.temp_raising"].status == "loaded"
    with pytest.warns(
        RuntimeWarning,
        match="'layers.temp_raising' from temp-raising failed to "
        "register and is skipped: RuntimeError: boom",
    ):
        registry = build_registry(pm)
    assert "TempThirdPartyLayer" not in registry.names("layers")  # what it did register is gone
    assert "InnerProductLayer" in registry.names("layers")
    info = pm.infos["layers.temp_raising"]
    assert info.status == "failed" and "boom while registering" in info.error
    monkeypatch.setenv("MOCHA_STRICT_PLUGINS", "1")
    with pytest.raises(
        PluginError,
        match=r"plugin 'layers.temp_raising' \(temp-raising\) "
        r"failed to register: RuntimeError: boom",
    ):
        build_registry(make_plugin_manager())


def test_strict_mode_turns_a_broken_plugin_into_an_error(site, monkeypatch):
    site("temp-broken", {"layers.temp_broken": "temp_missing_module_xyz"})
    monkeypatch.setenv("MOCHA_STRICT_PLUGINS", "1")
    with pytest.raises(
        PluginError,
        match=r"plugin 'layers.temp_broken' \(temp_missing_module_xyz"
        r"\) from temp-broken failed to load",
    ):
        make_plugin_manager()


SILENT_HOOK = """
from mocha import hookimpl

@hookimpl
def mocha_register_layers(register):
    pass  # the author forgot to register the layer
"""


def test_plugin_that_registers_nothing_is_reported(site, monkeypatch):
    site(
        "temp-silent",
        {"layers.temp_silent": "temp_silent_plugin"},
        {"temp_silent_plugin": SILENT_HOOK},
    )
    pm = make_plugin_manager()
    with pytest.warns(
        RuntimeWarning,
        match=r"'layers.temp_silent' from temp-silent loaded but registers nothing: "
        r"its hooks \(mocha_register_layers\) never call register",
    ):
        build_registry(pm)
    info = pm.infos["layers.temp_silent"]
    assert (info.status, info.error.split(":")[0]) == ("empty", "loaded but registers nothing")
    monkeypatch.setenv("MOCHA_STRICT_PLUGINS", "1")
    with pytest.raises(
        PluginError, match=r"'layers.temp_silent' \(temp-silent\) loaded but registers nothing"
    ):
        build_registry(make_plugin_manager())
    pm = make_plugin_manager(lenient=True)  # `mocha plugins` shows the row, strict or not
    with pytest.warns(RuntimeWarning, match="registers nothing"):
        build_registry(pm)
    assert pm.infos["layers.temp_silent"].status == "empty"


def test_two_distributions_claiming_one_plugin_name(site):
    """The built-in keeps the key; the third-party entry point is reported, not fatal."""
    site(
        "temp-clash",
        {"layers.inner_product": "temp_good_plugin"},
        {"temp_good_plugin": GOOD_PLUGIN},
    )
    with pytest.warns(
        RuntimeWarning,
        match="'layers.inner_product' from temp-clash 1.2 is "
        "skipped: entry-point key .* already used by "
        "mocha-dl",
    ):
        pm = make_plugin_manager()
    assert pm.infos["layers.inner_product"].distribution == "mocha-dl"
    assert pm.infos["layers.inner_product (temp-clash)"].status == "failed"


def test_the_same_distribution_twice_on_sys_path_loads_once(site, tmp_path_factory, monkeypatch):
    site("temp-good", {"layers.temp_good": "temp_good_plugin"}, {"temp_good_plugin": GOOD_PLUGIN})
    other = tmp_path_factory.mktemp("other_site")  # e.g. an old copy, spelled differently
    info = other / "Temp_Good-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: Temp_Good\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[mocha]\nlayers.temp_good = temp_good_plugin\n")
    monkeypatch.syspath_prepend(str(other))
    pm = make_plugin_manager()
    assert pm.infos["layers.temp_good"].status == "loaded"
    assert "TempThirdPartyLayer" in build_registry(pm).names("layers")


def test_disable_plugins(site, monkeypatch):
    site("temp-good", {"layers.temp_good": "temp_good_plugin"}, {"temp_good_plugin": GOOD_PLUGIN})
    monkeypatch.setenv("MOCHA_DISABLE_PLUGINS", "layers.temp_good, layers.accuracy")
    pm = make_plugin_manager()
    assert pm.infos["layers.temp_good"].status == "disabled"
    assert pm.infos["layers.accuracy"].status == "disabled"
    names = build_registry(pm).names("layers")
    assert "TempThirdPartyLayer" not in names and "AccuracyLayer" not in names
    assert "InnerProductLayer" in names


@pytest.mark.parametrize(
    ("value", "loaded"),
    [("", False), ("temp-good", True), ("Temp_Good", True), ("other-dist", False)],
)
def test_load_plugins_selects_third_party_distributions(site, monkeypatch, value, loaded):
    site("temp-good", {"layers.temp_good": "temp_good_plugin"}, {"temp_good_plugin": GOOD_PLUGIN})
    monkeypatch.setenv("MOCHA_LOAD_PLUGINS", value)
    pm = make_plugin_manager()
    assert ("layers.temp_good" in pm.infos) is loaded
    assert pm.infos["layers.inner_product"].status == "loaded"  # mocha-dl always loads


def test_extra_plugins_without_entry_points():
    import mocha.plugins.layers.split as split

    pm = make_plugin_manager(load_entrypoints=False, extra_plugins=[("layers.split", split)])
    assert list(pm.infos) == ["layers.split"]
    assert pm.infos["layers.split"].distribution == "(extra)"
    assert build_registry(pm).names("layers") == ["SplitLayer"]


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_mocha_loads_no_plugins():
    out = _run("""
        import sys
        import mocha
        from mocha.core import plugins, registry
        loaded = sorted(m for m in sys.modules if m.startswith("mocha.plugins."))
        print(plugins._process_manager.cache_info().currsize,
              registry._registry_of.cache_info().currsize, loaded)
        for heavy in ("numba", "cupy", "rich", "typer"):
            assert heavy not in sys.modules, heavy
        mocha.InnerProductLayer  # first use of a plugin name builds the registry
        print(plugins._process_manager.cache_info().currsize)
    """)
    assert out.splitlines() == ["0 0 []", "1"]


def test_reset_plugin_manager_rebuilds_the_registry():
    out = _run("""
        import mocha
        from mocha.core.plugins import get_plugin_manager, reset_plugin_manager
        first = mocha.get_registry()
        pm = get_plugin_manager()
        reset_plugin_manager()
        print(mocha.get_registry() is not first, get_plugin_manager() is not pm)
    """)
    assert out == "True True"


def test_building_a_net_imports_no_command_line_library():
    """The `commands.*` entry points (which import typer and rich) are left to the CLI."""
    out = _run("""
        import sys
        import numpy as np
        import mocha
        backend = mocha.make_backend("numpy", dtype="float32", seed=0)
        backend.init()
        x, y = np.zeros((4, 3), np.float32), np.zeros((4, 1), np.float32)
        net = mocha.Net("t", backend, [
            mocha.MemoryDataLayer(data=[x, y], batch_size=2),
            mocha.InnerProductLayer(name="ip", output_dim=2, bottoms=["data"], tops=["ip"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ])
        print(len(net.layers), "RichProgress" in mocha.get_registry().names("coffee_breaks"),
              sorted(m for m in ("typer", "rich") if m in sys.modules))
    """)
    assert out == "3 True []"


COMMAND_PLUGIN = """
import typer  # a command module may import its command-line library at the top

from mocha import hookimpl

@hookimpl
def mocha_register_commands(app):
    app.command("temp-hello")(lambda: typer.echo("hello"))
"""


def test_command_plugins_are_loaded_only_when_asked_for(site):
    import typer

    site("temp-cmd", {"commands.temp_cmd": "temp_cmd_plugin"}, {"temp_cmd_plugin": COMMAND_PLUGIN})
    pm = make_plugin_manager()
    assert not [name for name in pm.infos if name.startswith("commands.")]
    assert "temp_cmd_plugin" not in sys.modules
    pm.load_commands()
    pm.load_commands()  # a second call loads nothing twice
    assert pm.infos["commands.temp_cmd"].distribution == "temp-cmd"
    assert pm.infos["commands.temp_cmd"].status == "loaded"
    assert pm.infos["commands.run_cmd"].status == "loaded"
    app = typer.Typer()
    pm.hook.mocha_register_commands(app=app)
    names = sorted(c.name for c in app.registered_commands)
    assert "temp-hello" in names and "run" in names
    assert len(names) == len(set(names))


def test_command_plugins_follow_disable_plugins(monkeypatch):
    monkeypatch.setenv("MOCHA_DISABLE_PLUGINS", "commands.plot_cmd")
    pm = make_plugin_manager()
    pm.load_commands()
    assert pm.infos["commands.plot_cmd"].status == "disabled"
    assert pm.infos["commands.dot_cmd"].status == "loaded"


def test_a_manager_without_entry_points_loads_no_commands():
    pm = make_plugin_manager(load_entrypoints=False)
    pm.load_commands()
    assert pm.infos == {}
