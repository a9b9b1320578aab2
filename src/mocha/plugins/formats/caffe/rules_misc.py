"""Mapping rules for Caffe's activation, normalization, loss and blob-plumbing layers (the
rules and their semantics are listed in `rules.py`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mocha.plugins.formats.caffe.data import f32
from mocha.plugins.formats.caffe.mapping import Builder
from mocha.plugins.formats.caffe.reader import CaffeError, CaffeLayer


def _axis(axis: int, rank: int, layer: CaffeLayer) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise CaffeError(f"layer {layer.name!r}: axis {axis} for a blob of rank {rank}")
    return a


def _count(layer: CaffeLayer, n: int, kind: str, what: str) -> None:
    got = len(layer.bottoms if kind == "bottom" else layer.tops)
    if got != n:
        raise CaffeError(f"layer {layer.name!r} ({layer.type}) has {got} {kind}(s); {what}")


def _lr(layer: CaffeLayer, i: int) -> float:
    """The `lr_mult` of blob `i` (1 when the file gives none)."""
    return float(layer.lr_mult[i]) if i < len(layer.lr_mult) else 1.0


def _blobs(layer: CaffeLayer, expected: int, what: str) -> None:
    """Refuse a layer whose weights hold another number of blobs than `expected`."""
    if layer.blobs and len(layer.blobs) != expected:
        raise CaffeError(
            f"layer {layer.name!r} ({layer.type}) has {len(layer.blobs)} blobs; expected "
            f"{expected} ({what})"
        )


def _neuron(name: Any) -> Callable[[Builder, CaffeLayer], None]:
    def rule(b: Builder, layer: CaffeLayer) -> None:
        _count(layer, 1, "bottom", "one bottom")
        b.neuron(layer, name)

    return rule


def relu(b: Builder, layer: CaffeLayer) -> None:
    slope = f32(layer.get("relu_param").negative_slope) if layer.has("relu_param") else 0.0
    if slope not in (0.0, 0.01):
        raise CaffeError(
            f"layer {layer.name!r}: ReLU negative_slope {slope}; only 0 (ReLU) "
            f"and 0.01 (LReLU) are supported"
        )
    _neuron("ReLU" if slope == 0 else "LReLU")(b, layer)


def exp(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("exp_param")
    base = -1.0 if not p.HasField("base") else float(p.base)
    if base != -1 and base <= 0:
        raise CaffeError(f"layer {layer.name!r}: Exp base {base} must be > 0 (or -1 for e)")
    ln = 1.0 if base == -1 else math.log(base)
    scale, shift = f32(p.scale) * ln, f32(p.shift) * ln
    if (scale, shift) != (1.0, 0.0):
        _count(layer, 1, "bottom", "one bottom")
        x = b.bottom(layer, layer.bottoms[0])
        inner = f"{x}/linear-{layer.name}"
        b.out.shapes[inner] = b.shape(x)
        b.add(
            layer,
            {
                "type": "PowerLayer",
                "name": b.unique(f"{layer.name}-linear"),
                "power": 1,
                "scale": scale,
                "shift": shift,
                "bottoms": [x],
                "tops": [inner],
            },
        )
        b.reads[inner] = 0
        b.current[f"{layer.bottoms[0]}//{layer.name}"] = inner
        layer = CaffeLayer(
            name=layer.name,
            type=layer.type,
            phase=layer.phase,
            bottoms=[f"{layer.bottoms[0]}//{layer.name}"],
            tops=layer.tops,
            param=layer.param,
        )
    _neuron("Exponential")(b, layer)


def power(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("power_param")
    x = b.bottom(layer, layer.bottoms[0])
    top = b.top(layer, layer.tops[0], b.shape(x))
    b.add(
        layer,
        {
            "type": "PowerLayer",
            "name": layer.name,
            "power": f32(p.power),
            "scale": f32(p.scale),
            "shift": f32(p.shift),
            "bottoms": [x],
            "tops": [top],
        },
        "PowerLayer",
    )


def lrn(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("lrn_param")
    size = int(p.local_size)
    if size % 2 == 0:
        raise CaffeError(f"layer {layer.name!r}: LRN local_size {size} must be odd (as Caffe)")
    x = b.bottom(layer, layer.bottoms[0])
    if len(b.shape(x)) != 4:
        raise CaffeError(f"layer {layer.name!r}: LRN needs a 4-D bottom")
    within = p.norm_region == 1
    top = b.top(layer, layer.tops[0], b.shape(x))
    b.add(
        layer,
        {
            "type": "LRNLayer",
            "name": layer.name,
            "kernel": size,
            "scale": f32(p.alpha),
            "shift": 1.0 if within else f32(p.k),
            "power": f32(p.beta),
            "mode": "WithinChannel" if within else "AcrossChannel",
            "bottoms": [x],
            "tops": [top],
        },
        f"LRNLayer {'WITHIN_CHANNEL' if within else 'ACROSS_CHANNELS'} size {size}",
    )


def dropout(b: Builder, layer: CaffeLayer) -> None:
    ratio = f32(layer.get("dropout_param").dropout_ratio)
    if layer.phase == "test":
        b.current[layer.tops[0]] = b.bottom(layer, layer.bottoms[0])
        b.out.mapped.append((layer.name, layer.type, "left out (identity in the TEST phase)"))
        return
    x = b.bottom(layer, layer.bottoms[0])
    b.current[layer.tops[0]] = x  # our dropout works in place
    b.add(
        layer,
        {
            "type": "DropoutLayer",
            "name": layer.name,
            "ratio": ratio,
            "bottoms": [x],
            "phase": "train",
        },
        "DropoutLayer (training net only)",
    )


def softmax(b: Builder, layer: CaffeLayer) -> None:
    x = b.bottom(layer, layer.bottoms[0])
    axis = _axis(layer.get("softmax_param").axis, len(b.shape(x)), layer)
    top = b.top(layer, layer.tops[0], b.shape(x))
    b.add(
        layer,
        {"type": "SoftmaxLayer", "name": layer.name, "dim": axis, "bottoms": [x], "tops": [top]},
        f"SoftmaxLayer dim {axis}",
    )


def _loss_checks(layer: CaffeLayer) -> None:
    if layer.has("loss_param") and layer.get("loss_param").HasField("ignore_label"):
        raise CaffeError(f"layer {layer.name!r}: ignore_label is not supported")


def softmax_loss(b: Builder, layer: CaffeLayer) -> None:
    _count(layer, 2, "bottom", "prediction and label expected")
    _loss_checks(layer)
    x, label = (b.bottom(layer, n) for n in layer.bottoms)
    axis = _axis(layer.get("softmax_param").axis, len(b.shape(x)), layer)
    weight = float(layer.param.loss_weight[0]) if len(layer.param.loss_weight) else 1.0
    table = {"type": "SoftmaxLossLayer", "name": layer.name, "dim": axis, "bottoms": [x, label]}
    if weight != 1.0:
        table["weight"] = weight
    b.add(layer, table, "SoftmaxLossLayer")


def accuracy(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("accuracy_param")
    if p.HasField("ignore_label"):
        raise CaffeError(f"layer {layer.name!r}: Accuracy with ignore_label is not supported")
    _count(layer, 2, "bottom", "prediction and label expected")
    x, label = (b.bottom(layer, n) for n in layer.bottoms)
    for top in layer.tops:
        if b.read_later(top):
            raise CaffeError(
                f"layer {layer.name!r}: its top {top!r} is read by another layer; "
                f"our AccuracyLayer reports statistics and has no top"
            )
    b.add(
        layer,
        {
            "type": "AccuracyLayer",
            "name": layer.name,
            "dim": _axis(p.axis, len(b.shape(x)), layer),
            "bottoms": [x, label],
            **({"top_k": int(p.top_k)} if p.top_k != 1 else {}),
        },
        "AccuracyLayer" + (f" top {p.top_k}" if p.top_k != 1 else ""),
    )


def concat(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("concat_param")
    xs = [b.bottom(layer, n) for n in layer.bottoms]
    shapes = [b.shape(x) for x in xs]
    axis = _axis(
        p.axis if p.HasField("axis") or not p.HasField("concat_dim") else p.concat_dim,
        len(shapes[0]),
        layer,
    )
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    top = b.top(layer, layer.tops[0], tuple(out))
    b.add(
        layer,
        {"type": "ConcatLayer", "name": layer.name, "dim": axis, "bottoms": xs, "tops": [top]},
        f"ConcatLayer dim {axis}",
    )


def eltwise(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("eltwise_param")
    xs = [b.bottom(layer, n) for n in layer.bottoms]
    if len(xs) < 2:
        raise CaffeError(f"layer {layer.name!r}: Eltwise needs at least 2 bottoms")
    if p.operation == 2:
        raise CaffeError(f"layer {layer.name!r}: Eltwise MAX is not supported")
    coeff = [f32(c) for c in p.coeff] or [1.0] * len(xs)
    if len(coeff) != len(xs):
        raise CaffeError(f"layer {layer.name!r}: {len(coeff)} coeff for {len(xs)} bottoms")
    shape = b.shape(xs[0])
    if p.operation == 0 and len(p.coeff):
        raise CaffeError(f"layer {layer.name!r}: coeff is only for SUM (as Caffe)")
    ops = ["Multiply"] * (len(xs) - 1)
    if p.operation == 1:
        ops = ["Add"] * (len(xs) - 1)
        if len(xs) == 2 and coeff == [1.0, -1.0]:
            coeff, ops = [1.0, 1.0], ["Subtract"]
        for i, c in enumerate(coeff):
            if c != 1.0:
                scaled = f"{xs[i]}/x{c}-{layer.name}"
                b.out.shapes[scaled] = shape
                b.add(
                    layer,
                    {
                        "type": "PowerLayer",
                        "name": b.unique(f"{layer.name}-coeff{i}"),
                        "power": 1,
                        "scale": c,
                        "shift": 0,
                        "bottoms": [xs[i]],
                        "tops": [scaled],
                    },
                )
                xs[i] = scaled
    acc = xs[0]
    for i, op in enumerate(ops):
        last = i == len(ops) - 1
        top = b.top(layer, layer.tops[0], shape) if last else f"{acc}/{op}-{layer.name}{i}"
        b.out.shapes[top] = shape
        b.add(
            layer,
            {
                "type": "ElementWiseLayer",
                "name": layer.name if last else b.unique(f"{layer.name}-{i}"),
                "operation": op,
                "bottoms": [acc, xs[i + 1]],
                "tops": [top],
            },
            f"ElementWiseLayer {'PROD' if p.operation == 0 else 'SUM'}" if last else "",
        )
        acc = top


def split(b: Builder, layer: CaffeLayer) -> None:
    x = b.bottom(layer, layer.bottoms[0])
    tops = [b.top(layer, t, b.shape(x)) for t in layer.tops]
    b.add(
        layer,
        {"type": "SplitLayer", "name": layer.name, "bottoms": [x], "tops": tops},
        f"SplitLayer × {len(tops)}",
    )


def _reshape(b: Builder, layer: CaffeLayer, x: str, out: tuple[int, ...], what: str) -> None:
    if out[0] != b.shape(x)[0]:
        raise CaffeError(
            f"layer {layer.name!r}: {what} changes the batch axis "
            f"({list(b.shape(x))} → {list(out)}); ours keeps it"
        )
    top = b.top(layer, layer.tops[0], out)
    b.add(
        layer,
        {
            "type": "ReshapeLayer",
            "name": layer.name,
            "shape": list(out[1:]),
            "bottoms": [x],
            "tops": [top],
        },
        f"ReshapeLayer → {list(out[1:])}",
    )


def flatten(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("flatten_param")
    x = b.bottom(layer, layer.bottoms[0])
    shape = b.shape(x)
    a, e = _axis(p.axis, len(shape), layer), _axis(p.end_axis, len(shape), layer)
    out = (*shape[:a], int(np.prod(shape[a : e + 1])), *shape[e + 1 :])
    _reshape(b, layer, x, out, "Flatten")


def reshape(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("reshape_param")
    x = b.bottom(layer, layer.bottoms[0])
    shape = b.shape(x)
    start = _axis(p.axis, len(shape) + 1, layer)
    end = len(shape) if p.num_axes == -1 else start + p.num_axes
    dims = list(p.shape.dim)
    new = [shape[start + i] if d == 0 else d for i, d in enumerate(dims)]
    if new.count(-1) > 1:
        raise CaffeError(f"layer {layer.name!r}: more than one -1 in the shape")
    out = [*shape[:start], *new, *shape[end:]]
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1]))
        out[out.index(-1)] = int(np.prod(shape)) // max(known, 1)
    if int(np.prod(out)) != int(np.prod(shape)):
        raise CaffeError(f"layer {layer.name!r}: cannot reshape {list(shape)} to {out}")
    _reshape(b, layer, x, tuple(out), "Reshape")


def argmax(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("argmax_param")
    if p.top_k != 1 or p.out_max_val:
        raise CaffeError(
            f"layer {layer.name!r}: ArgMax with top_k {p.top_k} / out_max_val is "
            f"not supported (ours returns the top-1 index); leave it out with "
            f"--drop {layer.name}"
        )
    x = b.bottom(layer, layer.bottoms[0])
    shape = b.shape(x)
    if not p.HasField("axis") and len(shape) != 2:
        raise CaffeError(
            f"layer {layer.name!r}: ArgMax without axis over a {len(shape)}-D "
            f"blob (Caffe flattens each sample); give an axis"
        )
    axis = _axis(p.axis if p.HasField("axis") else 1, len(shape), layer)
    out = list(shape)
    out[axis] = 1
    top = b.top(layer, layer.tops[0], tuple(out))
    b.add(
        layer,
        {"type": "ArgmaxLayer", "name": layer.name, "dim": axis, "bottoms": [x], "tops": [top]},
        f"ArgmaxLayer dim {axis}",
    )
