"""Import rules for pooling: `MaxPool`/`AveragePool` (floor or ceil rounding, either divisor)
and the global poolings. Never approximated: a node is accepted only when our output size and
each window's divisor equal ONNX's for this input size."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from mocha.plugins.formats.onnx._import_ops import _spatial


def _onnx_pooled(size: int, k: int, begin: int, end: int, s: int, ceil_mode: int) -> int:
    if not ceil_mode:
        return (size + begin + end - k) // s + 1
    out = math.ceil((size + begin + end - k) / s) + 1
    return out - 1 if (out - 1) * s >= size + begin else out


def _divisor(ctx: Any, node: Any, geometry: list, outs: list, include_pad: int) -> bool | None:
    """Our `count_include_pad` dividing each window as ONNX does: 0 → cells in the image
    (False); 1 → cells in [−begin, size + end), which is ours (True: [−pad, size + pad)) or
    the full window (None) when every window agrees."""
    if not include_pad:
        return False
    theirs, padded, full = [], [], []
    for (n, k, b, e, s), out in zip(geometry, outs):
        starts = [i * s - b for i in range(out)]
        theirs.append([min(st + k, n + e) - st for st in starts])
        padded.append([min(st + k, n + b) - st for st in starts])
        full.append([k] * out)
    if theirs == padded:
        return True
    if theirs == full:
        return None
    ctx.refuse(
        node,
        f"count_include_pad=1 with pads {[g[2] for g in geometry]} before and "
        f"{[g[3] for g in geometry]} after: some window's divisor differs from ours",
    )
    raise AssertionError  # unreachable


def pool(ctx: Any, node: Any) -> None:
    """Max/AveragePool: `ceil_mode` maps to ours (0: floor, PyTorch's default), the output
    size must equal ONNX's (asymmetric pads only where it does), and an average's divisor is
    `count_include_pad` (1: cells in the padded image, 0: cells in the image) where each
    window's padded extent is the same for both."""
    from mocha.core.registry import lookup

    pooled_size = lookup("layers", "PoolingLayer").output_size

    is_max = node.op_type == "MaxPool"
    if is_max and len(node.output) > 1 and node.output[1]:
        ctx.refuse(node, "the Indices output is not supported")
    if ctx.attr(node, "storage_order", 0):
        ctx.refuse(node, "storage_order=1")
    kernel, strides, (begin, end) = _spatial(ctx, node, node.op_type)
    ceil_mode = int(ctx.attr(node, "ceil_mode", 0))
    include_pad = int(ctx.attr(node, "count_include_pad", 0))
    sizes = ctx.shape(node.input[0])[2:]
    if not all(isinstance(n, int) for n in sizes):
        ctx.refuse(node, f"input size {list(sizes)} is not static")
    any_pad = any(begin)
    geometry = list(zip(sizes, kernel, begin, end, strides))
    theirs = [_onnx_pooled(n, k, b, e, s, ceil_mode) for n, k, b, e, s in geometry]
    # our rounding: ONNX's own, or the other one where it gives the same sizes (our exporter
    # writes Mocha's ceil rounding as floor rounding with end pads)
    ceil = next(
        (
            c
            for c in (bool(ceil_mode), not ceil_mode)
            if [pooled_size(n, k, b, s, any_pad, c) for n, k, b, _, s in geometry] == theirs
        ),
        None,
    )
    if ceil is None:
        axis, (n, k, b, e, s), out = next(
            (a, g, t)
            for a, g, t in zip(("height", "width"), geometry, theirs)
            if pooled_size(g[0], g[1], g[2], g[4], any_pad, bool(ceil_mode)) != t
        )
        ours = pooled_size(n, k, b, s, any_pad, bool(ceil_mode))
        ctx.refuse(
            node,
            f"output {axis} {out} (input {n}, kernel {k}, pads ({b}, {e}), "
            f"stride {s}, ceil_mode {ceil_mode}); our pooling with pad {b} gives {ours}",
        )
    fields = {
        "kernel": list(kernel),
        "stride": list(strides),
        "pad": list(begin),
        "pooling": "max" if is_max else "mean",
        "ceil_mode": ceil,
    }
    if not is_max:
        fields["count_include_pad"] = _divisor(ctx, node, geometry, theirs, include_pad)
    ctx.add_layer(
        node, "PoolingLayer", fields, [node.input[0]], [node.output[0]], {}, neuron_ok=True
    )


def global_pool(ctx: Any, node: Any) -> None:
    shape = ctx.shape(node.input[0])
    if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]):
        ctx.refuse(node, f"input shape {list(shape)}: a static (N, C, H, W) is needed")
    fields = {
        "global_pooling": True,
        "pooling": "max" if node.op_type == "GlobalMaxPool" else "mean",
    }
    ctx.add_layer(
        node, "PoolingLayer", fields, [node.input[0]], [node.output[0]], {}, neuron_ok=True
    )


RULES: dict[str, Callable[[Any, Any], None]] = {
    "MaxPool": pool,
    "AveragePool": pool,
    "GlobalMaxPool": global_pool,
    "GlobalAveragePool": global_pool,
}
