"""`mocha convert caffe` / `mocha export caffe`: Caffe's trained CIFAR-10 "quick" model end to
end, malformed files, the round trip export → import, and the missing-extra message."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("google.protobuf")

from mocha.cli.app import make_app  # noqa: E402
from mocha.interop import caffe  # noqa: E402
from mocha.plugins.formats.caffe import CaffeError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
QUICK = ROOT.parent / "shared" / "data" / "caffe" / "cifar10_quick"
needs_quick = pytest.mark.skipif(not QUICK.is_dir(), reason=f"no Caffe model at {QUICK}")
PROTOTXT = QUICK / "prediction_example.prototxt"
WEIGHTS = QUICK / "cifar10_quick_iter_5000.caffemodel"
IMAGES = [QUICK / f"{n}10.png" for n in ("dog", "cat", "truck")]
MEANS = "113.9,123.0,125.3"  # B, G, R (the README's CIFAR-10 training-set means)


@pytest.fixture(scope="module")
def app():
    return make_app()


def invoke(app, *args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    crash = repr(result.exception) if result.exit_code == 1 else ""
    return result.exit_code, result.output + crash


@needs_quick
def test_convert_then_predict_reproduces_caffes_classes(app, tmp_path):
    code, out = invoke(
        app,
        "convert",
        "caffe",
        PROTOTXT,
        WEIGHTS,
        "--out",
        tmp_path,
        "--mean-value",
        MEANS,
        "--drop",
        "argmax",
    )
    assert code == 0, out
    assert "ip1" in out and "InnerProductLayer 1024 → 64" in out
    assert "pool2" in out and "AVE 3x3/2 → 8x8" in out
    toml, model = tmp_path / "CIFAR10_quick.toml", tmp_path / "CIFAR10_quick.h5"
    code, out = invoke(
        app, "predict", toml, *IMAGES, "--model", model, "--backend", "numpy", "--json"
    )
    assert code == 0, out
    rows = json.loads(out)["predictions"]
    assert [r["class"] for r in rows] == [5, 3, 9]
    assert rows[0]["probability"] == pytest.approx(0.997, abs=0.001)
    assert rows[2]["probability"] == pytest.approx(0.9999, abs=0.0001)
    code, out = invoke(app, "summary", toml)
    assert code == 0, out
    assert "65,600" in out  # ip1: 64 × 1,024 weights + 64 biases
    # the training net is valid too (Caffe's implicit splits are explicit SplitLayers)
    # a converted model's data layer reads placeholder zeros: training on them is refused
    code, out = invoke(app, "run", toml, "--max-iter", "2", "--backend", "numpy", "--no-progress")
    assert code == 2 and "placeholder zeros" in out and "Point its `source`" in out, out
    text = toml.read_text(encoding="utf-8")
    assert "placeholder = true" in text
    toml.write_text(text.replace("placeholder = true\n", ""), encoding="utf-8")
    code, out = invoke(app, "run", toml, "--max-iter", "2", "--backend", "numpy", "--no-progress")
    assert code == 0, out


@needs_quick
def test_python_api_layers_and_weights(tmp_path):
    from PIL import Image

    from mocha.backend_choice import make_backend
    from mocha.core.net import Net

    conv = caffe.convert(PROTOTXT, WEIGHTS, mean_value=(113.9, 123.0, 125.3), drop=("argmax",))
    caffe.write_experiment(conv, tmp_path)
    assert conv.params["ip1___weight"].shape == (64, 1024)  # 64·4·4 inputs: pooling rounds up
    layers = caffe.load_layers(conv, "test", tmp_path)
    backend = make_backend("numpy")
    backend.init()
    net = Net("quick", backend, layers, phase="test")
    try:
        loaded = caffe.load_weights(conv, net)
        assert sorted(loaded) == sorted(conv.params)
        rgb = np.stack(
            [
                np.asarray(Image.open(p).convert("RGB"), dtype=np.float32).transpose(2, 0, 1)
                for p in IMAGES
            ]
        )
        net.states[0].set_data([rgb, np.zeros((3, 1), np.float32)])
        net.forward()
        prob = backend.to_host(net.output_blobs["prob"].data)
    finally:
        net.shutdown()
        backend.shutdown()
    assert list(prob.argmax(axis=1)) == [5, 3, 9]
    assert prob[0, 5] == pytest.approx(0.997, abs=0.001)


@needs_quick
def test_missing_mean_file_and_top_k_argmax_are_clear_errors(app, tmp_path):
    code, out = invoke(
        app, "convert", "caffe", PROTOTXT, WEIGHTS, "--out", tmp_path, "--drop", "argmax"
    )
    assert code == 2 and "mean_file" in out and "--mean-value" in out
    code, out = invoke(
        app, "convert", "caffe", PROTOTXT, WEIGHTS, "--out", tmp_path, "--mean-value", MEANS
    )
    assert code == 2 and "'argmax'" in out and "--drop argmax" in out


@needs_quick
def test_a_caffemodel_alone_is_a_net_too(tmp_path):
    with pytest.raises(CaffeError, match="'cifar' \\(Data\\).*--input-shape"):
        caffe.convert(WEIGHTS)
    conv = caffe.convert(WEIGHTS, input_shape=(3, 32, 32), mean_value=(113.9, 123.0, 125.3))
    data = conv.layers[0]
    assert data["name"] == "cifar" and data["batch_size"] == 100
    assert [t["type"] for t in data["transformers"]] == ["ChannelOrder", "SubMean"]
    assert conv.params["conv1___filter"].shape == (32, 3, 5, 5)
    assert conv.params["conv1___bias"].shape == (32,)


def test_deploy_input_takes_the_command_line_preprocessing(tmp_path):
    net = tmp_path / "deploy.prototxt"
    net.write_text(
        'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 2 dim: 2 }\n'
        'layer { name: "s" type: "Softmax" bottom: "data" top: "s" }\n'
    )
    assert "transformers" not in caffe.convert(net).layers[0]
    conv = caffe.convert(net, channel_swap=True, mean_value=(1.0, 2.0, 3.0))
    assert [t["type"] for t in conv.layers[0]["transformers"]] == ["ChannelOrder", "SubMean"]
    np.testing.assert_array_equal(conv.files["deploy-mean.h5"]["mean"][:, 0, 0], [1, 2, 3])


@needs_quick
def test_truncated_caffemodel_is_refused(tmp_path):
    cut = tmp_path / "cut.caffemodel"
    cut.write_bytes(WEIGHTS.read_bytes()[:100_000])
    with pytest.raises(CaffeError, match="cut.caffemodel.*truncated or corrupt"):
        caffe.convert(PROTOTXT, cut, mean_value=(1, 2, 3), drop=("argmax",))


def test_wrong_messages_are_refused(tmp_path):
    from mocha.plugins.formats.caffe.schema import BlobProto

    mean = tmp_path / "mean.binaryproto"
    blob = BlobProto(num=1, channels=1, height=2, width=2)
    blob.data.extend([1, 2, 3, 4])
    mean.write_bytes(blob.SerializeToString())
    with pytest.raises(CaffeError, match="no layers: this is not a Caffe net"):
        caffe.convert(mean)
    solver = tmp_path / "solver.prototxt"
    solver.write_text('net: "x.prototxt"\nbase_lr: 0.01\n')
    with pytest.raises(CaffeError, match="solver.prototxt.*not a Caffe net"):
        caffe.convert(solver)
    garbage = tmp_path / "garbage.prototxt"
    garbage.write_text("layer { name: 'a' type: \n")
    with pytest.raises(CaffeError, match="garbage.prototxt: not a Caffe net definition"):
        caffe.convert(garbage)
    v0 = tmp_path / "v0.prototxt"
    v0.write_text('layers { layer { name: "a" type: "conv" } }')
    with pytest.raises(CaffeError, match="V0 format"):
        caffe.convert(v0)


def test_unsupported_layers_are_listed_in_one_error(app, tmp_path):
    net = tmp_path / "net.prototxt"
    net.write_text("""layer { name: "in" type: "Input" top: "data"
              input_param { shape { dim: 1 dim: 2 } } }
      layer { name: "bn" type: "BatchNorm" bottom: "data" top: "data" batch_norm_param { eps: 1 } }
      layer { name: "abs" type: "AbsVal" bottom: "data" top: "a" }
      layer { name: "s" type: "Softmax" bottom: "a" top: "s" }""")
    code, out = invoke(app, "convert", "caffe", net, "--out", tmp_path)
    assert code == 2
    assert "2 layer(s) of 2 unsupported type(s)" in out
    assert "AbsVal ×1 ('abs')" in out and "BatchNorm ×1 ('bn')" in out


def test_unsupported_layers_are_grouped_by_type(app, tmp_path):
    net = tmp_path / "net.prototxt"
    layers = "".join(
        f'layer {{ name: "abs{i}" type: "AbsVal" bottom: "data" top: "a{i}" }}\n' for i in range(5)
    )
    net.write_text(
        'layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 } } }\n'
        + layers
    )
    code, out = invoke(app, "convert", "caffe", net, "--out", tmp_path)
    assert code == 2
    assert "5 layer(s) of 1 unsupported type(s): AbsVal ×5 ('abs0', 'abs1', 'abs2', ...)" in out
    assert "'abs4'" not in out


def test_unknown_fields_are_ignored(tmp_path):
    net = tmp_path / "net.prototxt"
    net.write_text("""name: "n" force_backward: true
      layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 } } }
      layer { name: "s" type: "Softmax" bottom: "data" top: "s"
              softmax_param { engine: CUDNN } not_a_caffe_field: 3 }""")
    conv = caffe.convert(net)
    assert [t["type"] for t in conv.layers] == ["MemoryDataLayer", "SoftmaxLayer"]


EXPERIMENT = """name = "small"
[backend]
name = "numpy"
[[layers]]
type = "MemoryDataLayer"
name = "data"
source = "arrays.h5"
batch_size = 2
tops = ["data", "label"]
[[layers]]
type = "ConvolutionLayer"
name = "conv"
n_filter = 4
kernel = [3, 2]
pad = [1, 0]
stride = [1, 2]
neuron = "ReLU"
bottoms = ["data"]
tops = ["conv"]
[[layers]]
type = "PoolingLayer"
name = "pool"
kernel = [2, 2]
stride = [2, 2]
pooling = "Max"
bottoms = ["conv"]
tops = ["pool"]
[[layers]]
type = "LRNLayer"
name = "norm"
kernel = 3
scale = 0.1
shift = 2.0
power = 0.5
bottoms = ["pool"]
tops = ["norm"]
[[layers]]
type = "InnerProductLayer"
name = "ip"
output_dim = 3
neuron = "Sigmoid"
bottoms = ["norm"]
tops = ["ip"]
[[layers]]
type = "DropoutLayer"
name = "drop"
phase = "train"
ratio = 0.25
bottoms = ["ip"]
[[layers]]
type = "SoftmaxLayer"
name = "prob"
phase = "test"
bottoms = ["ip"]
tops = ["prob"]
[[layers]]
type = "SoftmaxLossLayer"
name = "loss"
phase = "train"
bottoms = ["ip", "label"]
"""


def test_export_then_import_is_exact(app, tmp_path):
    import h5py

    from mocha.backend_choice import make_backend
    from mocha.core.io.model import save_network
    from mocha.experiment import load_experiment
    from mocha.experiment.build import build_nets

    rng = np.random.default_rng(1)
    with h5py.File(tmp_path / "arrays.h5", "w") as f:
        f["data"] = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)
        f["label"] = np.zeros((2, 1), np.float32)
    (tmp_path / "small.toml").write_text(EXPERIMENT)
    exp = load_experiment(tmp_path / "small.toml")
    backend = make_backend("numpy")
    backend.init()
    train, test = build_nets(exp, backend)
    train.init()
    save_network(str(tmp_path / "model.h5"), train)
    test.forward()
    want = backend.to_host(test.output_blobs["prob"].data).copy()
    train.shutdown()
    test.shutdown()
    backend.shutdown()

    code, out = invoke(
        app,
        "export",
        "caffe",
        tmp_path / "small.toml",
        "--model",
        tmp_path / "model.h5",
        "-o",
        tmp_path / "caffe",
    )
    assert code == 0, out
    code, out = invoke(
        app,
        "convert",
        "caffe",
        tmp_path / "caffe" / "small.prototxt",
        tmp_path / "caffe" / "small.caffemodel",
        "--out",
        tmp_path / "back",
    )
    assert code == 0, out
    conv = caffe.convert(
        tmp_path / "caffe" / "small.prototxt", tmp_path / "caffe" / "small.caffemodel"
    )
    ours = {t["name"]: t for t in conv.layers}
    original = {e.layer.name: e for e in exp.layers}
    assert set(ours) == set(original)
    assert ours["conv"]["kernel"] == [3, 2] and ours["conv"]["pad"] == [1, 0]
    assert ours["conv"]["stride"] == [1, 2] and ours["conv"]["neuron"] == "ReLU"
    assert ours["ip"]["neuron"] == "Sigmoid" and ours["drop"]["phase"] == "train"
    back = {layer.name: layer for layer in caffe.load_layers(conv, "train", tmp_path / "back")}
    for lname, keys in (
        ("conv", ("filter_regu", "bias_regu", "filter_lr", "bias_lr")),
        ("ip", ("weight_regu", "bias_regu", "weight_lr", "bias_lr")),
    ):
        for key in keys:  # our defaults (L2Regu(1), NoRegu, 1.0, 2.0) survive Caffe's form
            assert repr(getattr(back[lname], key)) == repr(getattr(original[lname].layer, key))
    assert ours["norm"] | {"bottoms": 0, "tops": 0} == {
        "type": "LRNLayer",
        "name": "norm",
        "kernel": 3,
        "scale": 0.1,
        "shift": 2.0,
        "power": 0.5,
        "mode": "AcrossChannel",
        "bottoms": 0,
        "tops": 0,
    }
    with h5py.File(tmp_path / "model.h5") as f:
        for key in f:
            np.testing.assert_array_equal(conv.params[key], f[key][()])
    with h5py.File(tmp_path / "back" / "small.h5") as f:
        assert sorted(f) == sorted(conv.params)
    import mocha

    x = np.asarray(h5py.File(tmp_path / "arrays.h5")["data"][()])
    got = mocha.predict(
        caffe.load_layers(conv, "test", tmp_path / "back"),
        x,
        model=tmp_path / "back" / "small.h5",
        output="prob",
        backend=_numpy(),
    )
    np.testing.assert_allclose(got.outputs, want, rtol=1e-6)


def _numpy():
    from mocha.backend_choice import make_backend

    backend = make_backend("numpy")
    backend.init()
    return backend


def test_export_refuses_layers_without_caffe_equivalent(app, tmp_path):
    text = EXPERIMENT.replace('type = "LRNLayer"', 'type = "LRNLayer"\nmode = "WithinChannel"')
    import h5py

    with h5py.File(tmp_path / "arrays.h5", "w") as f:
        f["data"] = np.zeros((2, 3, 6, 6), np.float32)
        f["label"] = np.zeros((2, 1), np.float32)
    (tmp_path / "small.toml").write_text(text)
    code, out = invoke(app, "export", "caffe", tmp_path / "small.toml", "-o", tmp_path)
    assert code == 2 and "'norm'" in out and "shift 2.0" in out, out


def test_without_protobuf_the_command_names_the_extra(app, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m.startswith("google.protobuf")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "google.protobuf", None)
    net = tmp_path / "n.prototxt"
    net.write_text("layer { }")
    code, out = invoke(app, "convert", "caffe", net, "--out", tmp_path)
    assert code == 2 and 'pip install "mocha-dl[caffe]"' in out


def test_imported_nets_export_back_to_the_same_caffe_layers(tmp_path):
    """Caffe → ours → Caffe → ours: same tables and weights (including the AVE pooling that
    needed four of our layers, and the implicit splits)."""
    rng = np.random.default_rng(2)
    (tmp_path / "n.prototxt").write_text("""name: "n"
      layer { name: "in" type: "Input" top: "data"
              input_param { shape { dim: 2 dim: 3 dim: 7 dim: 7 } } }
      layer { name: "c" type: "Convolution" bottom: "data" top: "c"
              convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
      layer { name: "relu" type: "ReLU" bottom: "c" top: "c" }
      layer { name: "p" type: "Pooling" bottom: "c" top: "p"
              pooling_param { pool: AVE kernel_size: 3 stride: 2 } }
      layer { name: "ip" type: "InnerProduct" bottom: "p" top: "ip"
              inner_product_param { num_output: 5 } }
      layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" }""")
    from mocha.plugins.formats.caffe.schema import NetParameter

    weights = NetParameter()
    for name, arrays in (
        ("c", [rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)]),
        ("ip", [rng.normal(size=(5, 36)), rng.normal(size=5)]),
    ):
        layer = weights.layer.add(name=name)
        for a in arrays:
            blob = layer.blobs.add()
            blob.shape.dim.extend(a.shape)
            blob.data.extend(a.ravel().tolist())
    (tmp_path / "w.caffemodel").write_bytes(weights.SerializeToString())
    first = caffe.convert(tmp_path / "n.prototxt", tmp_path / "w.caffemodel")
    paths = caffe.write_experiment(first, tmp_path / "a")
    toml, model = paths["experiment"], paths["model"]
    written = caffe.export_experiment(toml, tmp_path / "caffe", model=model)
    text = written[0].read_text()
    assert text.count("layer {") == 6 and "pool: AVE" in text and "Split" not in text
    second = caffe.convert(*written)
    assert second.layers == first.layers
    assert second.params.keys() == first.params.keys()
    for key, value in first.params.items():
        np.testing.assert_array_equal(second.params[key], value)
