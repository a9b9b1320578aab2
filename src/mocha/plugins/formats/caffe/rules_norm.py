"""Mapping rules for Caffe's BatchNorm and Scale (ResNet's BatchNorm + Scale pairs).

* BatchNorm → BatchNormLayer with Caffe's rule (`momentum` 0): `use_global_stats` (unset: by
  phase, as Caffe: batch statistics in TRAIN, stored ones in TEST), `moving_average_fraction`,
  `eps`. Blobs: mean sum `(C,)`, variance sum `(C,)`, scale factor `(1,)`, loaded as they are
  (the layer divides by the factor, 0 where it is 0, as Caffe). The statistics are never
  trained (Caffe forces their lr_mult to 0 too).
* Scale → ScaleLayer: `axis`, `num_axes`, `bias_term`; a constant `filler` is the scale's
  initializer. One bottom: blobs scale (shape `x.shape[axis : axis + num_axes]`) [+ bias];
  two bottoms (the scale is the second bottom): blob bias only. `param { lr_mult }` gives
  `scale_lr` / `bias_lr`; ScaleLayer has no weight decay, so a training net's decay on
  Scale blobs (Caffe's default decay_mult 1) is noted and dropped.
"""

from __future__ import annotations

from mocha.plugins.formats.caffe.data import f32
from mocha.plugins.formats.caffe.mapping import Builder
from mocha.plugins.formats.caffe.reader import CaffeError, CaffeLayer
from mocha.plugins.formats.caffe.rules_misc import _axis, _blobs, _count, _lr


def _note_decay(b: Builder, name: str) -> None:
    """One note for all Scale layers whose blobs Caffe would decay."""
    names = b.__dict__.setdefault("scale_decay", [])
    names.append(name)
    head = "weight decay dropped on the blobs of"
    b.out.notes[:] = [n for n in b.out.notes if not n.startswith(head)]
    listed = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    b.out.notes.append(f"{head} {len(names)} Scale layer(s) ({listed}): ScaleLayer has none")


def batch_norm(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("batch_norm_param")
    _count(layer, 1, "bottom", "one bottom")
    _count(layer, 1, "top", "one top")
    x = b.bottom(layer, layer.bottoms[0])
    shape = b.shape(x)
    if len(shape) < 2:
        raise CaffeError(f"layer {layer.name!r}: bottom {x!r} has shape {list(shape)}; (N, C, ...)")
    c = shape[1]
    top = b.top(layer, layer.tops[0], shape)
    table = {
        "type": "BatchNormLayer",
        "name": layer.name,
        "eps": f32(p.eps),
        "moving_average_fraction": f32(p.moving_average_fraction),
        "bottoms": [x],
        "tops": [top],
    }
    if p.HasField("use_global_stats"):
        table["use_global_stats"] = bool(p.use_global_stats)
    stats = {True: "stored statistics", False: "batch statistics"}
    how = stats.get(table.get("use_global_stats"), "statistics by phase")
    b.add(layer, table, f"BatchNormLayer {c} channels, {how}")
    _blobs(layer, 3, "mean, variance, scale factor")
    for i, (name, want) in enumerate((("mean", (c,)), ("variance", (c,)), ("scale_factor", (1,)))):
        if layer.blobs:
            b.param(layer, layer.name, name, layer.blobs[i], want, i)


def scale(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("scale_param")
    _count(layer, 1, "top", "one top")
    if len(layer.bottoms) not in (1, 2):
        raise CaffeError(f"layer {layer.name!r} (Scale) has {len(layer.bottoms)} bottoms; 1 or 2")
    xs = [b.bottom(layer, name) for name in layer.bottoms]
    shape = b.shape(xs[0])
    axis = _axis(p.axis, len(shape), layer)
    if len(xs) == 2:
        s = b.shape(xs[1])
        while s and s[-1] == 1:
            s = s[:-1]
    else:
        if p.num_axes < -1:
            raise CaffeError(f"layer {layer.name!r}: num_axes {p.num_axes} must be >= -1")
        s = shape[axis:] if p.num_axes == -1 else shape[axis : axis + p.num_axes]
        if axis + max(p.num_axes, 0) > len(shape):
            raise CaffeError(
                f"layer {layer.name!r}: axis {p.axis} + num_axes {p.num_axes} exceed the "
                f"rank of bottom {xs[0]!r} ({list(shape)})"
            )
    top = b.top(layer, layer.tops[0], shape)
    one = len(xs) == 1
    table = {
        "type": "ScaleLayer",
        "name": layer.name,
        "axis": int(p.axis),
        "num_axes": int(p.num_axes),
        "bias_term": bool(p.bias_term),
        "bottoms": xs,
        "tops": [top],
    }
    if one:
        table["scale_lr"] = _lr(layer, 0)
        if p.HasField("filler"):
            if p.filler.type != "constant":
                raise CaffeError(
                    f"layer {layer.name!r}: scale filler {p.filler.type!r}; only a constant "
                    f"filler is supported"
                )
            table["scale_init"] = {"type": "ConstantInitializer", "value": f32(p.filler.value)}
    if p.bias_term:
        table["bias_lr"] = _lr(layer, 1 if one else 0)
        f = p.bias_filler
        if p.HasField("bias_filler") and (f.type != "constant" or f.value != 0):
            raise CaffeError(
                f"layer {layer.name!r}: bias_filler {f.type} {f.value}; only the constant 0 "
                f"is supported"
            )
    if layer.param is not None and not hasattr(layer.param, "weight_decay"):
        decays = [q.decay_mult for q in layer.param.param]
        decays += [1.0] * (int(one) + int(p.bias_term) - len(decays))  # Caffe's default
        if any(d != 0 for d in decays):
            _note_decay(b, layer.name)
    what = "per " + ("channel" if s == shape[1:2] and axis == 1 else f"block {list(s)}")
    b.add(layer, table, f"ScaleLayer {what}{' + bias' if p.bias_term else ''}")
    _blobs(layer, int(one) + int(p.bias_term), "scale" * one + " + bias" * bool(p.bias_term))
    if layer.blobs:
        if one:
            b.param(layer, layer.name, "scale", layer.blobs[0], tuple(s), 0)
        if p.bias_term:
            b.param(layer, layer.name, "bias", layer.blobs[-1], tuple(s), len(layer.blobs) - 1)
