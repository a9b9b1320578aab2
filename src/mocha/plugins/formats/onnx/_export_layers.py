"""One function per layer type: the ONNX nodes computing exactly what the layer computes.

`convert(g, layer, state, xs, ys, shapes, backend)` writes nodes reading the tensors `xs` (one
per bottom) and producing `ys` (one per top, before the neuron); `shapes` maps blob names to
their shapes in the built net. Where ONNX's defaults differ from ours the mapping says how:

* Pooling rounds the output size up (Caffe): ONNX gets explicit pads `(ph, pw)` in front and
  the pad at the end that makes the last window fit, with `ceil_mode=0`. Mean pooling divides
  by the full window (`count_include_pad=1`, every window lies inside the padded extent).
* LRN: ONNX's `LRN` (`size`, `alpha`/size, `beta`, `bias`) is our AcrossChannel formula with the
  same window (odd sizes; onnxruntime refuses even ones, which become the decomposition);
  WithinChannel is x · (shift + scale·avgpool_k×k(x²))^(−power).
* InnerProduct: `Flatten(axis=1)` then `Gemm(transB=1)`; TiedInnerProduct uses the encoder's
  weight untransposed.
* Argmax: `ArgMax(keepdims=1)` cast to float; Index2Onehot: `Equal` against the class indices
  cast to float; Crop: a centred `Slice` (random crops and mirroring are training-time only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mocha.plugins.formats.onnx._common import OnnxError, layer_label

FLOAT = 1  # onnx.TensorProto.FLOAT


def _node_name(layer: Any, i: int) -> str:
    return layer.name if i == 0 else f"{layer.name}/{i}"


def add_neuron(g: Any, layer: Any, neuron: Any, x: str, y: str) -> str:
    """The layer's neuron applied to tensor `x`, written to `y`."""
    kind = type(neuron).__name__
    name = f"{layer.name}/{kind.lower()}"
    if kind == "ReLU":
        if neuron.epsilon == 0:
            g.node("Relu", [x], [y], name)
        else:  # y = max(epsilon, x)
            g.node("Max", [x, g.const(f"{layer.name}/epsilon", neuron.epsilon)], [y], name)
    elif kind == "LReLU":
        g.node("LeakyRelu", [x], [y], name, alpha=0.01)
    elif kind == "Sigmoid":
        g.node("Sigmoid", [x], [y], name)
    elif kind == "Tanh":
        g.node("Tanh", [x], [y], name)
    elif kind == "Exponential":
        g.node("Exp", [x], [y], name)
    else:
        raise OnnxError(f"{layer_label(layer)}: neuron {kind} has no ONNX equivalent")
    return y


def convolution(g, layer, state, xs, ys, shapes, backend) -> None:
    w = g.param(layer.name, state.filter, backend)
    b = g.param(layer.name, state.bias, backend)
    (ph, pw) = layer.pad
    for i, (x, y) in enumerate(zip(xs, ys)):
        g.node(
            "Conv",
            [x, w, b],
            [y],
            _node_name(layer, i),
            kernel_shape=list(layer.kernel),
            strides=list(layer.stride),
            pads=[ph, pw, ph, pw],
            group=layer.n_group,
            dilations=[1, 1],
        )


def _flat(g, layer, x: str, shape: tuple[int, ...], i: int) -> str:
    if len(shape) == 2:
        return x
    out = g.fresh(f"{x}/flat")
    g.node("Flatten", [x], [out], f"{_node_name(layer, i)}/flatten", axis=1)
    return out


def inner_product(g, layer, state, xs, ys, shapes, backend) -> None:
    w = g.param(layer.name, state.weight, backend)
    b = g.param(layer.name, state.bias, backend)
    for i, (bottom, x, y) in enumerate(zip(layer.bottoms, xs, ys)):
        g.node(
            "Gemm",
            [_flat(g, layer, x, shapes[bottom], i), w, b],
            [y],
            _node_name(layer, i),
            transB=1,
        )


def tied_inner_product(g, layer, state, xs, ys, shapes, backend) -> None:
    w = g.param(f"{layer.name}/tied", state.tied, backend)
    b = g.param(layer.name, state.bias, backend)
    for i, (bottom, x, y) in enumerate(zip(layer.bottoms, xs, ys)):
        g.node("Gemm", [_flat(g, layer, x, shapes[bottom], i), w, b], [y], _node_name(layer, i))


def pool_end_pad(
    size: int, kernel: int, pad: int, stride: int, out: int, who: str, axis: str
) -> int:
    """The end pad for which ONNX's floor-mode output length is `out` with every window
    inside [−pad, size + end); an `OnnxError` when there is none."""
    end = max(0, (out - 1) * stride + kernel - size - pad)
    if (size + pad + end - kernel) // stride + 1 != out or end >= kernel:
        raise OnnxError(
            f"{who}: no ONNX pooling computes our output {axis} {out} (input "
            f"{size}, kernel {kernel}, pad {pad}, stride {stride})"
        )
    return end


def _pool(
    g, name: str, x: str, y: str, is_max: bool, kernel, pads, stride, include_pad: int = 1
) -> None:
    if is_max:
        g.node(
            "MaxPool",
            [x],
            [y],
            name,
            kernel_shape=list(kernel),
            strides=list(stride),
            pads=list(pads),
            ceil_mode=0,
        )
    else:
        g.node(
            "AveragePool",
            [x],
            [y],
            name,
            kernel_shape=list(kernel),
            strides=list(stride),
            pads=list(pads),
            ceil_mode=0,
            count_include_pad=include_pad,
        )


def pooling(g, layer, state, xs, ys, shapes, backend) -> None:
    # floor or ceil rounding: the end pads reproduce our output size (`state.out_hw`) in ONNX's
    # floor mode; the mean's divisor: the full window (Mocha) and, while every window stays
    # inside the padded input, Caffe's padded count are count_include_pad=1; the in-image
    # count is count_include_pad=0 (the added end pads never count)
    who = layer_label(layer)
    for i, (bottom, x, y, out) in enumerate(zip(layer.bottoms, xs, ys, state.out_hw)):
        H, W = shapes[bottom][2:]
        kernel = state.kernels[i]  # (H, W) under global pooling
        ends = [
            pool_end_pad(n, k, p, s, o, who, a)
            for n, k, p, s, o, a in zip(
                (H, W), kernel, layer.pad, layer.stride, out, ("height", "width")
            )
        ]
        if (
            not state.is_max
            and state.divisor == "padded"
            and any(e > p for e, p in zip(ends, layer.pad))
        ):
            raise OnnxError(
                f"{who}: mean pooling with count_include_pad = true whose last window runs "
                f"past the padded input (Caffe's count there is smaller): no ONNX AveragePool "
                f"divides by it"
            )
        _pool(
            g,
            _node_name(layer, i),
            x,
            y,
            state.is_max,
            kernel,
            [*layer.pad, *ends],
            layer.stride,
            0 if state.divisor == "image" else 1,
        )


def channel_pooling(g, layer, state, xs, ys, shapes, backend) -> None:
    who = layer_label(layer)
    for i, (x, y, (view, P, top)) in enumerate(zip(xs, ys, state.geometry)):
        name = _node_name(layer, i)
        C = view[2]
        end = pool_end_pad(C, layer.kernel, layer.pad[0], layer.stride, P, who, "channels")
        v = g.fresh(f"{x}/view")
        g.node(
            "Reshape",
            [x, g.const(f"{name}/view", [-1, 1, C, view[3]], np.int64)],
            [v],
            f"{name}/view",
        )
        pooled = g.fresh(f"{y}/pooled")
        _pool(
            g,
            name,
            v,
            pooled,
            state.is_max,
            (layer.kernel, 1),
            (layer.pad[0], 0, end, 0),
            (layer.stride, 1),
        )
        g.node(
            "Reshape",
            [pooled, g.const(f"{name}/shape", [-1, *top[1:]], np.int64)],
            [y],
            f"{name}/unview",
        )


def _normalize(g, layer, x: str, mean: str, y: str) -> None:
    """y = x · (shift + scale · mean)^(−power), `mean` the window mean of x²."""
    name = layer.name
    scaled, denom, factor = (g.fresh(f"{y}/{s}") for s in ("scaled", "denom", "factor"))
    g.node("Mul", [mean, g.const(f"{name}/scale", layer.scale)], [scaled], f"{name}/scale")
    g.node("Add", [scaled, g.const(f"{name}/shift", layer.shift)], [denom], f"{name}/shift")
    g.node("Pow", [denom, g.const(f"{name}/power", -layer.power)], [factor], f"{name}/power")
    g.node("Mul", [x, factor], [y], name)


def lrn(g, layer, state, xs, ys, shapes, backend) -> None:
    x, y, name = xs[0], ys[0], layer.name
    k = layer.kernel
    pre = (k - 1) // 2
    post = k - 1 - pre
    if layer.mode.kind == "within_channel":  # the mean of x² over a zero-padded k×k square
        sq, avg = g.fresh(f"{y}/square"), g.fresh(f"{y}/mean")
        g.node("Mul", [x, x], [sq], f"{name}/square")
        g.node(
            "AveragePool",
            [sq],
            [avg],
            f"{name}/window",
            kernel_shape=[k, k],
            strides=[1, 1],
            pads=[pre, pre, post, post],
            ceil_mode=0,
            count_include_pad=1,
        )
        _normalize(g, layer, x, avg, y)
        return
    axis = state.axis
    moved, out = x, y
    if axis != 1:
        perm = [0, axis] + [a for a in range(1, 4) if a != axis]
        moved, out = g.fresh(f"{x}/moved"), g.fresh(f"{y}/moved")
        g.node("Transpose", [x], [moved], f"{name}/to_channels", perm=perm)
    if k % 2:  # ONNX's LRN: the same window and n = size
        g.node(
            "LRN",
            [moved],
            [out],
            name,
            size=k,
            alpha=float(layer.scale),
            beta=float(layer.power),
            bias=float(layer.shift),
        )
    else:  # onnxruntime's LRN takes odd sizes only: the channel window mean as a pooling
        C = shapes[layer.bottoms[0]][axis]
        sq, view, avg, mean = (g.fresh(f"{y}/{s}") for s in ("square", "view", "avg", "mean"))
        g.node("Mul", [moved, moved], [sq], f"{name}/square")
        g.node(
            "Reshape",
            [sq, g.const(f"{name}/view", [0, 1, C, -1], np.int64)],
            [view],
            f"{name}/view",
        )
        g.node(
            "AveragePool",
            [view],
            [avg],
            f"{name}/window",
            kernel_shape=[k, 1],
            strides=[1, 1],
            pads=[pre, 0, post, 0],
            ceil_mode=0,
            count_include_pad=1,
        )
        g.node(
            "Reshape",
            [
                avg,
                g.const(
                    f"{name}/unview",
                    [0, C, *[shapes[layer.bottoms[0]][a] for a in range(1, 4) if a != axis]],
                    np.int64,
                ),
            ],
            [mean],
            f"{name}/unview",
        )
        _normalize(g, layer, moved, mean, out)
    if axis != 1:
        g.node(
            "Transpose", [out], [y], f"{name}/from_channels", perm=[perm.index(a) for a in range(4)]
        )


def softmax(g, layer, state, xs, ys, shapes, backend) -> None:
    for i, (x, y, axis) in enumerate(zip(xs, ys, state.axes)):
        g.node("Softmax", [x], [y], _node_name(layer, i), axis=axis)


def power(g, layer, state, xs, ys, shapes, backend) -> None:
    name = layer.name
    for i, (x, y) in enumerate(zip(xs, ys)):
        steps = []
        if layer.scale != 1:
            steps.append(("Mul", "scale", layer.scale))
        if layer.shift != 0:
            steps.append(("Add", "shift", layer.shift))
        if layer.power != 1:
            steps.append(("Pow", "power", layer.power))
        if not steps:
            g.node("Identity", [x], [y], _node_name(layer, i))
            continue
        for j, (op, what, value) in enumerate(steps):
            out = y if j == len(steps) - 1 else g.fresh(f"{y}/{what}")
            node = _node_name(layer, i) if j == len(steps) - 1 else f"{name}/{what}"
            g.node(op, [x, g.const(f"{name}/{what}", value)], [out], node)
            x = out


ELEMENT_WISE_OPS = {"Add": "Add", "Subtract": "Sub", "Multiply": "Mul", "Divide": "Div"}


def element_wise(g, layer, state, xs, ys, shapes, backend) -> None:
    op = ELEMENT_WISE_OPS.get(type(layer.operation).__name__)
    if op is None:
        raise OnnxError(
            f"{layer_label(layer)}: operation {layer.operation!r} has no ONNX equivalent"
        )
    g.node(op, xs, ys, layer.name)


def concat(g, layer, state, xs, ys, shapes, backend) -> None:
    g.node("Concat", xs, ys, layer.name, axis=state.axis)


def reshape(g, layer, state, xs, ys, shapes, backend) -> None:
    target = g.const(f"{layer.name}/shape", [0, *layer.shape], np.int64)
    for i, (x, y) in enumerate(zip(xs, ys)):
        g.node("Reshape", [x, target], [y], _node_name(layer, i))


def identity(g, layer, state, xs, ys, shapes, backend) -> None:
    for i, (x, y) in enumerate(zip(xs, ys)):
        g.node("Identity", [x], [y], _node_name(layer, i))


def split(g, layer, state, xs, ys, shapes, backend) -> None:
    for i, y in enumerate(ys):
        g.node("Identity", [xs[0]], [y], _node_name(layer, i))


def argmax(g, layer, state, xs, ys, shapes, backend) -> None:
    for i, (x, y, axis) in enumerate(zip(xs, ys, state.axes)):
        index = g.fresh(f"{y}/index")
        g.node(
            "ArgMax", [x], [index], _node_name(layer, i), axis=axis, keepdims=1, select_last_index=0
        )
        g.node("Cast", [index], [y], f"{_node_name(layer, i)}/cast", to=FLOAT)


def index2onehot(g, layer, state, xs, ys, shapes, backend) -> None:
    for i, (bottom, x, y, axis) in enumerate(zip(layer.bottoms, xs, ys, state.axes)):
        ndim = len(shapes[bottom])
        classes = np.arange(layer.n_class, dtype=np.float32).reshape(
            (1,) * axis + (layer.n_class,) + (1,) * (ndim - axis - 1)
        )
        hit = g.fresh(f"{y}/equal")
        g.node("Equal", [x, g.const(f"{layer.name}/classes", classes)], [hit], _node_name(layer, i))
        g.node("Cast", [hit], [y], f"{_node_name(layer, i)}/cast", to=FLOAT)


def crop(g, layer, state, xs, ys, shapes, backend) -> None:
    ch, cw = layer.crop_size
    for i, (bottom, x, y) in enumerate(zip(layer.bottoms, xs, ys)):
        H, W = shapes[bottom][2:]
        h0, w0 = (H - ch) // 2, (W - cw) // 2
        g.node(
            "Slice",
            [
                x,
                g.const(f"{layer.name}/starts", [h0, w0], np.int64),
                g.const(f"{layer.name}/ends", [h0 + ch, w0 + cw], np.int64),
                g.const(f"{layer.name}/axes", [2, 3], np.int64),
            ],
            [y],
            _node_name(layer, i),
        )


RULES: dict[str, Callable[..., None]] = {
    "ConvolutionLayer": convolution,
    "InnerProductLayer": inner_product,
    "TiedInnerProductLayer": tied_inner_product,
    "PoolingLayer": pooling,
    "ChannelPoolingLayer": channel_pooling,
    "LRNLayer": lrn,
    "SoftmaxLayer": softmax,
    "PowerLayer": power,
    "ElementWiseLayer": element_wise,
    "ConcatLayer": concat,
    "ReshapeLayer": reshape,
    "IdentityLayer": identity,
    "SplitLayer": split,
    "ArgmaxLayer": argmax,
    "Index2OnehotLayer": index2onehot,
    "CropLayer": crop,
}
