"""Import of what PyTorch's exporters write, the graph-level part (issue 24, item 2): shape
subgraphs folded to constants (a symbolic batch carried through them), reshapes keeping a
static batch, equal initializers shared through Identity; each graph built with `onnx.helper`
and checked against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_support import backend, onnx
from test_onnx_import import X, check_import, feeds_x, model_of, node, rand, types
from test_onnx_import_exporters import const, static_model

from mocha.plugins.formats.onnx import OnnxError, load

TensorProto = onnx.TensorProto


def test_shape_subgraph_folds_and_keeps_the_dynamic_batch():
    # TorchScript's x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape
    m = model_of(
        [
            node("Shape", ["x"], ["s"]),
            const("i0", np.array(0, np.int64)),
            node("Gather", ["s", "i0"], ["n"], axis=0),
            const("ax", np.array([0], np.int64)),
            node("Unsqueeze", ["n", "ax"], ["n1"]),
            const("m1", np.array([-1], np.int64)),
            node("Concat", ["n1", "m1"], ["target"], axis=0),
            node("Reshape", ["x", "target"], ["f"]),
            node("Gemm", ["f", "w", "b"], ["y"], transB=1),
        ],
        X,
        ["y"],
        {"w": rand(5, 216), "b": rand(5)},
        opset=18,
    )
    imported = check_import(m, feeds_x())
    assert types(imported) == ["ReshapeLayer", "InnerProductLayer"]
    assert imported.specs[0]["shape"] == [216]


def test_reshape_to_the_static_batch_keeps_the_batch_axis():
    # the dynamo exporter's flatten of a (1, 3, 9, 8) example: Reshape to a constant [1, 216]
    m = static_model(
        [
            node("Reshape", ["x", "s"], ["f"]),
            node("Cast", ["f"], ["y"], to=TensorProto.FLOAT),
        ],
        X,
        ["f"],
        {"s": np.array([1, 216], np.int64)},
    )
    m.graph.node.pop()  # only the Reshape
    imported = check_import(m, {"x": rand(1, 3, 9, 8)})
    assert imported.specs[0]["shape"] == [216]
    # the imported net runs any batch size
    net = imported.net(backend(), data={"x": rand(3, 3, 9, 8)}, batch_size=3)
    net.forward()
    assert net.output_blobs["f"].data.shape == (3, 216)
    net.shutdown()


def test_equal_initializers_shared_through_identity():
    # TorchScript deduplicates equal tensors: the second conv's bias is Identity(first bias)
    m = model_of(
        [
            node("Identity", ["b"], ["b2"]),
            node("Identity", ["w"], ["w2"]),
            node("Conv", ["x", "w", "b"], ["c1"], pads=[1, 1, 1, 1]),
            node("Conv", ["c1", "w2", "b2"], ["y"], pads=[1, 1, 1, 1]),
        ],
        X,
        ["y"],
        {"w": rand(3, 3, 3, 3), "b": np.zeros(3, np.float32)},
    )
    imported = check_import(m, feeds_x())
    assert types(imported) == ["ConvolutionLayer"] * 2


def test_folding_leaves_a_batch_dependent_value_to_a_clear_refusal():
    m = model_of(
        [
            node("Shape", ["x"], ["s"]),
            node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT),
            node("ReduceSum", ["sf"], ["y"], keepdims=0),
        ],
        X,
        ["y"],
    )
    with pytest.raises(OnnxError, match=r"'s' \(Shape\): op Shape is not supported"):
        load(m)


def test_a_symbolic_batch_is_not_cast_to_a_narrower_type():
    # int32 cannot hold the batch marker: the shape computation stays and is refused by name
    m = model_of(
        [
            node("Shape", ["x"], ["s"]),
            node("Cast", ["s"], ["c"], to=TensorProto.INT32),
            node("Cast", ["c"], ["c64"], to=TensorProto.INT64),
            node("Reshape", ["x", "c64"], ["y"]),
        ],
        X,
        ["y"],
    )
    with pytest.raises(OnnxError, match=r"'s' \(Shape\): op Shape is not supported"):
        load(m)


def test_shape_after_a_computed_reshape_folds_in_a_second_pass():
    # the second Shape reads a tensor whose shape is known only once the first Reshape's
    # target is folded (TorchScript's dynamic-batch ShuffleNet: shuffle after shuffle)
    def view_as_rows(src, out, tag):
        return [
            node("Shape", [src], [f"{tag}s"]),
            node("Gather", [f"{tag}s", "i0"], [f"{tag}n"], axis=0),
            node("Unsqueeze", [f"{tag}n", "ax"], [f"{tag}n1"]),
            node("Concat", [f"{tag}n1", "rest"], [f"{tag}t"], axis=0),
            node("Reshape", [src, f"{tag}t"], [out]),
        ]

    m = model_of(
        [*view_as_rows("x", "r1", "a"), node("Relu", ["r1"], ["h"]), *view_as_rows("h", "y", "b")],
        X,
        ["y"],
        {
            "i0": np.array(0, np.int64),
            "ax": np.array([0], np.int64),
            "rest": np.array([3, 8, -1], np.int64),
        },
        opset=17,
    )
    imported = check_import(m, feeds_x())
    assert types(imported) == ["ReshapeLayer", "PoolingLayer", "ReshapeLayer"]
