"""Import rules for what PyTorch's current exporters add to a CNN: `BatchNormalization`,
`ReduceMean` over (H, W) (adaptive average pooling to 1×1), and a zero `Pad` before a `Conv`.

Same contract as `_import_ops`: one function per op, `ctx.add_layer(...)` for a faithful
layer, `ctx.refuse(node, why)` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mocha.plugins.formats.onnx._import_ops import conv, f32


def batch_norm(ctx: Any, node: Any) -> None:
    """BatchNormalization in inference form, y = (x − mean)/sqrt(var + ε)·scale + B: our
    BatchNormLayer with `affine` and PyTorch's momentum rule (ONNX's momentum m is the share
    kept, PyTorch's is 1 − m), the stored statistics as `mean`/`variance` (scale factor 1);
    it uses them in the test phase (and batch statistics if trained, as PyTorch's train())."""
    if ctx.attr(node, "training_mode", 0) or (len(node.output) > 1 and any(node.output[1:])):
        ctx.refuse(node, "training_mode=1 (only the inference form is imported)")
    if len(ctx.shape(node.input[0])) < 2:
        ctx.refuse(node, "an input without a channel axis")
    scale, bias, mean, var = (
        ctx.const(n, what).astype(np.float32)
        for n, what in zip(node.input[1:5], ("the scale", "the bias", "the mean", "the variance"))
    )
    if not scale.shape == bias.shape == mean.shape == var.shape or scale.ndim != 1:
        ctx.refuse(node, "scale, B, mean and var must be vectors of one length")
    momentum = float(ctx.attr(node, "momentum", 0.9))
    fields: dict[str, Any] = {"eps": f32(ctx.attr(node, "epsilon", 1e-5)), "affine": True}
    if 0 <= momentum < 1:
        fields["momentum"] = f32(1 - momentum)
    else:  # m = 1: the statistics never move; keep them in training too
        fields.update(momentum=1e-3, use_global_stats=True)
    params = {
        "mean": mean,
        "variance": var,
        "scale_factor": np.ones(1, np.float32),
        "scale": scale,
        "bias": bias,
    }
    ctx.add_layer(
        node, "BatchNormLayer", fields, [node.input[0]], [node.output[0]], params, neuron_ok=True
    )


def _reduce_axes(ctx: Any, node: Any, rank: int) -> list[int] | None:
    if ctx.opset >= 18:
        axes = node.input[1] if len(node.input) > 1 else ""
        axes = [int(a) for a in ctx.const(axes, "the axes")] if axes else None
    else:
        axes = ctx.attr(node, "axes", None)
    if axes is None:
        if ctx.attr(node, "noop_with_empty_axes", 0):
            return []
        return list(range(rank))
    return sorted(int(a) + rank if a < 0 else int(a) for a in axes)


def reduce_mean(ctx: Any, node: Any) -> None:
    """ReduceMean over axes (2, 3) of a 4-D input: global average pooling; with
    keepdims=0 followed by a reshape to (N, C)."""
    shape = ctx.shape(node.input[0])
    axes = _reduce_axes(ctx, node, len(shape))
    if len(shape) != 4 or axes != [2, 3] or not all(isinstance(d, int) for d in shape[1:]):
        ctx.refuse(
            node,
            f"mean over axes {axes} of {list(shape)}; only over (H, W) of a static "
            f"(N, C, H, W) (global average pooling)",
        )
    fields = {"global_pooling": True, "pooling": "mean"}
    keep = ctx.attr(node, "keepdims", 1)
    pooled = node.output[0] if keep else f"{node.output[0]}:pooled"
    ctx.add_layer(node, "PoolingLayer", fields, [node.input[0]], [pooled], {}, neuron_ok=keep)
    if not keep:
        ctx.add_layer(node, "ReshapeLayer", {"shape": [shape[1]]}, [pooled], [node.output[0]], {})


def pad(ctx: Any, node: Any) -> None:
    """Constant padding of non-batch axes: a 0-Pad of H and W feeding only a Conv is that Conv's
    padding where the sum stays symmetric (ours pads both sides equally); else a PadLayer."""
    shape = ctx.shape(node.input[0])
    mode = ctx.attr(node, "mode", "constant")
    if ctx.opset >= 11:
        pads = [int(p) for p in ctx.const(node.input[1], "the pads")]
        value = 0
        if len(node.input) > 2 and node.input[2]:
            value = ctx.const(node.input[2], "the value")
        if len(node.input) > 3 and node.input[3]:
            axes = [int(a) % len(shape) for a in ctx.const(node.input[3], "the axes")]
            full = [0] * (2 * len(shape))
            for i, a in enumerate(axes):
                full[a], full[a + len(shape)] = pads[i], pads[i + len(axes)]
            pads = full
    else:
        pads, value = list(ctx.attr(node, "pads")), ctx.attr(node, "value", 0.0)
    user = ctx.sole_consumer(node.output[0])
    r = len(shape)
    if mode != "constant" or min(pads) < 0 or pads[0] or pads[r]:
        ctx.refuse(
            node,
            f"Pad mode {mode} with pads {pads}; only constant padding (pads >= 0) of "
            f"non-batch axes is supported",
        )
    value = f32(np.asarray(value).reshape(()))
    if (
        value == 0
        and r == 4
        and not (pads[1] or pads[1 + r])
        and user is not None
        and user.op_type == "Conv"
        and user.input[0] == node.output[0]
    ):
        own = list(ctx.attr(user, "pads", (0, 0, 0, 0)))
        total = [own[0] + pads[2], own[1] + pads[3], own[2] + pads[6], own[3] + pads[7]]
        if total[:2] == total[2:]:  # the following Conv's padding (ours is symmetric)
            ctx.fuse(user)
            merged = ctx.onnx.helper.make_node(
                "Conv", [node.input[0], *user.input[1:]], list(user.output), name=user.name
            )
            merged.attribute.extend(a for a in user.attribute if a.name != "pads")
            merged.attribute.append(ctx.onnx.helper.make_attribute("pads", total))
            conv(ctx, merged)
            return
    first = next(a for a in range(1, r + 1) if a == r or pads[a] or pads[a + r])
    pairs = [[pads[a], pads[a + r]] for a in range(min(first, r - 1), r)]
    fields = {"pad": pairs, "value": value}
    ctx.add_layer(node, "PadLayer", fields, [node.input[0]], [node.output[0]], {})


RULES: dict[str, Callable[[Any, Any], None]] = {
    "BatchNormalization": batch_norm,
    "ReduceMean": reduce_mean,
    "Pad": pad,
}
