"""Import rules for tensor plumbing: `LogSoftmax`, `Split` and `Slice` along one non-batch
axis (our SliceLayer), and `Reshape → Transpose → Reshape` as a channel shuffle (ShuffleNet's),
other `Transpose`s keeping the batch axis first. Same contract as `_import_ops`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mocha.plugins.formats.onnx._import_ops import _axis
from mocha.plugins.formats.onnx._import_ops import reshape as plain_reshape


def log_softmax(ctx: Any, node: Any) -> None:
    rank = len(ctx.shape(node.input[0]))
    axis = _axis(ctx, node, int(ctx.attr(node, "axis", -1 if ctx.opset >= 13 else 1)), rank)
    if ctx.opset < 13 and axis != rank - 1:
        ctx.refuse(node, f"opset {ctx.opset} LogSoftmax over the flattened axes {axis}..")
    ctx.add_layer(node, "LogSoftmaxLayer", {"dim": axis}, [node.input[0]], [node.output[0]], {})


def _static(ctx: Any, node: Any, name: str) -> tuple[int, ...]:
    shape = ctx.shape(name)
    if not all(isinstance(d, int) for d in shape[1:]):
        ctx.refuse(node, f"input shape {list(shape)} is not static")
    return shape


def split(ctx: Any, node: Any) -> None:
    """Split along a non-batch axis: a SliceLayer whose points are the running sums."""
    shape = _static(ctx, node, node.input[0])
    axis = _axis(ctx, node, int(ctx.attr(node, "axis", 0)), len(shape))
    size, k = shape[axis], len(node.output)
    if len(node.input) > 1 and node.input[1]:
        sizes = [int(s) for s in ctx.const(node.input[1], "the split")]
    elif ctx.attr(node, "split") is not None:
        sizes = [int(s) for s in ctx.attr(node, "split")]
    else:  # equal pieces; opset 18's num_outputs makes the last one smaller if need be
        step = math.ceil(size / k)
        sizes = [min(step, size - i * step) for i in range(k)]
    if len(sizes) != k or sum(sizes) != size or min(sizes) < 1:
        ctx.refuse(node, f"split sizes {sizes} do not cut axis {axis} (size {size}) in {k}")
    points = list(np.cumsum(sizes[:-1]).tolist())
    fields = {"axis": axis, "slice_points": points}
    ctx.add_layer(node, "SliceLayer", fields, [node.input[0]], list(node.output), {})


def slice_(ctx: Any, node: Any) -> None:
    """x[..., a:b, ...] along one non-batch axis with step 1: a SliceLayer cutting the axis
    at a and b, whose other pieces are left unread."""
    shape = _static(ctx, node, node.input[0])
    rank = len(shape)
    if ctx.opset >= 10:
        ins = [*node.input, "", "", ""][:5]
        starts, ends = (ctx.const(n, what) for n, what in zip(ins[1:3], ("starts", "ends")))
        axes = ctx.const(ins[3], "the axes") if ins[3] else np.arange(len(starts))
        steps = ctx.const(ins[4], "the steps") if ins[4] else np.ones(len(starts), np.int64)
    else:
        starts, ends = ctx.attr(node, "starts"), ctx.attr(node, "ends")
        axes, steps = ctx.attr(node, "axes", list(range(len(starts)))), [1] * len(starts)
    cuts = []
    for start, end, axis, step in zip(starts, ends, axes, steps):
        a = int(axis) + rank if axis < 0 else int(axis)
        if int(step) != 1:
            ctx.refuse(node, f"step {int(step)} along axis {a} (only 1 is supported)")
        if a == 0:
            ctx.refuse(node, "a slice of the batch axis")
        n = shape[a]
        lo, hi = (max(0, min(n, int(v) + n if v < 0 else int(v))) for v in (start, end))
        if (lo, hi) != (0, n):
            cuts.append((a, lo, hi))
    if len(cuts) > 1 or (cuts and cuts[0][1] >= cuts[0][2]):
        ctx.refuse(node, f"slices {cuts} (one non-empty range of one axis is supported)")
    if not cuts:
        ctx.add_layer(node, "IdentityLayer", {}, [node.input[0]], [node.output[0]], {})
        return
    axis, lo, hi = cuts[0]
    points = [p for p in (lo, hi) if 0 < p < shape[axis]]
    tops = [f"{node.output[0]}:before"] * (lo > 0) + [node.output[0]]
    tops += [f"{node.output[0]}:after"] * (hi < shape[axis])
    fields = {"axis": axis, "slice_points": points}
    ctx.add_layer(node, "SliceLayer", fields, [node.input[0]], tops, {})


def _target(ctx: Any, node: Any) -> list[int] | None:
    if len(node.input) < 2 or not ctx.is_const(node.input[1]):
        return None
    return [int(d) for d in ctx.const(node.input[1])]


def channel_shuffle(ctx: Any, node: Any) -> bool:
    """Reshape (N, C, H, W) → (N, g, C/g, H, W), Transpose perm (0, 2, 1, 3, 4), Reshape back
    to (N, C, H, W): our ChannelShuffleLayer(groups = g). False if `node` starts no such chain."""
    src = ctx.shape(node.input[0])
    target = _target(ctx, node)
    if len(src) != 4 or target is None or len(target) != 5:
        return False
    t = ctx.sole_consumer(node.output[0])
    if t is None or t.op_type != "Transpose" or list(ctx.attr(t, "perm", [])) != [0, 2, 1, 3, 4]:
        return False
    back = ctx.sole_consumer(t.output[0])
    if back is None or back.op_type != "Reshape" or (want := _target(ctx, back)) is None:
        return False
    _, C, H, W = src
    g = target[1]
    if target[0] not in (0, -1, src[0]) or target[1:] != [g, C // g, H, W] or g * (C // g) != C:
        return False
    if len(want) != 4 or want[0] not in (0, -1, src[0]) or want[1:] not in ([C, H, W], [-1, H, W]):
        return False
    ctx.fuse(t)
    ctx.fuse(back)
    fields = {"groups": int(g)}
    ctx.add_layer(back, "ChannelShuffleLayer", fields, [node.input[0]], [back.output[0]], {})
    return True


def reshape(ctx: Any, node: Any) -> None:
    if not channel_shuffle(ctx, node):
        plain_reshape(ctx, node)


def transpose(ctx: Any, node: Any) -> None:
    """Transpose keeping the batch axis first: TransposeLayer (the identity perm: IdentityLayer)."""
    perm = [int(p) for p in ctx.attr(node, "perm", [])]
    rank = len(ctx.shape(node.input[0]))
    if not perm:
        perm = list(range(rank))[::-1]
    if perm == list(range(rank)):
        ctx.add_layer(node, "IdentityLayer", {}, [node.input[0]], [node.output[0]], {})
        return
    if perm[0] != 0:
        ctx.refuse(node, f"perm={perm} moves the batch axis (perm[0] must be 0)")
    ctx.add_layer(node, "TransposeLayer", {"perm": perm}, [node.input[0]], [node.output[0]], {})


RULES: dict[str, Callable[[Any, Any], None]] = {
    "LogSoftmax": log_softmax,
    "Split": split,
    "Slice": slice_,
    "Transpose": transpose,
    "Reshape": reshape,
}
