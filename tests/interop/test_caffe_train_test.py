"""Caffe train/test nets: same-named TRAIN/TEST data layers, the Data layer's crop_size, and
Slice, EuclideanLoss, SigmoidCrossEntropyLoss, DummyData, each against NumPy
implementations of Caffe's definitions."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("google.protobuf")

from caffe_helpers import _empty_model, input_layer, run  # noqa: E402

from mocha.interop import caffe  # noqa: E402

RNG = np.random.default_rng(11)

TRAIN_TEST = """name: "tt"
layer { name: "mnist" type: "Data" top: "data" top: "label" include { phase: TRAIN }
  transform_param { scale: 0.5 crop_size: 4 mirror: true mean_value: 3 }
  data_param { source: "train_lmdb" batch_size: 3 backend: LMDB } }
layer { name: "mnist" type: "Data" top: "data" top: "label" include { phase: TEST }
  transform_param { scale: 0.5 crop_size: 4 mean_value: 3 }
  data_param { source: "test_lmdb" batch_size: 2 backend: LMDB } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param { num_output: 3 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
layer { name: "acc" type: "Accuracy" bottom: "ip" bottom: "label" top: "acc"
  include { phase: TEST } }
"""


def _net(tmp_path, text):
    path = tmp_path / "n.prototxt"
    path.write_text(text)
    return path


def test_same_named_phase_data_layers_and_crops_load(tmp_path):
    from mocha.cli.app import make_app

    conv = caffe.convert(_net(tmp_path, TRAIN_TEST), input_shape=(1, 7, 6))
    tables = {t["name"]: t for t in conv.layers}
    assert tables["mnist-train"]["phase"] == "train" and tables["mnist-test"]["phase"] == "test"
    train_crop, test_crop = (t for t in conv.layers if t["type"] == "CropLayer")
    assert train_crop["random_crop"] and train_crop["random_mirror"]
    assert not test_crop["random_crop"] and not test_crop["random_mirror"]
    assert conv.shapes[test_crop["tops"][0]] == (2, 1, 4, 4)
    paths = caffe.write_experiment(conv, tmp_path / "out")
    result = CliRunner().invoke(make_app(), ["summary", str(paths["experiment"])])
    assert result.exit_code == 0, result.output
    assert "CropLayer" in result.output


def test_test_phase_crop_is_centred_after_the_mean_and_scale(tmp_path):
    """Caffe's DataTransformer in TEST: (x − mean)·scale at the centred window."""
    import mocha
    from mocha.backend_choice import make_backend

    data_only = TRAIN_TEST.split('layer { name: "ip"')[0]
    conv = caffe.convert(_net(tmp_path, data_only), input_shape=(1, 7, 6))
    caffe.write_experiment(conv, tmp_path / "out")
    x = RNG.normal(size=(2, 1, 7, 6))
    backend = make_backend("numpy", dtype="float64")
    backend.init()
    try:
        got = mocha.predict(
            caffe.load_layers(conv, "test", tmp_path / "out"),
            x,
            model=_empty_model(tmp_path),
            output=conv.blobs["data"],
            backend=backend,
        ).outputs
    finally:
        backend.shutdown()
    h_off, w_off = (7 - 4) // 2, (6 - 4) // 2
    np.testing.assert_allclose(got, ((x - 3) * 0.5)[:, :, h_off : h_off + 4, w_off : w_off + 4])


def test_a_crop_larger_than_the_images_is_refused(tmp_path):
    with pytest.raises(caffe.CaffeError, match=r"'mnist'.*crop_size 4.*\[1, 3, 3\]"):
        caffe.convert(_net(tmp_path, TRAIN_TEST), input_shape=(1, 3, 3))


@pytest.mark.parametrize(
    "param,edges",
    [("slice_point: 1 slice_point: 3", [0, 1, 3, 5]), ("axis: -3", None), ("slice_dim: 1", None)],
)
def test_slice(tmp_path, param, edges):
    x = RNG.normal(size=(2, 5 if edges else 6, 3, 2))
    n = x.shape[1]
    edges = edges or [0, n // 3, 2 * n // 3, n]
    net = input_layer(x.shape) + (
        'layer { name: "s" type: "Slice" bottom: "data" top: "a" top: "b" top: "c" '
        f"slice_param {{ {param} }} }}"
    )
    for i, top in enumerate("abc"):
        got = run(tmp_path / top, net, x, top)
        np.testing.assert_array_equal(got, x[:, edges[i] : edges[i + 1]])


def test_slice_points_that_do_not_fit_are_refused(tmp_path):
    net = _net(
        tmp_path,
        input_layer((2, 4)) + 'layer { name: "s" type: "Slice" bottom: "data" top: "a" top: "b" '
        "slice_param { slice_point: 4 } }",
    )
    with pytest.raises(caffe.CaffeError, match=r"'s'.*slice_point 4 >= axis size 4"):
        caffe.convert(net)


def _loss(tmp_path, text, arrays):
    from mocha.backend_choice import make_backend
    from mocha.core.net import Net

    conv = caffe.convert(_net(tmp_path, text))
    caffe.write_experiment(conv, tmp_path)
    backend = make_backend("numpy", dtype="float64")
    backend.init()
    net = Net("n", backend, caffe.load_layers(conv, "train", tmp_path))
    try:
        net.states[0].set_data(arrays)
        return net.forward(), conv
    finally:
        net.shutdown()
        backend.shutdown()


INPUTS = """layer { name: "in" type: "Input" top: "x" top: "t"
  input_param { shape { dim: 4 dim: 5 } shape { dim: 4 dim: 5 } } }
"""


def test_euclidean_loss(tmp_path):
    a, t = RNG.normal(size=(4, 5)), RNG.normal(size=(4, 5))
    text = INPUTS + (
        'layer { name: "l" type: "EuclideanLoss" bottom: "x" bottom: "t" top: "l" '
        "loss_weight: 0.25 }"
    )
    loss, _ = _loss(tmp_path, text, [a, t])
    assert loss == pytest.approx(0.25 * ((a - t) ** 2).sum() / (2 * 4), rel=1e-12)


def test_sigmoid_cross_entropy_loss(tmp_path):
    """Caffe: −1/N Σ [t·log σ(x) + (1 − t)·log(1 − σ(x))] (normalization BATCH_SIZE)."""
    x, t = RNG.normal(size=(4, 5)) * 2, RNG.uniform(size=(4, 5))
    text = INPUTS + (
        'layer { name: "l" type: "SigmoidCrossEntropyLoss" bottom: "x" bottom: "t" top: "l" }\n'
        'layer { name: "p" type: "Sigmoid" bottom: "x" top: "p" }'
    )
    loss, conv = _loss(tmp_path, text, [x, t])
    s = 1 / (1 + np.exp(-x))
    assert loss == pytest.approx(-(t * np.log(s) + (1 - t) * np.log(1 - s)).sum() / 4, rel=1e-10)
    bad = text.replace('top: "l" }', 'top: "l" loss_param { normalization: VALID } }', 1)
    with pytest.raises(caffe.CaffeError, match=r"'l'.*BATCH_SIZE"):
        caffe.convert(_net(tmp_path, bad))


def test_dummy_data_constant_and_gaussian(tmp_path):
    import mocha
    from mocha.backend_choice import make_backend

    path = _net(
        tmp_path,
        'layer { name: "d" type: "DummyData" top: "c" top: "g" dummy_data_param { '
        "shape { dim: 3 dim: 2 } shape { dim: 500 dim: 40 } "
        'data_filler { type: "constant" value: 1.5 } '
        'data_filler { type: "gaussian" mean: 2 std: 0.5 } } }\n'
        'layer { name: "e" type: "Eltwise" bottom: "g" bottom: "g" top: "e" }',
    )
    conv = caffe.convert(path)
    paths = caffe.write_experiment(conv, tmp_path / "out")
    assert not any(t.get("placeholder") for t in conv.layers)
    backend = make_backend("numpy", dtype="float64")
    backend.init()
    layers = caffe.load_layers(conv, "test", tmp_path / "out")
    from mocha.core.net import Net

    net = Net("n", backend, layers)
    try:
        net.forward()
        c = backend.to_host(net.output_blobs[conv.blobs["c"]].data)
        g = backend.to_host(net.output_blobs[conv.blobs["g"]].data)
    finally:
        net.shutdown()
        backend.shutdown()
    del mocha, paths
    np.testing.assert_array_equal(c, np.full((3, 2), 1.5))
    assert g.shape == (500, 40)
    assert abs(g.mean() - 2) < 0.02 and abs(g.std() - 0.5) < 0.02
    bad = path.read_text().replace('"gaussian"', '"uniform"')
    with pytest.raises(caffe.CaffeError, match=r"'d'.*uniform"):
        caffe.convert(_net(tmp_path, bad))


def test_slice_and_euclidean_loss_export_back_to_the_same_layers(tmp_path):
    text = INPUTS + (
        'layer { name: "s" type: "Slice" bottom: "x" top: "a" top: "b" '
        "slice_param { axis: 1 slice_point: 2 } }\n"
        'layer { name: "c" type: "Concat" bottom: "b" bottom: "a" top: "c" }\n'
        'layer { name: "l" type: "EuclideanLoss" bottom: "c" bottom: "t" top: "l" '
        "loss_weight: 0.5 }"
    )
    first = caffe.convert(_net(tmp_path, text))
    paths = caffe.write_experiment(first, tmp_path / "a")
    written = caffe.export_experiment(paths["experiment"], tmp_path / "caffe")
    out = written[0].read_text()
    assert 'type: "Slice"' in out and 'type: "EuclideanLoss"' in out
    second = caffe.convert(*written)
    assert second.layers == first.layers


@pytest.mark.parametrize("legacy", [False, True])
def test_contrastive_loss(tmp_path, legacy):
    """Caffe's ContrastiveLoss (siamese nets): 1/(2N) Σ [y d² + (1 − y) max(m − d, 0)²], the
    legacy form max(m − d², 0) for dissimilar pairs."""
    a, b = RNG.normal(size=(4, 5)), RNG.normal(size=(4, 5))
    y = np.array([[1.0], [0.0], [0.0], [1.0]])
    text = (
        'layer { name: "in" type: "Input" top: "a" top: "b" top: "y"\n'
        "  input_param { shape { dim: 4 dim: 5 } shape { dim: 4 dim: 5 } "
        "shape { dim: 4 dim: 1 } } }\n"
        'layer { name: "l" type: "ContrastiveLoss" bottom: "a" bottom: "b" bottom: "y" '
        f'top: "l" contrastive_loss_param {{ margin: 3 legacy_version: {str(legacy).lower()} }} }}'
    )
    loss, _ = _loss(tmp_path, text, [a, b, y])
    d2 = ((a - b) ** 2).sum(axis=1)
    far = np.maximum(3 - d2, 0) if legacy else np.maximum(3 - np.sqrt(d2), 0) ** 2
    expected = (y[:, 0] * d2 + (1 - y[:, 0]) * far).sum() / (2 * 4)
    assert loss == pytest.approx(expected, rel=1e-10)
