"""Import of what PyTorch's current exporters write (item 2 of issue 24), op by op: floor-rounded
pooling, BatchNormalization, ReduceMean, Clip, Pad, LogSoftmax, Split/Slice, Transpose and the
channel shuffle (the folding of shape subgraphs: test_onnx_import_folding.py); each graph is
built with `onnx.helper` and checked against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_support import onnx
from test_onnx_import import X, check_import, feeds_x, model_of, node, rand, types

from mocha.plugins.formats.onnx import OnnxError, load

TensorProto, helper, numpy_helper = onnx.TensorProto, onnx.helper, onnx.numpy_helper


def static_model(nodes, inputs, outputs, inits=None, opset=18):
    """Like `model_of`, with a static batch of 1 (the default export of a (1, ...) example)."""
    m = model_of(nodes, inputs, outputs, inits, opset)
    for vi in m.graph.input:
        vi.type.tensor_type.shape.dim[0].Clear()
        vi.type.tensor_type.shape.dim[0].dim_value = 1
    return m


def const(name, value):
    return node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value), name))


@pytest.mark.parametrize(
    "attrs, shape",
    [
        ({"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, (3, 10, 10)),
        ({"kernel_shape": [3, 3], "strides": [2, 2]}, (3, 10, 9)),
        ({"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, (3, 10, 9)),
    ],
)
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_floor_rounded_pooling(op, attrs, shape):
    extra = {"count_include_pad": 0} if op == "AveragePool" else {}
    m = model_of([node(op, ["x"], ["y"], **attrs, **extra)], {"x": shape}, ["y"])
    imported = check_import(m, {"x": rand(2, *shape)})
    assert imported.specs[0]["ceil_mode"] == bool(attrs.get("ceil_mode", 0))


def test_average_pool_count_include_pad():
    attrs = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}
    m = model_of(
        [node("AveragePool", ["x"], ["y"], count_include_pad=1, **attrs)], {"x": (2, 7, 6)}, ["y"]
    )
    imported = check_import(m, {"x": rand(2, 2, 7, 6)})
    assert imported.specs[0]["count_include_pad"] is True


@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_mean_over_h_w_is_global_average_pooling(opset, keepdims):
    axes = np.array([-2, -1], np.int64)
    if opset >= 18:
        nodes = [node("ReduceMean", ["x", "axes"], ["y"], keepdims=keepdims)]
        inits = {"axes": axes}
    else:
        nodes = [node("ReduceMean", ["x"], ["y"], keepdims=keepdims, axes=[-2, -1])]
        inits = {}
    m = model_of(nodes, X, ["y"], inits, opset=opset)
    imported = check_import(m, feeds_x())
    assert imported.specs[0]["global_pooling"] is True
    assert types(imported) == ["PoolingLayer"] + ["ReshapeLayer"] * (1 - keepdims)


def test_reduce_mean_over_channels_is_refused():
    m = model_of([node("ReduceMean", ["x"], ["y"], axes=[1])], X, ["y"], opset=13)
    with pytest.raises(OnnxError, match=r"'y' \(ReduceMean\): mean over axes \[1\]"):
        load(m)


def test_batch_normalization_uses_its_stored_statistics():
    m = model_of(
        [
            node("Conv", ["x", "w"], ["c"]),
            node("BatchNormalization", ["c", "g", "b", "mu", "var"], ["bn"], epsilon=1e-3),
            node("Relu", ["bn"], ["y"]),
        ],
        X,
        ["y"],
        {
            "w": rand(4, 3, 3, 3),
            "g": rand(4),
            "b": rand(4),
            "mu": rand(4),
            "var": np.abs(rand(4)) + 0.5,
        },
    )
    imported = check_import(m, feeds_x())
    assert types(imported) == ["ConvolutionLayer", "BatchNormLayer"]
    bn = imported.specs[1]
    assert bn["eps"] == 1e-3 and bn["momentum"] == 0.1 and bn["affine"] is True
    assert bn["neuron"] == "ReLU"


def test_batch_normalization_in_training_mode_is_refused():
    inits = {k: np.ones(3, np.float32) for k in ("g", "b", "mu", "var")}
    m = model_of(
        [node("BatchNormalization", ["x", "g", "b", "mu", "var"], ["y"], training_mode=1)],
        X,
        ["y"],
        inits,
        opset=15,
    )
    with pytest.raises(OnnxError, match=r"'y' \(BatchNormalization\): training_mode=1"):
        load(m)


@pytest.mark.parametrize(
    "bounds, neuron",
    [
        ((0.0, 6.0), {"type": "Clip", "min": 0.0, "max": 6.0}),
        ((0.0, None), "ReLU"),
        ((-0.5, None), {"type": "Clip", "min": -0.5, "max": float("inf")}),
    ],
)
def test_clip_is_a_neuron(bounds, neuron):
    lo, hi = bounds
    inits = {"lo": np.array(lo, np.float32)}
    if hi is not None:
        inits["hi"] = np.array(hi, np.float32)
    m = model_of(
        [
            node("Conv", ["x", "w"], ["c"]),
            node("Clip", ["c", "lo", "hi" if hi is not None else ""], ["y"]),
        ],
        X,
        ["y"],
        {"w": rand(4, 3, 1, 1, offset=0.0) * 8, **inits},
    )
    imported = check_import(m, feeds_x())
    assert imported.specs[0]["neuron"] == neuron


def test_clip_after_a_non_fusing_op():
    m = model_of(
        [node("Add", ["x", "x"], ["a"]), node("Clip", ["a", "lo", "hi"], ["y"])],
        X,
        ["y"],
        {"lo": np.array(-1, np.float32), "hi": np.array(1, np.float32)},
    )
    check_import(m, feeds_x())


def test_zero_pad_before_conv_becomes_its_padding():
    m = model_of(
        [
            node("Pad", ["x", "pads"], ["p"]),
            node("Conv", ["p", "w", "b"], ["y"], pads=[1, 0, 1, 0]),
        ],
        X,
        ["y"],
        {"pads": np.array([0, 0, 1, 2, 0, 0, 1, 2], np.int64), "w": rand(2, 3, 3, 3), "b": rand(2)},
    )
    imported = check_import(m, feeds_x())
    assert types(imported) == ["ConvolutionLayer"] and imported.specs[0]["pad"] == [2, 2]


def test_reflect_pad_is_refused():
    m = model_of(
        [node("Pad", ["x", "pads"], ["y"], mode="reflect")],
        X,
        ["y"],
        {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)},
    )
    with pytest.raises(OnnxError, match=r"'y' \(Pad\): Pad mode reflect"):
        load(m)


def test_unused_domains_in_opset_import_are_accepted():
    m = model_of([node("Relu", ["x"], ["y"])], X, ["y"])
    m.opset_import.append(helper.make_opsetid("pkg.onnxscript.torch_lib.common", 1))
    check_import(m, feeds_x())


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_log_softmax(opset):
    attrs = {"axis": 1} if opset < 13 else {}
    m = model_of(
        [node("Flatten", ["x"], ["f"]), node("LogSoftmax", ["f"], ["y"], **attrs)],
        X,
        ["y"],
        opset=opset,
    )
    imported = check_import(m, feeds_x())
    assert types(imported) == ["ReshapeLayer", "LogSoftmaxLayer"]


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split_along_channels(opset):
    shape = {"x": (6, 4, 5)}
    if opset >= 18:
        nodes = [node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)]
        inits = {}
    elif opset >= 13:
        nodes = [node("Split", ["x", "sizes"], ["a", "b", "c"], axis=1)]
        inits = {"sizes": np.array([1, 3, 2], np.int64)}
    else:
        nodes = [node("Split", ["x"], ["a", "b", "c"], axis=1, split=[1, 3, 2])]
        inits = {}
    m = model_of(nodes, shape, ["a", "b", "c"], inits, opset=opset)
    imported = check_import(m, {"x": rand(2, 6, 4, 5)})
    assert types(imported) == ["SliceLayer"]


@pytest.mark.parametrize(
    "starts, ends, axes, steps",
    [
        ([0], [2], [1], None),  # shufflenet's x[:, :C/2]
        ([1], [9223372036854775807], [1], [1]),  # x[:, 1:]
        ([2], [-1], [-1], None),  # x[..., 2:-1]
        ([0, 1], [5, 3], [-2, 1], None),  # the whole H and one cut of C
    ],
)
def test_slice_along_one_axis(starts, ends, axes, steps):
    inits = {
        "starts": np.array(starts, np.int64),
        "ends": np.array(ends, np.int64),
        "axes": np.array(axes, np.int64),
    }
    ins = ["x", "starts", "ends", "axes"]
    if steps is not None:
        inits["steps"] = np.array(steps, np.int64)
        ins.append("steps")
    m = model_of(
        [node("Slice", ins, ["s"]), node("Relu", ["s"], ["y"])], {"x": (3, 5, 6)}, ["y"], inits
    )
    imported = check_import(m, {"x": rand(2, 3, 5, 6)})
    assert types(imported)[0] == "SliceLayer"


@pytest.mark.parametrize(
    "starts, ends, axes, steps, message",
    [
        ([0], [4], [2], [2], r"step 2 along axis 2"),
        ([0], [1], [0], [1], r"a slice of the batch axis"),
        (
            [0, 1],
            [2, 3],
            [1, 2],
            [1, 1],
            r"slices \[\(1, 0, 2\), \(2, 1, 3\)\]",
        ),
    ],
)
def test_unfaithful_slices_are_refused(starts, ends, axes, steps, message):
    inits = {
        k: np.array(v, np.int64)
        for k, v in zip(("st", "en", "ax", "sp"), (starts, ends, axes, steps))
    }
    m = model_of([node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], X, ["y"], inits)
    with pytest.raises(OnnxError, match=r"'y' \(Slice\): " + message):
        load(m)


@pytest.mark.parametrize("static", [False, True])
def test_channel_shuffle(static):
    # shufflenet: x.view(n, g, C/g, H, W).transpose(1, 2).reshape(n, C, H, W)
    n = 1 if static else 0
    nodes = [
        node("Reshape", ["x", "s5"], ["r"]),
        node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3, 4]),
        node("Reshape", ["t", "s4"], ["y"]),
    ]
    inits = {"s5": np.array([n, 3, 2, 4, 5], np.int64), "s4": np.array([n, -1, 4, 5], np.int64)}
    shape = {"x": (6, 4, 5)}
    m = static_model(nodes, shape, ["y"], inits) if static else model_of(nodes, shape, ["y"], inits)
    imported = check_import(m, {"x": rand(1 if static else 2, 6, 4, 5)})
    assert types(imported) == ["ChannelShuffleLayer"] and imported.specs[0]["groups"] == 3


def test_transpose_keeping_the_batch_first():
    m = model_of(
        [node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]), node("Relu", ["t"], ["y"])], X, ["y"]
    )
    imported = check_import(m, feeds_x())
    assert types(imported)[0] == "TransposeLayer" and imported.specs[0]["perm"] == [0, 3, 1, 2]


def test_transpose_moving_the_batch_is_refused():
    m = model_of([node("Transpose", ["x"], ["y"], perm=[1, 0, 2, 3])], X, ["y"])
    with pytest.raises(OnnxError, match=r"'y' \(Transpose\): perm=\[1, 0, 2, 3\] moves"):
        load(m)


@pytest.mark.parametrize(
    "pads, value, then_conv, layers",
    [
        ([0, 0, 1, 2, 0, 1, 3, 0], 1.5, False, ["PadLayer"]),
        ([0, 1, 0, 0, 0, 2, 0, 0], 0.0, False, ["PadLayer"]),
        ([0, 0, 1, 0, 0, 0, 0, 0], 0.0, True, ["PadLayer", "ConvolutionLayer"]),
    ],
)
def test_constant_pad(pads, value, then_conv, layers):
    nodes = [node("Pad", ["x", "pads", "v"], ["p"])]
    inits = {"pads": np.array(pads, np.int64), "v": np.array(value, np.float32)}
    if then_conv:
        nodes.append(node("Conv", ["p", "w"], ["y"]))
        inits["w"] = rand(2, 3, 3, 3)
    else:
        nodes.append(node("Relu", ["p"], ["y"]))
    imported = check_import(model_of(nodes, X, ["y"], inits), feeds_x())
    assert types(imported)[: len(layers)] == layers


def test_concat_of_one_tensor_is_the_identity():
    m = model_of([node("Concat", ["x"], ["c"], axis=1), node("Relu", ["c"], ["y"])], X, ["y"])
    assert types(check_import(m, feeds_x()))[0] == "IdentityLayer"
