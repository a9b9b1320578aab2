"""Mapping rules for Caffe's Slice, EuclideanLoss, SigmoidCrossEntropyLoss and DummyData.

* Slice → SliceLayer: `axis` (or the legacy `slice_dim`), `slice_points` (none: equal parts).
* EuclideanLoss → EuclideanLossLayer: 1/(2N)·Σ‖a − b‖² (`loss_weight` → `weight`).
* SigmoidCrossEntropyLoss(x, t) = −1/N·Σ [t·log σ(x) + (1 − t)·log(1 − σ(x))] (Caffe's
  default normalization for this layer is the batch size N) → a Sigmoid neuron on x (see
  mapping.py) then BinaryCrossEntropyLossLayer; other `normalization`s are refused.
* DummyData: a `constant` filler (Caffe's default: 0) is a MemoryDataLayer over a file of
  that constant (the real data, not a placeholder); a `gaussian` filler is a
  RandomNormalLayer, scaled by a PowerLayer when mean ≠ 0 or std ≠ 1; other fillers are
  refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mocha.plugins.formats.caffe.data import f32
from mocha.plugins.formats.caffe.mapping import Builder
from mocha.plugins.formats.caffe.reader import CaffeError, CaffeLayer
from mocha.plugins.formats.caffe.rules_misc import _axis, _count, _loss_checks


def _weight(layer: CaffeLayer, table: dict[str, Any]) -> None:
    if len(layer.param.loss_weight):
        weight = float(layer.param.loss_weight[0])
        if weight < 0:
            raise CaffeError(f"layer {layer.name!r}: loss_weight {weight} must be >= 0")
        if weight != 1.0:
            table["weight"] = weight


def slice_(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("slice_param")
    _count(layer, 1, "bottom", "one bottom")
    x = b.bottom(layer, layer.bottoms[0])
    shape = b.shape(x)
    axis = _axis(int(p.slice_dim) if p.HasField("slice_dim") else p.axis, len(shape), layer)
    points, k, size = [int(v) for v in p.slice_point], len(layer.tops), shape[axis]
    if points:
        if len(points) != k - 1 or points != sorted(set(points)) or not 0 < points[0]:
            raise CaffeError(
                f"layer {layer.name!r}: slice_point {points} for {k} tops (needs {k - 1} "
                f"increasing points inside the axis)"
            )
        if points[-1] >= size:
            raise CaffeError(f"layer {layer.name!r}: slice_point {points[-1]} >= axis size {size}")
        edges = [0, *points, size]
    else:
        if size % k:
            raise CaffeError(f"layer {layer.name!r}: axis size {size} is not divisible by {k} tops")
        edges = [i * size // k for i in range(k + 1)]
    tops = [
        b.top(layer, t, shape[:axis] + (hi - lo,) + shape[axis + 1 :])
        for t, lo, hi in zip(layer.tops, edges, edges[1:])
    ]
    table = {"type": "SliceLayer", "name": layer.name, "axis": axis, "bottoms": [x], "tops": tops}
    if points:
        table["slice_points"] = points
    b.add(layer, table, f"SliceLayer axis {axis} at {edges[1:-1]}")


def euclidean_loss(b: Builder, layer: CaffeLayer) -> None:
    _count(layer, 2, "bottom", "prediction and target expected")
    xs = [b.bottom(layer, n) for n in layer.bottoms]
    table = {"type": "EuclideanLossLayer", "name": layer.name, "bottoms": xs}
    _weight(layer, table)
    b.add(layer, table, "EuclideanLossLayer")


def contrastive_loss(b: Builder, layer: CaffeLayer) -> None:
    """ContrastiveLoss → ContrastiveLossLayer (a, b, similarity label; `margin`,
    `legacy_version`, `loss_weight` → `weight`)."""
    _count(layer, 3, "bottom", "two feature blobs and the similarity label expected")
    xs = [b.bottom(layer, n) for n in layer.bottoms]
    table: dict[str, Any] = {"type": "ContrastiveLossLayer", "name": layer.name, "bottoms": xs}
    if layer.has("contrastive_loss_param"):
        p = layer.get("contrastive_loss_param")
        if p.HasField("margin"):
            table["margin"] = f32(p.margin)
        if p.legacy_version:
            table["legacy_version"] = True
    _weight(layer, table)
    b.add(layer, table, f"ContrastiveLossLayer margin {table.get('margin', 1.0)}")


def sigmoid_cross_entropy_loss(b: Builder, layer: CaffeLayer) -> None:
    _count(layer, 2, "bottom", "scores and targets expected")
    _loss_checks(layer)
    if layer.has("loss_param"):
        lp = layer.get("loss_param")
        mode = lp.normalization if lp.HasField("normalization") else None
        if mode is None and lp.HasField("normalize"):
            mode = 1 if lp.normalize else 2  # Caffe: normalize → VALID, else BATCH_SIZE
        if mode not in (None, 2):
            raise CaffeError(
                f"layer {layer.name!r}: SigmoidCrossEntropyLoss normalization other than "
                f"BATCH_SIZE (Caffe's default for this layer) is not supported"
            )
    src, inner = layer.bottoms[0], f"{layer.bottoms[0]}//{layer.name}"
    b.neuron(
        CaffeLayer(
            name=b.unique(f"{layer.name}-sigmoid"),
            type="Sigmoid",
            phase=layer.phase,
            bottoms=[src],
            tops=[inner],
            param=layer.param,
        ),
        "Sigmoid",
    )
    p, target = b.bottom(layer, inner), b.bottom(layer, layer.bottoms[1])
    table = {"type": "BinaryCrossEntropyLossLayer", "name": layer.name, "bottoms": [p, target]}
    _weight(layer, table)
    b.add(layer, table, "Sigmoid → BinaryCrossEntropyLossLayer")


def dummy_data(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("dummy_data_param")
    k = len(layer.tops)
    if p.shape:
        shapes = [tuple(int(d) for d in s.dim) for s in p.shape]
    else:
        dims = [list(getattr(p, f)) for f in ("num", "channels", "height", "width")]
        shapes = [tuple(int(d[i if len(d) > 1 else 0]) for d in dims) for i in range(k)]
    shapes = shapes * k if len(shapes) == 1 else shapes
    fillers = list(p.data_filler) or [None]
    fillers = fillers * k if len(fillers) == 1 else fillers
    if len(shapes) != k or len(fillers) != k or any(not s or min(s) < 1 for s in shapes):
        raise CaffeError(
            f"layer {layer.name!r} (DummyData): {k} tops need 1 or {k} shapes and 0, 1 or {k} "
            f"data_fillers (got {len(p.shape) or len(shapes)} and {len(p.data_filler)})"
        )
    for i, (top, shape, f) in enumerate(zip(layer.tops, shapes, fillers)):
        kind = "constant" if f is None else f.type
        name = layer.name if k == 1 else f"{layer.name}-{top}"
        if kind == "constant":
            value = 0.0 if f is None else f32(f.value)
            fname = f"{b.out.name}-{b.unique(name)}.h5"
            b.out.files[fname] = {top: np.full(shape, value, dtype=np.float32)}
            table = {
                "type": "MemoryDataLayer",
                "name": b.unique(name),
                "source": fname,
                "batch_size": shape[0],
                "shuffle": False,
            }
            what = f"MemoryDataLayer of {value} (a file of the constant)"
        elif kind == "gaussian" and f.sparse < 0:
            table = {
                "type": "RandomNormalLayer",
                "name": b.unique(name),
                "output_dims": list(shape[1:]),
                "batch_sizes": [shape[0]],
            }
            what = "RandomNormalLayer"
        else:
            raise CaffeError(
                f"layer {layer.name!r} (DummyData): data_filler {kind!r}; only constant and "
                f"gaussian are supported"
            )
        if kind == "gaussian" and (f32(f.mean), f32(f.std)) != (0.0, 1.0):
            raw = f"{top}/standard-{layer.name}"
            b.out.shapes[raw] = shape
            table["tops"] = [raw]
            b.add(layer, table)
            table = {
                "type": "PowerLayer",
                "name": b.unique(f"{name}-scale"),
                "power": 1,
                "scale": f32(f.std),
                "shift": f32(f.mean),
                "bottoms": [raw],
            }
            what = f"RandomNormalLayer · {f32(f.std)} + {f32(f.mean)}"
        table["tops"] = [b.top(layer, top, shape)]
        b.add(layer, table, what if i == 0 else "")
