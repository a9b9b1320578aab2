"""Interchange formats are a plugin kind: the built-ins (caffe, onnx) are registered through
`mocha_register_formats`, listed by `mocha plugins`, and a third-party format gets its
`mocha convert` / `mocha export` commands from its declared options, like the built-ins."""

import json
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import mocha
from mocha import Conversion, FormatOption, hookimpl
from mocha.cli.app import make_app
from mocha.core import registry as registry_module
from mocha.core.errors import UnknownNameError
from mocha.core.plugins import make_plugin_manager
from mocha.core.registry import build_registry


class ToyFormat:
    """A made-up format: a `.toy` file holds one number, the scale of a PowerLayer."""

    name = "toy"
    summary = "toy nets (one PowerLayer)"
    extra = None
    convert_options = (
        FormatOption("source", "The .toy file.", Path, argument=True),
        FormatOption("shift", "Added after scaling.", float, 0.0),
    )
    export_options = (FormatOption("output", "The .toy file to write.", Path, flag="--output/-o"),)

    def convert(self, source, shift=0.0):
        scale = float(Path(source).read_text())
        layers = [
            {
                "type": "MemoryDataLayer",
                "name": "data",
                "source": "in.h5",
                "tops": ["x"],
                "batch_size": 2,
            },
            {
                "type": "PowerLayer",
                "name": "power",
                "scale": scale,
                "shift": shift,
                "bottoms": ["x"],
                "tops": ["y"],
            },
        ]
        return Conversion(
            name="toy",
            document={"name": "toy", "layers": layers},
            files={"in.h5": {"x": np.zeros((2, 3), np.float32)}},
            lines=[f"scale {scale}, shift {shift}"],
        )

    def export(self, source, output=None):
        [power] = [e.layer for e in source.entries if type(e.layer).__name__ == "PowerLayer"]
        Path(output).write_text(str(power.scale))
        return [Path(output)]


@pytest.fixture
def toy_registry(monkeypatch):
    module = types.ModuleType("toy_format")
    module.mocha_register_formats = hookimpl(lambda register: register(ToyFormat()))
    registry = build_registry(make_plugin_manager(extra_plugins=[("toy_format", module)]))
    monkeypatch.setattr(registry_module, "get_registry", lambda: registry)
    return registry


def test_the_built_in_formats_are_plugins_listed_by_mocha_plugins():
    result = CliRunner().invoke(make_app(), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output) if row["kind"] == "formats"}
    assert set(rows) >= {"formats.caffe", "formats.onnx"}
    for name in ("caffe", "onnx"):
        registers = rows[f"formats.{name}"]["registers"]
        assert registers["formats"] == [name]
        assert f"{name}.export.ConvolutionLayer" in registers["interchange"]
    assert "onnx.import.Conv" in rows["formats.onnx"]["registers"]["interchange"]
    assert "caffe.import.Convolution" in rows["formats.caffe"]["registers"]["interchange"]


def test_mocha_interop_gives_the_registered_format():
    from mocha import interop

    assert interop.onnx.plugin is mocha.lookup("formats", "onnx")
    assert interop.format("caffe").name == "caffe"
    with pytest.raises(UnknownNameError, match="Known formats: caffe, onnx"):
        interop.format("tensorflow")


def test_a_third_party_format_gets_convert_and_export_commands(toy_registry, tmp_path):
    app, runner = make_app(), CliRunner()
    result = runner.invoke(app, ["convert", "--help"])
    assert result.exit_code == 0 and "toy" in result.output
    (tmp_path / "net.toy").write_text("2.5")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["convert", "toy", str(tmp_path / "net.toy"), "--out", str(out), "--shift", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "scale 2.5, shift 1.0" in result.output and (out / "in.h5").is_file()
    from mocha.experiment import load_experiment

    [power] = [e.layer for e in load_experiment(out / "toy.toml").layers if e.index == 1]
    assert (power.scale, power.shift) == (2.5, 1.0)
    result = runner.invoke(
        app, ["export", "toy", str(out / "toy.toml"), "-o", str(tmp_path / "back.toy")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "back.toy").read_text() == "2.5"


def test_an_unknown_format_is_a_usage_error():
    result = CliRunner().invoke(make_app(), ["convert", "tensorflow", "x.pb"])
    assert result.exit_code == 2
    assert "No such command 'tensorflow'" in result.output


def test_a_layer_without_an_export_rule_says_so(tmp_path):
    pytest.importorskip("onnx")
    from mocha.plugins.formats.onnx import OnnxError, export_net

    class Unruly(mocha.IdentityLayer):
        pass

    backend = mocha.make_backend("numpy")
    backend.init()
    layers = [
        mocha.MemoryDataLayer(name="data", data=[np.zeros((2, 3))], batch_size=2, tops=["x"]),
        Unruly(name="u", bottoms=["x"], tops=["y"]),
    ]
    net = mocha.Net("n", backend, layers)
    net.init()
    try:
        with pytest.raises(OnnxError, match=r"Unruly\('u'\).*no onnx export rule"):
            export_net(net, tmp_path / "n.onnx")
    finally:
        net.shutdown()
        backend.shutdown()


def test_mocha_plugins_kind_formats_lists_each_format():
    result = CliRunner().invoke(make_app(), ["plugins", "--json", "--kind", "formats"])
    assert result.exit_code == 0, result.output
    assert {row["name"] for row in json.loads(result.output)} >= {"caffe", "onnx"}
