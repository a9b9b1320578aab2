"""Pooling functions (`Pooling.Max()`, `Pooling.Mean()`) and the window arithmetic shared by
PoolingLayer and ChannelPoolingLayer: Mocha/Caffe's output size (rounding up) and the check
that no window lies fully in the padding."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mocha.core.errors import ShapeError
from mocha.core.layer import Layer


@dataclass(frozen=True)
class MaxPooling:
    """`Pooling.Max()`: the maximum of the window (first maximum in row-major order on ties)."""

    kind = "max"


@dataclass(frozen=True)
class MeanPooling:
    """`Pooling.Mean()`: the sum of the window's in-image cells divided by the full window."""

    kind = "mean"


class Pooling:
    """Mocha's pooling functions: `Pooling.Max()` and `Pooling.Mean()`."""

    Max = MaxPooling
    Mean = MeanPooling


def as_pooling(value: Any) -> MaxPooling | MeanPooling:
    """`Pooling.Max()`, `Pooling.Mean()`, the classes themselves, or "max" / "mean"."""
    if isinstance(value, type) and issubclass(value, MaxPooling | MeanPooling):
        return value()
    if isinstance(value, MaxPooling | MeanPooling):
        return value
    if isinstance(value, str) and value.lower() in ("max", "mean"):
        return MaxPooling() if value.lower() == "max" else MeanPooling()
    raise ValueError('expected Pooling.Max(), Pooling.Mean(), "max" or "mean"')


def pooled_size(
    size: int, kernel: int, pad: int, stride: int, any_pad: bool, ceil: bool = True
) -> int:
    """Mocha/Caffe's output length (rounds UP): ceil((size + 2·pad − kernel)/stride) + 1,
    minus one when some padding exists (`any_pad`, either axis) and the last window would start
    at or beyond size + pad. With `ceil=False` (PyTorch's and ONNX's default):
    floor((size + 2·pad − kernel)/stride) + 1."""
    if not ceil:
        return (size + 2 * pad - kernel) // stride + 1
    out = math.ceil((size + 2 * pad - kernel) / stride) + 1
    if any_pad and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def empty_window(size: int, kernel: int, pad: int, stride: int, out: int) -> int | None:
    """The index of the first window (clipped to [0, size)) holding no cell, else None."""
    for i in range(out):
        start = i * stride - pad
        if min(start + kernel, size) <= max(start, 0):
            return i
    return None


def check_windows(
    layer: Layer,
    blob_name: str,
    sizes: tuple[int, ...],
    kernel,
    pad,
    stride,
    outs: tuple[int, ...],
    axes: tuple[str, ...],
) -> None:
    """Refuse outputs < 1 and windows that lie fully outside the input (a ShapeError naming
    the layer, the blob and the offending window)."""
    who = f"{type(layer).__name__}({layer.name!r})"
    for axis, size, k, p, s, o in zip(axes, sizes, kernel, pad, stride, outs):
        if o < 1:
            raise ShapeError(
                f"{who}: kernel {k} with pad {p} and stride {s} gives an output "
                f"{axis} of {o} for bottom {blob_name!r} of {axis} {size}"
            )
        i = empty_window(size, k, p, s, o)
        if i is not None:
            start = i * s - p
            raise ShapeError(
                f"{who}: pooling window {i} along the {axis} of bottom {blob_name!r} covers "
                f"[{start}, {start + k}), which lies fully outside the input of {axis} {size} "
                f"(kernel={k}, stride={s}, pad={p}); an empty window has no value. Use a smaller "
                f"pad (pad < kernel) or a stride <= kernel"
            )
