"""Import from ONNX: graphs written with `onnx.helper` (as another framework writes them) must
compute what onnxruntime computes; unfaithful ops are refused naming the node; our nets make
the round trip with identical weights and outputs."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_support import (
    ROOT,
    assert_close,
    backend,
    experiment_layers,
    make_net,
    onnx,
    ort_run,
)

import mocha
from mocha import Neurons
from mocha.plugins.formats.onnx import OnnxError, load
from mocha.plugins.formats.onnx import export_net as export

TensorProto, helper, numpy_helper = onnx.TensorProto, onnx.helper, onnx.numpy_helper
RNG = np.random.default_rng(1)


def rand(*shape, offset=0.0):
    return (RNG.normal(size=shape) + offset).astype(np.float32)


def model_of(nodes, inputs, outputs, inits=None, opset=17):
    """A model of `nodes`; `inputs` {name: sample shape} get a symbolic batch axis; the
    outputs' types come from shape inference."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", *s]) for n, s in inputs.items()],
        [],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    inferred = {vi.name: vi for vi in onnx.shape_inference.infer_shapes(model).graph.value_info}
    model.graph.output.extend(
        inferred[n] if n in inferred else helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
        for n in outputs
    )
    return model


def check_import(model, feeds):
    """Our net of the imported model equals onnxruntime on `feeds` (the full batch)."""
    want = ort_run(model, feeds)
    imported = load(model)
    n = len(next(iter(feeds.values())))
    net = imported.net(backend(), data=feeds, batch_size=n)
    net.forward()
    for name, value in want.items():
        assert_close(net.output_blobs[name].data, value)
    net.shutdown()
    return imported


def node(op, inputs, outputs, name=None, **attrs):
    return helper.make_node(op, inputs, outputs, name=outputs[0] if name is None else name, **attrs)


def types(imported):
    return [s["type"] for s in imported.specs]


X = {"x": (3, 9, 8)}


def feeds_x(n=4):
    return {"x": rand(n, 3, 9, 8)}


# -- one op (or one fused pattern) per case --------------------------------------------------
def test_conv_variants():
    w, w2 = rand(4, 3, 3, 2), rand(6, 1, 3, 3)
    m = model_of(
        [
            node("Conv", ["x", "w", "b"], ["y"], pads=[1, 2, 1, 2], strides=[2, 1]),
            node("Conv", ["x", "w2"], ["z"], group=3, kernel_shape=[3, 3]),
        ],
        X,
        ["y", "z"],
        {"w": w, "b": rand(4), "w2": w2},
    )
    imported = check_import(m, feeds_x())
    conv = imported.specs[0]
    assert (conv["pad"], conv["stride"], conv["n_filter"]) == ([1, 2], [2, 1], 4)
    assert imported.specs[1]["n_group"] == 3
    np.testing.assert_array_equal(imported.parameters["z"]["bias"], np.zeros(6))


def test_gemm_flatten_alpha_beta_and_matmul_add():
    m = model_of(
        [
            node("Flatten", ["x"], ["f"]),
            node("Gemm", ["f", "w", "c"], ["y"], alpha=0.5, beta=2.0),
            node("Sigmoid", ["y"], ["s"]),
            node("MatMul", ["s", "m"], ["p"]),
            node("Add", ["p", "bias"], ["q"]),
            node("MatMul", ["q", "m2"], ["r"]),
            node("Softmax", ["r"], ["prob"]),
        ],
        X,
        ["prob"],
        {"w": rand(216, 5), "c": rand(1, 5), "m": rand(5, 4), "bias": rand(4), "m2": rand(4, 3)},
    )
    imported = check_import(m, feeds_x())
    assert types(imported) == ["InnerProductLayer"] * 3 + ["SoftmaxLayer"]
    assert imported.specs[0]["bottoms"] == ["x"] and imported.specs[0]["neuron"] == "Sigmoid"


@pytest.mark.parametrize(
    "op, attrs, shape",
    [
        ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, (3, 9, 8)),
        ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, (3, 9, 9)),
        ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}, (3, 8, 8)),
        ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2]}, (3, 8, 8)),
        (
            "AveragePool",
            {
                "kernel_shape": [3, 3],
                "strides": [2, 2],
                "pads": [1, 1, 1, 1],
                "count_include_pad": 1,
            },
            (3, 9, 9),
        ),
        (
            "AveragePool",
            {
                "kernel_shape": [3, 2],
                "strides": [1, 2],
                "pads": [0, 0, 0, 0],
                "ceil_mode": 1,
                "count_include_pad": 1,
            },
            (3, 9, 8),
        ),
        ("GlobalAveragePool", {}, (3, 5, 4)),
        ("GlobalMaxPool", {}, (3, 5, 4)),
    ],
)
def test_pooling(op, attrs, shape):
    m = model_of([node(op, ["x"], ["y"], **attrs)], {"x": shape}, ["y"])
    imported = check_import(m, {"x": rand(4, *shape)})
    assert types(imported) == ["PoolingLayer"]


def test_lrn_neurons_softmax_and_concat():
    m = model_of(
        [
            node("LRN", ["x"], ["n"], size=5, alpha=1e-3, beta=0.6, bias=2.0),
            node("Conv", ["n", "w"], ["c"]),
            node("LeakyRelu", ["c"], ["l"], alpha=0.01),
            node("MaxPool", ["x"], ["p"], kernel_shape=[1, 1]),
            node("Tanh", ["p"], ["t"]),
            node("Concat", ["l", "t"], ["cat"], axis=1),
            node("Relu", ["cat"], ["r"]),
            node("Exp", ["r"], ["e"]),
            node("Softmax", ["e"], ["s"], axis=1),
        ],
        X,
        ["s"],
        {"w": rand(2, 3, 1, 1)},
    )
    imported = check_import(m, feeds_x())
    assert types(imported) == [
        "LRNLayer",
        "ConvolutionLayer",
        "PoolingLayer",
        "ConcatLayer",
        "PoolingLayer",
        "PoolingLayer",
        "SoftmaxLayer",
    ]
    assert imported.specs[1]["neuron"] == "LReLU" and imported.specs[2]["neuron"] == "Tanh"


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
def test_element_wise(op):
    m = model_of([node(op, ["x", "x2"], ["y"])], {"x": (3, 4), "x2": (3, 4)}, ["y"])
    check_import(m, {"x": rand(4, 3, 4), "x2": rand(4, 3, 4, offset=5.0)})


def test_reshape_flatten_argmax_dropout_identity():
    m = model_of(
        [
            node("Reshape", ["x", "s1"], ["a"]),
            node("Reshape", ["a", "s2"], ["b"]),
            node("Flatten", ["b"], ["f"]),
            node("Dropout", ["f"], ["d"]),
            node("Identity", ["d"], ["i"]),
            node("ArgMax", ["i"], ["am"], axis=1),
            node("ArgMax", ["x"], ["k"], axis=2),
            node("Cast", ["k"], ["kf"], to=TensorProto.FLOAT),
        ],
        X,
        ["i", "am", "kf"],
        {"s1": np.array([0, 24, 9], np.int64), "s2": np.array([-1, 216], np.int64)},
    )
    imported = check_import(m, feeds_x())
    assert types(imported) == ["ReshapeLayer"] * 3 + ["IdentityLayer"] * 2 + ["ArgmaxLayer"] * 2


def test_input_sub_and_mul_become_transformers(tmp_path):
    mean = rand(3, 9, 8)
    m = model_of(
        [
            node("Sub", ["x", "mean"], ["centred"]),
            node("Mul", ["centred", "scale"], ["scaled"]),
            node("Conv", ["scaled", "w"], ["y"]),
        ],
        X,
        ["y"],
        {"mean": mean[None], "scale": np.float32(0.25), "w": rand(2, 3, 3, 3)},
    )
    imported = check_import(m, feeds_x())
    assert [t["type"] for t in imported.transformers["x"]] == ["SubMean", "Scale"]
    assert imported.specs[0]["bottoms"] == ["x"]
    from mocha.interop import onnx as onnx_format

    paths = onnx_format.write_experiment(imported.conversion(), tmp_path)
    x = feeds_x()["x"]
    result = mocha.predict(
        load_layers(paths["experiment"]), x, model=paths["model"], backend=backend()
    )
    assert_close(result.outputs, ort_run(m, {"x": x})["y"])


def load_layers(path):
    from mocha.experiment import load_experiment

    return load_experiment(path).layers_for("train")


# -- refusals -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "nodes, inits, message",
    [
        (
            [node("Conv", ["x", "w"], ["y"], dilations=[2, 2])],
            {"w": rand(2, 3, 3, 3)},
            r"'y' \(Conv\): dilations=\[2, 2\]",
        ),
        (
            [node("Conv", ["x", "w"], ["y"], pads=[1, 1, 0, 0])],
            {"w": rand(2, 3, 3, 3)},
            r"'y' \(Conv\): asymmetric pads",
        ),
        (
            [node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER")],
            {"w": rand(2, 3, 3, 3)},
            r"auto_pad=SAME_UPPER",
        ),
        ([node("Conv", ["x", "x"], ["y"])], {}, r"the filter 'x' is not a constant"),
        (
            [node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], pads=[0, 0, 2, 2])],
            {},
            r"'y' \(MaxPool\): output height 9",
        ),
        (
            [
                node(
                    "AveragePool",
                    ["x"],
                    ["y"],
                    kernel_shape=[4, 4],
                    strides=[3, 3],
                    pads=[1, 1, 2, 2],
                    ceil_mode=1,
                    count_include_pad=1,
                )
            ],
            {},
            r"count_include_pad=1 with pads \[1, 1\] before and \[2, 2\] after",
        ),
        (
            [node("Add", ["x", "b"], ["y0"]), node("Relu", ["y0"], ["y"])],
            {"b": rand(1, 9, 8)},
            r"'y0' \(Add\): a constant operand",
        ),
        (
            [node("Erf", ["x"], ["y"])],
            {},
            r"'y' \(Erf\): op Erf is not supported",
        ),
        ([node("Softmax", ["x"], ["y"], axis=0)], {}, r"axis=0 is not a non-batch axis"),
        ([node("LeakyRelu", ["x"], ["y"], alpha=0.2)], {}, r"alpha=0.2"),
        (
            [node("Reshape", ["x", "s"], ["y"])],
            {"s": np.array([2, -1], np.int64)},
            r"does not keep the batch axis",
        ),
        ([node("ReduceSum", ["x"], ["y"])], {}, r"'y' \(ReduceSum\)"),
    ],
)
def test_unfaithful_ops_are_refused_naming_the_node(nodes, inits, message):
    with pytest.raises(OnnxError, match=message):
        load(model_of(nodes, X, ["y"], inits))


def test_broadcast_and_rank_refusals():
    m = model_of([node("Add", ["x", "x2"], ["y"])], {"x": (3, 4), "x2": (1, 4)}, ["y"])
    with pytest.raises(OnnxError, match=r"broadcast of \['N', 3, 4\] and \['N', 1, 4\]"):
        load(m)
    m = model_of(
        [node("Add", ["x", "x2"], ["s"]), node("Relu", ["s"], ["y"])],
        {"x": (3, 4), "x2": (3, 4)},
        ["y"],
    )
    with pytest.raises(OnnxError, match=r"'y' \(Relu\): an activation that follows no"):
        load(m)


def test_node_names_become_layer_names():
    m = model_of(
        [
            node("Relu", ["x"], ["y"], name="/features/0/Relu"),
            node("Identity", ["y"], ["z"], name=""),
        ],
        X,
        ["z"],
    )
    assert [s["name"] for s in load(m).specs] == ["features.0.Relu", "identity2"]


def test_bad_files(tmp_path):
    with pytest.raises(OnnxError, match="does not exist"):
        load(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\xff not a model")
    with pytest.raises(OnnxError, match="cannot read"):
        load(tmp_path / "junk.onnx")


# -- round trips ---------------------------------------------------------------------------
def round_trip(layers, inputs):
    net = make_net(layers, inputs)
    imported = load(export(net))
    n = len(next(iter(inputs.values())))
    again = imported.net(backend(), data=inputs, batch_size=n)
    again.forward()
    for state in net.states:
        for p in state.parameters:
            np.testing.assert_array_equal(
                imported.parameters[state.layer.name][p.name], p.blob.data
            )
    outputs = [o for o in imported.outputs]
    assert outputs
    for name in outputs:
        np.testing.assert_array_equal(again.output_blobs[name].data, net.output_blobs[name].data)
    return imported


def test_lenet_round_trip():
    layers = [
        mocha.ConvolutionLayer(
            name="conv1", n_filter=4, kernel=(5, 5), bottoms=["data"], tops=["conv1"]
        ),
        mocha.PoolingLayer(
            name="pool1", kernel=(2, 2), stride=(2, 2), bottoms=["conv1"], tops=["pool1"]
        ),
        mocha.ConvolutionLayer(
            name="conv2", n_filter=5, kernel=(5, 5), bottoms=["pool1"], tops=["conv2"]
        ),
        mocha.PoolingLayer(
            name="pool2", kernel=(2, 2), stride=(2, 2), bottoms=["conv2"], tops=["pool2"]
        ),
        mocha.InnerProductLayer(
            name="ip1", output_dim=20, neuron=Neurons.ReLU(), bottoms=["pool2"], tops=["ip1"]
        ),
        mocha.InnerProductLayer(name="ip2", output_dim=10, bottoms=["ip1"], tops=["ip2"]),
        mocha.SoftmaxLossLayer(name="loss", bottoms=["ip2", "label"]),
    ]
    imported = round_trip(layers, {"data": rand(3, 1, 28, 28), "label": np.zeros((3, 1))})
    assert [s["name"] for s in imported.specs] == ["conv1", "pool1", "conv2", "pool2", "ip1", "ip2"]
    assert list(imported.inputs) == ["data"]


def test_many_op_round_trip():
    layers = [
        mocha.ConvolutionLayer(
            name="conv",
            n_filter=4,
            kernel=(3, 3),
            pad=(1, 1),
            neuron=Neurons.ReLU(epsilon=0.05),
            bottoms=["data"],
            tops=["c"],
        ),
        mocha.PoolingLayer(
            name="pool",
            kernel=(3, 3),
            stride=(2, 2),
            pad=(1, 1),
            pooling="mean",
            neuron=Neurons.Tanh(),
            bottoms=["c"],
            tops=["p"],
        ),
        mocha.LRNLayer(name="norm", kernel=3, scale=0.5, bottoms=["p"], tops=["n"]),
        mocha.PoolingLayer(
            name="pool-b", kernel=(3, 3), stride=(2, 2), pad=(1, 1), bottoms=["c"], tops=["q"]
        ),
        mocha.ElementWiseLayer(name="sum", operation="Multiply", bottoms=["n", "q"], tops=["s"]),
        mocha.ConcatLayer(name="cat", bottoms=["s", "n"], tops=["cat"]),
        mocha.ReshapeLayer(name="flat", shape=(8, 25), bottoms=["cat"], tops=["r"]),
        mocha.SoftmaxLayer(name="prob", dim=2, bottoms=["r"], tops=["prob"]),
        mocha.ArgmaxLayer(name="best", bottoms=["prob"], tops=["best"]),
        mocha.IdentityLayer(name="same", bottoms=["prob"], tops=["same"]),
    ]
    imported = round_trip(layers, {"data": rand(3, 2, 9, 9)})
    assert sorted(imported.outputs) == ["best", "same"]


def test_cifar10_full_round_trip():
    """WithinChannel LRN comes back from its decomposition; pooling pads, ReLU on pooling."""
    layers = experiment_layers(ROOT / "examples" / "cifar10" / "cifar10_full.toml", (3, 32, 32))
    imported = round_trip(layers, {"data": rand(2, 3, 32, 32)})
    assert [s["type"] for s in imported.specs if s["name"].startswith("norm")] == [
        "LRNLayer",
        "LRNLayer",
    ]
    assert imported.specs[2]["mode"] == "WithinChannel" and imported.specs[2]["scale"] == 5e-5
