"""Every mapped Caffe layer type: the converted net's forward equals a NumPy implementation of
Caffe's definition (tests/interop/caffe_helpers.py), in the current and the V1 format."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("google.protobuf")

from caffe_helpers import (  # noqa: E402
    conv,
    input_layer,
    lrn_across,
    lrn_within,
    pool,
    run,
    softmax,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 4, 7, 6))


def test_convolution_group_hw_and_bias(tmp_path):
    w = RNG.normal(size=(6, 2, 3, 2))
    b = RNG.normal(size=6)
    net = (
        input_layer(X.shape)
        + """layer { name: "c" type: "Convolution" bottom: "data" top: "c"
      convolution_param { num_output: 6 group: 2 kernel_h: 3 kernel_w: 2 pad_h: 1 pad_w: 0
                          stride_h: 2 stride_w: 1 } }"""
    )
    got = run(tmp_path, net, X, "c", {"c": [w, b.reshape(1, 1, 1, 6)]})
    np.testing.assert_allclose(got, conv(X, w, b, (1, 0), (2, 1), 2), rtol=1e-5, atol=1e-5)


def test_convolution_without_bias(tmp_path):
    w = RNG.normal(size=(3, 4, 3, 3))
    net = (
        input_layer(X.shape)
        + """layer { name: "c" type: "Convolution" bottom: "data" top: "c"
      convolution_param { num_output: 3 kernel_size: 3 pad: 1 bias_term: false } }"""
    )
    got = run(tmp_path, net, X, "c", {"c": [w]})
    np.testing.assert_allclose(got, conv(X, w, np.zeros(3), (1, 1), (1, 1)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "mode,kernel,stride,pad",
    [
        ("MAX", 3, 2, 0),
        ("MAX", 3, 2, 1),
        ("AVE", 3, 2, 0),
        ("AVE", 2, 2, 0),
        ("AVE", 3, 1, 1),
        ("AVE", 3, 3, 0),
    ],
)
def test_pooling_caffe_sizes_and_divisors(tmp_path, mode, kernel, stride, pad):
    net = (
        input_layer(X.shape)
        + f"""layer {{ name: "p" type: "Pooling" bottom: "data" top: "p"
      pooling_param {{ pool: {mode} kernel_size: {kernel} stride: {stride} pad: {pad} }} }}"""
    )
    want = pool(X, (kernel,) * 2, (stride,) * 2, (pad,) * 2, mode)
    got = run(tmp_path, net, X, "p")
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_padded_average_pooling_with_an_overhanging_window_is_refused(tmp_path):
    from mocha.plugins.formats.caffe import CaffeError

    net = (
        input_layer(X.shape)
        + """layer { name: "p" type: "Pooling" bottom: "data" top: "p"
      pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }"""
    )
    with pytest.raises(CaffeError, match="'p'.*AVE pooling whose last window overhangs"):
        run(tmp_path, net, X, "p")


def test_global_pooling(tmp_path):
    net = (
        input_layer(X.shape)
        + """layer { name: "p" type: "Pooling" bottom: "data" top: "p"
      pooling_param { pool: AVE global_pooling: true } }"""
    )
    np.testing.assert_allclose(
        run(tmp_path, net, X, "p"), X.mean(axis=(2, 3), keepdims=True), rtol=1e-6
    )


@pytest.mark.parametrize("transpose", [False, True])
def test_inner_product(tmp_path, transpose):
    w = RNG.normal(size=(5, 168))
    b = RNG.normal(size=5)
    stored = w.T if transpose else w
    net = (
        input_layer(X.shape)
        + f"""layer {{ name: "ip" type: "InnerProduct" bottom: "data"
      top: "ip" inner_product_param {{ num_output: 5 transpose: {str(transpose).lower()} }} }}"""
    )
    got = run(tmp_path, net, X, "ip", {"ip": [stored, b]})
    np.testing.assert_allclose(got, X.reshape(2, -1) @ w.T + b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "layer,oracle",
    [
        ('type: "ReLU"', lambda x: np.maximum(x, 0)),
        (
            'type: "ReLU" relu_param { negative_slope: 0.01 }',
            lambda x: np.where(x > 0, x, 0.01 * x),
        ),
        ('type: "Sigmoid"', lambda x: 1 / (1 + np.exp(-x))),
        ('type: "TanH"', np.tanh),
        ('type: "Exp"', np.exp),
        ('type: "Exp" exp_param { base: 2 scale: 0.5 shift: 1 }', lambda x: 2 ** (1 + 0.5 * x)),
        (
            'type: "Power" power_param { power: 2 scale: 0.5 shift: 3 }',
            lambda x: (3 + 0.5 * x) ** 2,
        ),
    ],
)
@pytest.mark.parametrize("after", ["data", "ip"])
def test_activations_in_place_fused_or_standalone(tmp_path, layer, oracle, after):
    w = RNG.normal(size=(5, 168))
    net = (
        input_layer(X.shape)
        + """layer { name: "ip" type: "InnerProduct" bottom: "data"
      top: "ip" inner_product_param { num_output: 5 } }\n"""
        + f'layer {{ name: "act" {layer} bottom: "{after}" top: "{after}" }}'
    )
    got = run(tmp_path, net, X, after, {"ip": [w, np.zeros(5)]})
    pre = X if after == "data" else X.reshape(2, -1) @ w.T
    np.testing.assert_allclose(got, oracle(pre), rtol=1e-5, atol=1e-6)


def test_activation_not_fused_when_the_pre_activation_is_read(tmp_path):
    w = RNG.normal(size=(5, 168))
    net = (
        input_layer(X.shape)
        + """layer { name: "ip" type: "InnerProduct" bottom: "data"
      top: "ip" inner_product_param { num_output: 5 } }
      layer { name: "copy" type: "Power" bottom: "ip" top: "raw" }
      layer { name: "relu" type: "ReLU" bottom: "ip" top: "ip" }
      layer { name: "sum" type: "Eltwise" bottom: "raw" bottom: "ip" top: "sum" }"""
    )
    pre = X.reshape(2, -1) @ w.T
    got = run(tmp_path, net, X, "sum", {"ip": [w, np.zeros(5)]})
    np.testing.assert_allclose(got, pre + np.maximum(pre, 0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("region", ["ACROSS_CHANNELS", "WITHIN_CHANNEL"])
def test_lrn(tmp_path, region):
    net = (
        input_layer(X.shape)
        + f"""layer {{ name: "n" type: "LRN" bottom: "data" top: "n"
      lrn_param {{ local_size: 3 alpha: 0.5 beta: 0.75 k: 2 norm_region: {region} }} }}"""
    )
    want = (
        lrn_across(X, 3, 0.5, 0.75, 2.0)
        if region == "ACROSS_CHANNELS"
        else lrn_within(X, 3, 0.5, 0.75)
    )
    np.testing.assert_allclose(run(tmp_path, net, X, "n"), want, rtol=1e-5)


def test_dropout_is_identity_in_the_test_net(tmp_path):
    net = (
        input_layer(X.shape)
        + """layer { name: "d" type: "Dropout" bottom: "data" top: "data"
      dropout_param { dropout_ratio: 0.3 } }
      layer { name: "s" type: "Softmax" bottom: "data" top: "s" }"""
    )
    np.testing.assert_allclose(run(tmp_path, net, X, "s"), softmax(X), rtol=1e-6)


def test_softmax_axis_concat_split_eltwise(tmp_path):
    net = (
        input_layer(X.shape)
        + """
      layer { name: "split" type: "Split" bottom: "data" top: "a" top: "b" }
      layer { name: "s" type: "Softmax" bottom: "a" top: "s" softmax_param { axis: 2 } }
      layer { name: "cat" type: "Concat" bottom: "s" bottom: "b" top: "cat" }
      layer { name: "sum" type: "Eltwise" bottom: "s" bottom: "b" bottom: "a" top: "sum"
              eltwise_param { operation: SUM coeff: 2 coeff: -1 coeff: 0.5 } }
      layer { name: "prod" type: "Eltwise" bottom: "s" bottom: "b" top: "prod"
              eltwise_param { operation: PROD } }
      layer { name: "diff" type: "Eltwise" bottom: "s" bottom: "b" top: "diff"
              eltwise_param { coeff: 1 coeff: -1 } }"""
    )
    s = softmax(X, axis=2)
    for top, want in (
        ("s", s),
        ("cat", np.concatenate([s, X], axis=1)),
        ("sum", 2 * s - X + 0.5 * X),
        ("prod", s * X),
        ("diff", s - X),
    ):
        np.testing.assert_allclose(run(tmp_path / top, net, X, top), want, rtol=1e-6, atol=1e-12)


def test_flatten_reshape_argmax(tmp_path):
    net = (
        input_layer(X.shape)
        + """
      layer { name: "f" type: "Flatten" bottom: "data" top: "f" }
      layer { name: "r" type: "Reshape" bottom: "f" top: "r"
              reshape_param { shape { dim: 0 dim: -1 dim: 6 } } }
      layer { name: "am" type: "ArgMax" bottom: "f" top: "am" }
      layer { name: "am2" type: "ArgMax" bottom: "data" top: "am2" argmax_param { axis: 1 } }"""
    )
    for top, want in (
        ("f", X.reshape(2, -1)),
        ("r", X.reshape(2, 28, 6)),
        ("am", X.reshape(2, -1).argmax(axis=1).reshape(2, 1)),
        ("am2", X.argmax(axis=1)[:, None]),
    ):
        np.testing.assert_allclose(run(tmp_path / top, net, X, top), want)


def test_softmax_with_loss_and_accuracy_forward(tmp_path):
    """SoftmaxWithLoss: loss_weight · mean over samples of −log softmax(x)[label];
    Accuracy: share of samples whose argmax is the label."""
    from mocha.backend_choice import make_backend
    from mocha.core.net import Net
    from mocha.interop import caffe

    x = RNG.normal(size=(6, 4))
    label = np.array([0, 1, 2, 3, 1, 1], dtype=np.float64).reshape(6, 1)
    net_path = tmp_path / "n.prototxt"
    net_path.write_text("""layer { name: "in" type: "Input" top: "data" top: "label"
      input_param { shape { dim: 6 dim: 4 } shape { dim: 6 dim: 1 } } }
      layer { name: "loss" type: "SoftmaxWithLoss" bottom: "data" bottom: "label" top: "loss"
              loss_weight: 0.5 }
      layer { name: "acc" type: "Accuracy" bottom: "data" bottom: "label" top: "acc" }""")
    conv = caffe.convert(net_path)
    caffe.write_experiment(conv, tmp_path)
    backend = make_backend("numpy", dtype="float64")
    backend.init()
    net = Net("n", backend, caffe.load_layers(conv, "train", tmp_path))
    try:
        net.states[0].set_data([x, label])
        loss = net.forward()
        stats = net.state_of("acc").dump_statistics()
    finally:
        net.shutdown()
        backend.shutdown()
    p = softmax(x)
    want = 0.5 * -np.log(p[np.arange(6), label[:, 0].astype(int)]).mean()
    assert loss == pytest.approx(want, rel=1e-9)
    accuracy = float(np.mean(x.argmax(axis=1) == label[:, 0]))
    assert list(stats.values())[0] == pytest.approx(accuracy)


def test_losses_and_accuracy_map_with_caffe_fields(tmp_path):
    from mocha.interop import caffe

    net = tmp_path / "n.prototxt"
    net.write_text("""layer { name: "in" type: "Input" top: "data" top: "label"
      input_param { shape { dim: 4 dim: 3 } shape { dim: 4 dim: 1 } } }
      layer { name: "loss" type: "SoftmaxWithLoss" bottom: "data" bottom: "label" top: "loss"
              loss_weight: 0.5 }
      layer { name: "acc" type: "Accuracy" bottom: "data" bottom: "label" top: "acc"
              include { phase: TEST } }""")
    conv = caffe.convert(net)
    tables = {t["name"]: t for t in conv.layers}
    assert tables["loss"] == {
        "type": "SoftmaxLossLayer",
        "name": "loss",
        "dim": 1,
        "bottoms": ["data", "label"],
        "weight": 0.5,
    }
    assert tables["acc"]["type"] == "AccuracyLayer" and tables["acc"]["phase"] == "test"


V1_NET = """name: "v1"
input: "data"
input_dim: 2 input_dim: 4 input_dim: 7 input_dim: 6
layers { name: "c" type: CONVOLUTION bottom: "data" top: "c" blobs_lr: 1 blobs_lr: 2
         convolution_param { num_output: 3 kernel_size: 3 stride: 2 } }
layers { name: "relu" type: RELU bottom: "c" top: "c" }
layers { name: "p" type: POOLING bottom: "c" top: "p"
         pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layers { name: "ip" type: INNER_PRODUCT bottom: "p" top: "ip"
         inner_product_param { num_output: 4 } }
layers { name: "prob" type: SOFTMAX bottom: "ip" top: "prob" }
"""


@pytest.mark.parametrize("legacy_dims,dtype", [(True, np.float32), (False, np.float64)])
def test_v1_format_with_legacy_blob_shapes_and_double_data(tmp_path, legacy_dims, dtype):
    w, b = RNG.normal(size=(3, 4, 3, 3)).astype(dtype), RNG.normal(size=3).astype(dtype)
    wi, bi = RNG.normal(size=(4, 6)).astype(dtype), RNG.normal(size=4).astype(dtype)
    got = run(
        tmp_path, V1_NET, X, "prob", {"c": [w, b], "ip": [wi, bi]}, v1=True, legacy_dims=legacy_dims
    )
    h = pool(np.maximum(conv(X, w, b, (0, 0), (2, 2)), 0), (2, 2), (2, 2), (0, 0), "AVE")
    np.testing.assert_allclose(got, softmax(h.reshape(2, -1) @ wi.T + bi), rtol=1e-5)


def _mean_file(path, mean):
    from mocha.plugins.formats.caffe.schema import BlobProto

    blob = BlobProto(num=1, channels=mean.shape[0], height=mean.shape[1], width=mean.shape[2])
    blob.data.extend(mean.astype(np.float32).ravel().tolist())
    path.write_bytes(blob.SerializeToString())
    return path


@pytest.mark.parametrize(
    "transform,expect",
    [
        (
            "scale: 0.5 mean_value: 10 mean_value: 20 mean_value: 30",
            lambda x, m: (x[:, ::-1] - np.array([10, 20, 30.0]).reshape(1, 3, 1, 1)) * 0.5,
        ),
        ("mean_value: 7", lambda x, m: x[:, ::-1] - 7),
        ('mean_file: "mean.binaryproto" mirror: true', lambda x, m: x[:, ::-1] - m),
    ],
)
def test_image_data_transform_param_is_caffes(tmp_path, transform, expect):
    """Caffe: (BGR image − mean) · scale; our inputs are RGB images."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    mean = RNG.normal(size=(3, 5, 4))
    _mean_file(tmp_path / "mean.binaryproto", mean)
    x = RNG.uniform(0, 255, size=(2, 3, 5, 4))
    net = f"""layer {{ name: "data" type: "ImageData" top: "data" top: "label"
      image_data_param {{ source: "list.txt" batch_size: 2 new_height: 5 new_width: 4 }}
      transform_param {{ {transform} }} }}
      layer {{ name: "same" type: "Power" bottom: "data" top: "same" }}"""
    got = run(tmp_path, net, x, "same")
    np.testing.assert_allclose(got, expect(x, mean), rtol=1e-5)


def test_data_layer_needs_its_image_size(tmp_path):
    from mocha.interop import caffe

    text = """layer { name: "d" type: "Data" top: "data" top: "label"
      data_param { source: "lmdb" batch_size: 4 backend: LMDB } transform_param { scale: 2 } }
      layer { name: "s" type: "Softmax" bottom: "data" top: "s" }"""
    (tmp_path / "n.prototxt").write_text(text)
    with pytest.raises(caffe.CaffeError, match="'d' \\(Data\\).*LMDB.*--input-shape"):
        caffe.convert(tmp_path / "n.prototxt")
    conv = caffe.convert(tmp_path / "n.prototxt", input_shape=(1, 3, 3))
    data = conv.layers[0]
    assert data["type"] == "MemoryDataLayer" and data["batch_size"] == 4
    assert data["transformers"] == [{"top": "data", "type": "Scale", "scale": 2.0}]
    assert conv.files["n-input.h5"]["data"].shape == (4, 1, 3, 3)


def test_hdf5_data_layer_reads_the_same_files(tmp_path):
    import h5py

    from mocha.interop import caffe

    with h5py.File(tmp_path / "part.h5", "w") as f:
        f["data"] = np.zeros((10, 2, 3, 3), np.float32)
        f["label"] = np.zeros((10, 1), np.float32)
    (tmp_path / "list.txt").write_text("part.h5\n")
    (tmp_path / "n.prototxt").write_text("""layer { name: "d" type: "HDF5Data" top: "data"
      top: "label" hdf5_data_param { source: "list.txt" batch_size: 5 shuffle: true }
      include { phase: TRAIN } }
      layer { name: "c" type: "Convolution" bottom: "data" top: "c"
              convolution_param { num_output: 2 kernel_size: 3 } }""")
    conv = caffe.convert(tmp_path / "n.prototxt")
    assert conv.layers[0] == {
        "type": "HDF5DataLayer",
        "name": "d",
        "source": str(tmp_path / "list.txt"),
        "batch_size": 5,
        "tops": ["data", "label"],
        "shuffle": True,
        "phase": "train",
    }
    assert conv.shapes["c"] == (5, 2, 1, 1)


def test_learning_rate_and_decay_multipliers(tmp_path):
    from mocha.interop import caffe

    (tmp_path / "n.prototxt").write_text(
        input_layer((1, 2, 3, 3))
        + """
      layer { name: "c" type: "Convolution" bottom: "data" top: "c"
              param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
              convolution_param { num_output: 2 kernel_size: 3
                                  weight_filler { type: "gaussian" std: 0.01 } } }
      layer { name: "ip" type: "InnerProduct" bottom: "c" top: "ip"
              inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }"""
    )
    tables = {t["name"]: t for t in caffe.convert(tmp_path / "n.prototxt").layers}
    conv, ip = tables["c"], tables["ip"]
    assert (conv["filter_lr"], conv["bias_lr"]) == (1.0, 2.0)
    assert conv["filter_regu"] == {"type": "L2Regu", "coefficient": 0.5}
    assert conv["bias_regu"] == "NoRegu"
    assert conv["filter_init"] == {"type": "GaussianInitializer", "mean": 0.0, "std": 0.01}
    assert (ip["weight_lr"], ip["bias_lr"]) == (1.0, 1.0)  # Caffe's defaults
    assert ip["bias_regu"] == {"type": "L2Regu", "coefficient": 0.5}
    assert ip["weight_init"] == "XavierInitializer"


def test_phase_data_layers_share_their_blob_names_and_bad_blob_shapes_are_named(tmp_path):
    from mocha.interop import caffe

    text = """layer { name: "train" type: "Input" top: "data" include { phase: TRAIN }
                      input_param { shape { dim: 8 dim: 5 } } }
      layer { name: "test" type: "Input" top: "data" include { phase: TEST }
              input_param { shape { dim: 2 dim: 5 } } }
      layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
              inner_product_param { num_output: 3 } }"""
    (tmp_path / "n.prototxt").write_text(text)
    conv = caffe.convert(tmp_path / "n.prototxt")
    assert [(t["name"], t.get("phase"), t["tops"]) for t in conv.layers[:2]] == [
        ("train", "train", ["data"]),
        ("test", "test", ["data"]),
    ]
    assert conv.layers[2]["bottoms"] == ["data"]
    from caffe_helpers import write_caffemodel

    bad = write_caffemodel(tmp_path / "w.caffemodel", {"ip": [np.zeros((3, 4)), np.zeros(3)]})
    with pytest.raises(
        caffe.CaffeError,
        match="'ip' \\(InnerProduct\\): blob 0 has shape \\[3, 4\\] but 'weight' needs \\[3, 5\\]",
    ):
        caffe.convert(tmp_path / "n.prototxt", bad)
