"""One function per ONNX op: the layer table (`spec`) computing exactly what the node computes.

`convert(ctx, node)` reads the node through the `ImportContext` (`ctx.attr`, `ctx.const`,
`ctx.shape`, ...) and calls `ctx.add_layer(node, type, fields, bottoms, tops, params)`; an
attribute or input we cannot represent faithfully is `ctx.refuse(node, why)`, an `OnnxError`
naming the node. Never approximated: pooling is accepted only when our output size and
divisor equal ONNX's for this input size; Gemm's alpha/beta are folded into the weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

NEURONS = {"Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Exp": "Exponential"}
FLOAT = 1  # onnx.TensorProto.FLOAT


def f32(value: Any) -> float:
    """A float32 attribute as the shortest decimal that reads back as the same float32."""
    return float(str(np.float32(value)))


def _axis(ctx: Any, node: Any, axis: int, rank: int, what: str = "axis") -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 < a < rank:
        ctx.refuse(node, f"{what}={axis} is not a non-batch axis of a rank-{rank} input")
    return a


def _spatial(ctx: Any, node: Any, kind: str) -> tuple[Any, ...]:
    """(kernel, strides, (begin pads, end pads)) of a 2-D Conv/pool node; refuses dilations,
    auto_pad SAME_* and non-2-D inputs."""
    rank = len(ctx.shape(node.input[0]))
    if rank != 4:
        ctx.refuse(node, f"{kind} of a rank-{rank} input; only 2-D (N, C, H, W) is supported")
    kernel = ctx.attr(node, "kernel_shape")
    if kernel is None:
        kernel = ctx.const(node.input[1], "the filter").shape[2:]
    kernel = tuple(int(k) for k in kernel)
    strides = tuple(ctx.attr(node, "strides", (1, 1)))
    dilations = tuple(ctx.attr(node, "dilations", (1, 1)))
    if dilations != (1, 1):
        ctx.refuse(node, f"dilations={list(dilations)} (we support only 1)")
    auto_pad = ctx.attr(node, "auto_pad", "NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad not in ("NOTSET", "VALID"):
        ctx.refuse(node, f"auto_pad={auto_pad} (give explicit pads)")
    pads = tuple(ctx.attr(node, "pads", (0, 0, 0, 0))) if auto_pad == "NOTSET" else (0,) * 4
    return kernel, strides, (pads[:2], pads[2:])


def conv(ctx: Any, node: Any) -> None:
    kernel, strides, (begin, end) = _spatial(ctx, node, "Conv")
    if begin != end:
        ctx.refuse(node, f"asymmetric pads={[*begin, *end]} (we pad both sides equally)")
    w = ctx.const(node.input[1], "the filter")
    F = w.shape[0]
    b = (
        ctx.const(node.input[2], "the bias")
        if len(node.input) > 2 and node.input[2]
        else np.zeros(F, np.float32)
    )
    fields = {
        "n_filter": int(F),
        "kernel": list(kernel),
        "stride": list(strides),
        "pad": list(begin),
        "n_group": int(ctx.attr(node, "group", 1)),
    }
    ctx.add_layer(
        node,
        "ConvolutionLayer",
        fields,
        [node.input[0]],
        [node.output[0]],
        {"filter": w, "bias": b.reshape(F)},
        neuron_ok=True,
    )


def _flatten_source(ctx: Any, tensor: str) -> str:
    """Fold a `Flatten(axis=1)` feeding only this inner product (our layer flattens)."""
    producer = ctx.producer(tensor)
    if (
        producer is not None
        and producer.op_type == "Flatten"
        and ctx.attr(producer, "axis", 1) == 1
        and ctx.sole_consumer(tensor) is not None
    ):
        ctx.fuse(producer)
        return producer.input[0]
    return tensor


def _ip(ctx: Any, node: Any, a: str, weight: np.ndarray, bias: np.ndarray | None, top: str) -> None:
    if len(ctx.shape(a)) != 2:
        ctx.refuse(node, f"input {a!r} has rank {len(ctx.shape(a))}; a matrix (N, F) is needed")
    out = weight.shape[0]
    bias = np.zeros(out, np.float32) if bias is None else bias
    ctx.add_layer(
        node,
        "InnerProductLayer",
        {"output_dim": int(out)},
        [_flatten_source(ctx, a)],
        [top],
        {"weight": weight, "bias": bias},
        neuron_ok=True,
    )


def _bias(ctx: Any, node: Any, value: np.ndarray, out: int) -> np.ndarray:
    if value.size == out and value.shape in ((out,), (1, out)):
        return value.reshape(out)
    if value.size == 1:
        return np.full(out, value.reshape(()), dtype=value.dtype)
    ctx.refuse(
        node,
        f"bias of shape {list(value.shape)} broadcasts over the batch; we support "
        f"({out},) or (1, {out})",
    )
    raise AssertionError  # unreachable


def gemm(ctx: Any, node: Any) -> None:
    if ctx.attr(node, "transA", 0):
        ctx.refuse(node, "transA=1 (the input must be (N, F))")
    b = ctx.const(node.input[1], "the weight")
    weight = b if ctx.attr(node, "transB", 0) else b.T
    alpha, beta = f32(ctx.attr(node, "alpha", 1.0)), f32(ctx.attr(node, "beta", 1.0))
    bias = None
    if len(node.input) > 2 and node.input[2]:
        bias = _bias(ctx, node, ctx.const(node.input[2], "the bias"), weight.shape[0]) * beta
    _ip(ctx, node, node.input[0], weight * alpha if alpha != 1 else weight, bias, node.output[0])


def matmul(ctx: Any, node: Any) -> None:
    weight = ctx.const(node.input[1], "the weight")
    if weight.ndim != 2:
        ctx.refuse(node, f"weight of rank {weight.ndim}; only a matrix is supported")
    top, bias = node.output[0], None
    add = ctx.sole_consumer(top)
    if add is not None and add.op_type == "Add":
        other = add.input[1] if add.input[0] == top else add.input[0]
        if ctx.is_const(other):
            bias = _bias(ctx, add, ctx.const(other), weight.shape[1])
            ctx.fuse(add)
            top = add.output[0]
    _ip(ctx, node, node.input[0], np.ascontiguousarray(weight.T), bias, top)


def lrn(ctx: Any, node: Any) -> None:
    if len(ctx.shape(node.input[0])) != 4:
        ctx.refuse(node, "LRN of a non 4-D input")
    fields = {
        "kernel": int(ctx.attr(node, "size")),
        "scale": f32(ctx.attr(node, "alpha", 1e-4)),
        "power": f32(ctx.attr(node, "beta", 0.75)),
        "shift": f32(ctx.attr(node, "bias", 1.0)),
        "mode": "AcrossChannel",
    }
    ctx.add_layer(node, "LRNLayer", fields, [node.input[0]], [node.output[0]], {})


def neuron(ctx: Any, node: Any) -> None:
    """A neuron the producer could not take: a 1×1 max pooling (exactly the identity) with
    the neuron on 4-D blobs; refused otherwise."""
    if len(ctx.shape(node.input[0])) != 4:
        ctx.refuse(
            node,
            "an activation that follows no Conv/Gemm/MatMul/pooling node is "
            "supported only on 4-D blobs",
        )
    ctx.add_layer(
        node,
        "PoolingLayer",
        {"kernel": [1, 1], "neuron": ctx.neuron_of(node)},
        [node.input[0]],
        [node.output[0]],
        {},
    )


def softmax(ctx: Any, node: Any) -> None:
    rank = len(ctx.shape(node.input[0]))
    default = -1 if ctx.opset >= 13 else 1
    axis = _axis(ctx, node, int(ctx.attr(node, "axis", default)), rank)
    if ctx.opset < 13 and axis != rank - 1:
        ctx.refuse(
            node,
            f"opset {ctx.opset} Softmax over the flattened axes {axis}..; only "
            f"the last axis matches ours",
        )
    ctx.add_layer(node, "SoftmaxLayer", {"dim": axis}, [node.input[0]], [node.output[0]], {})


ELEMENT_WISE = {"Add": "Add", "Sub": "Subtract", "Mul": "Multiply", "Div": "Divide"}


def _scalar_step(ctx: Any, tensor: str, op: str) -> tuple[Any, float] | None:
    """The sole consumer of `tensor` when it is `op(tensor, scalar constant)`, and the scalar."""
    user = ctx.sole_consumer(tensor)
    if user is None or user.op_type != op or user.input[0] != tensor:
        return None
    if not ctx.is_const(user.input[1]) or ctx.const(user.input[1]).size != 1:
        return None
    return user, f32(ctx.const(user.input[1]).reshape(()))


def within_channel_lrn(ctx: Any, node: Any) -> bool:
    """Mul(x, x) → AveragePool(k×k, stride 1, pads (k−1)//2 before, the rest after,
    count_include_pad) → Mul(scale) → Add(shift) → Pow(−power) → Mul(x, ·): our
    WithinChannel LRN, as `mocha export onnx` writes it."""
    x = node.input[0]
    if node.op_type != "Mul" or node.input[1] != x or len(ctx.shape(x)) != 4:
        return False
    pool = ctx.sole_consumer(node.output[0])
    if pool is None or pool.op_type != "AveragePool":
        return False
    k = tuple(ctx.attr(pool, "kernel_shape", ()))
    if len(k) != 2 or k[0] != k[1]:
        return False
    pre, post = (k[0] - 1) // 2, k[0] - 1 - (k[0] - 1) // 2
    if (
        tuple(ctx.attr(pool, "pads", ())) != (pre, pre, post, post)
        or tuple(ctx.attr(pool, "strides", (1, 1))) != (1, 1)
        or not ctx.attr(pool, "count_include_pad", 0)
        or ctx.attr(pool, "ceil_mode", 0)
    ):
        return False
    steps, tensor = [], pool.output[0]
    for op in ("Mul", "Add", "Pow"):
        step = _scalar_step(ctx, tensor, op)
        if step is None:
            return False
        steps.append(step)
        tensor = step[0].output[0]
    last = ctx.sole_consumer(tensor)
    if last is None or last.op_type != "Mul" or sorted(last.input) != sorted([x, tensor]):
        return False
    for fused in (pool, *(s[0] for s in steps)):
        ctx.fuse(fused)
    ctx.fuse(last)
    (_, scale), (_, shift), (_, power) = steps
    ctx.add_layer(
        last,
        "LRNLayer",
        {"kernel": k[0], "scale": scale, "shift": shift, "power": -power, "mode": "WithinChannel"},
        [x],
        [last.output[0]],
        {},
    )
    return True


def element_wise(ctx: Any, node: Any) -> None:
    a, b = node.input[:2]
    if within_channel_lrn(ctx, node):
        return
    if ctx.is_const(a) or ctx.is_const(b):
        if ctx.add_transformer(node):
            return
        ctx.refuse(
            node,
            "a constant operand (we support it only as a bias after MatMul, or "
            "as SubMean / Scale on a graph input)",
        )
    if ctx.shape(a) != ctx.shape(b):
        ctx.refuse(
            node,
            f"broadcast of {list(ctx.shape(a))} and {list(ctx.shape(b))}; "
            f"identical shapes are needed",
        )
    ctx.add_layer(
        node,
        "ElementWiseLayer",
        {"operation": ELEMENT_WISE[node.op_type]},
        [a, b],
        [node.output[0]],
        {},
    )


def concat(ctx: Any, node: Any) -> None:
    if len(node.input) == 1:  # torch.cat of one tensor (DenseNet's first layer of a block)
        ctx.add_layer(node, "IdentityLayer", {}, [node.input[0]], [node.output[0]], {})
        return
    rank = len(ctx.shape(node.input[0]))
    axis = int(ctx.attr(node, "axis"))
    axis = axis + rank if axis < 0 else axis
    ctx.add_layer(node, "ConcatLayer", {"dim": axis}, list(node.input), [node.output[0]], {})


def reshape(ctx: Any, node: Any) -> None:
    if len(node.input) < 2:
        ctx.refuse(node, "a Reshape without a shape input (opset < 5)")
    src = ctx.shape(node.input[0])
    sample = src[1:]
    if not all(isinstance(d, int) for d in sample):
        ctx.refuse(node, f"input shape {list(src)} is not static")
    target = [int(d) for d in ctx.const(node.input[1], "the shape")]
    if ctx.attr(node, "allowzero", 0) and 0 in target:
        ctx.refuse(node, "allowzero=1 with a 0 in the shape")
    if target and target[0] == src[0] and isinstance(src[0], int):
        target[0] = 0  # the graph's static batch: the batch axis stays (PyTorch's x.view(n, -1))
    if not target or target[0] not in (0, -1):
        ctx.refuse(
            node,
            f"shape {target} does not keep the batch axis (first entry 0, -1 or the "
            f"batch size {src[0]})",
        )
    rest = [sample[i] if d == 0 and i < len(sample) else d for i, d in enumerate(target[1:])]
    total = math.prod(sample)
    if target[0] == -1 and -1 in rest:
        ctx.refuse(node, f"shape {target} leaves the batch axis undetermined")
    if -1 in rest:
        known = math.prod(d for d in rest if d != -1)
        rest[rest.index(-1)] = total // known if known else 0
    if math.prod(rest) != total or min(rest, default=1) < 1:
        ctx.refuse(node, f"shape {target} changes the batch axis of input {list(src)}")
    ctx.add_layer(node, "ReshapeLayer", {"shape": rest}, [node.input[0]], [node.output[0]], {})


def flatten(ctx: Any, node: Any) -> None:
    user = ctx.sole_consumer(node.output[0])
    if (
        user is not None
        and user.op_type in ("Gemm", "MatMul")
        and user.input[0] == node.output[0]
        and ctx.attr(node, "axis", 1) == 1
    ):
        return  # folded into the inner product (see _flatten_source)
    src = ctx.shape(node.input[0])
    if int(ctx.attr(node, "axis", 1)) != 1 or not all(isinstance(d, int) for d in src[1:]):
        ctx.refuse(
            node,
            f"Flatten axis={ctx.attr(node, 'axis', 1)} of {list(src)}; only "
            f"axis=1 of a static sample shape is supported",
        )
    ctx.add_layer(
        node, "ReshapeLayer", {"shape": [math.prod(src[1:])]}, [node.input[0]], [node.output[0]], {}
    )


def argmax(ctx: Any, node: Any) -> None:
    if not ctx.attr(node, "keepdims", 1) or ctx.attr(node, "select_last_index", 0):
        ctx.refuse(
            node, "keepdims=0 or select_last_index=1 (we keep the axis and pick the first maximum)"
        )
    rank = len(ctx.shape(node.input[0]))
    axis = _axis(ctx, node, int(ctx.attr(node, "axis", 0)), rank)
    top = node.output[0]
    cast = ctx.sole_consumer(top)
    if cast is not None and cast.op_type == "Cast" and ctx.attr(cast, "to") == FLOAT:
        ctx.fuse(cast)
        top = cast.output[0]
    ctx.add_layer(node, "ArgmaxLayer", {"dim": axis}, [node.input[0]], [top], {})


def identity(ctx: Any, node: Any) -> None:
    if node.op_type == "Dropout":
        if len(node.output) > 1 and node.output[1] and ctx.consumers(node.output[1]):
            ctx.refuse(node, "the dropout mask output is used")
        if len(node.input) > 2 and node.input[2]:
            if not ctx.is_const(node.input[2]) or bool(ctx.const(node.input[2])):
                ctx.refuse(node, "training_mode is not a constant false")
    ctx.add_layer(node, "IdentityLayer", {}, [node.input[0]], [node.output[0]], {})


RULES: dict[str, Callable[[Any, Any], None]] = {
    "Conv": conv,
    "Gemm": gemm,
    "MatMul": matmul,
    "LRN": lrn,
    "Softmax": softmax,
    "Relu": neuron,
    "Clip": neuron,
    "LeakyRelu": neuron,
    "Sigmoid": neuron,
    "Tanh": neuron,
    "Exp": neuron,
    "Max": neuron,
    "Add": element_wise,
    "Sub": element_wise,
    "Mul": element_wise,
    "Div": element_wise,
    "Concat": concat,
    "Reshape": reshape,
    "Flatten": flatten,
    "ArgMax": argmax,
    "Dropout": identity,
    "Identity": identity,
}
