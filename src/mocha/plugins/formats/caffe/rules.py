"""One mapping rule per Caffe layer type (`RULES[type](builder, layer)`), Caffe's semantics:

* Learning-rate multipliers (`param { lr_mult }`, V1 `blobs_lr`) become `*_lr`; weight decay
  multipliers (`decay_mult`, V1 `weight_decay`, 1 by default, biases included) become
  `L2Regu(decay_mult / 2)` (Caffe adds λ·W, our L2Regu 2·c·λ·W; λ is the solver's regu_coef).
* Convolution: `num_output`, `kernel_size`/`pad`/`stride` (one value or `_h`/`_w`), `group`;
  `bias_term: false` is a zero bias that is never trained; dilation must be 1.
  Blobs: filter `(F, C/group, kh, kw)`, bias `(F,)`. Output `floor((H + 2p − k)/s) + 1`.
* Pooling MAX / AVE, `global_pooling`: output size rounded up (ours too). Caffe's AVE divides
  by the window clipped to the padded input; ours by the full kernel: they agree unless a
  window overhangs the padded input; then, without padding, AVE becomes our mean pooling of x
  divided by our mean pooling of ones (the in-image cell count); with padding it is refused.
  `round_mode: FLOOR` is refused unless it gives the same size.
* InnerProduct (`axis` 1; `transpose` stores the weight as `(in, out)`): weight `(out, in)`.
* ReLU (`negative_slope` 0 → ReLU, 0.01 → LReLU), Sigmoid, TanH, Exp (`base^(shift +
  scale·x)` = Power then Exponential): neurons (see mapping.py). Power → PowerLayer.
* LRN: ACROSS_CHANNELS `x / (k + α/n Σ x²)^β` = our (kernel n, scale α, shift k, power β);
  WITHIN_CHANNEL uses shift 1 (Caffe ignores k there) and odd sizes only.
* Dropout: training net only (Caffe's TEST phase passes the data through). Softmax,
  SoftmaxWithLoss (`loss_weight` → weight), Accuracy (`top_k`), Concat, Eltwise (SUM with
  coefficients via Power scalings, PROD), Split, Flatten, Reshape, ArgMax (`top_k` 1, over an
  axis, or over a 2-D blob).
* BatchNorm, Scale: see `rules_norm.py`; Slice, EuclideanLoss, SigmoidCrossEntropyLoss,
  DummyData: see `rules_extra.py`. Data layers' `crop_size`: see `data.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mocha.plugins.formats.caffe.data import crop_table, data_table, f32
from mocha.plugins.formats.caffe.mapping import Builder
from mocha.plugins.formats.caffe.reader import CaffeError, CaffeLayer
from mocha.plugins.formats.caffe.rules_extra import (
    contrastive_loss,
    dummy_data,
    euclidean_loss,
    sigmoid_cross_entropy_loss,
    slice_,
)
from mocha.plugins.formats.caffe.rules_misc import (
    _axis,
    _blobs,
    _count,
    _lr,
    _neuron,
    accuracy,
    argmax,
    concat,
    dropout,
    eltwise,
    exp,
    flatten,
    lrn,
    power,
    relu,
    reshape,
    softmax,
    softmax_loss,
    split,
)
from mocha.plugins.formats.caffe.rules_norm import batch_norm, scale


def _decay(layer: CaffeLayer, i: int) -> Any:
    """Caffe's weight decay adds λ·m·W to the gradient (m the blob's decay_mult, 1 by
    default); our L2Regu(c) adds 2·c·λ·W (λ the solver's regu_coef): c = m / 2."""
    if layer.param is None:
        m = 1.0
    elif hasattr(layer.param, "weight_decay"):  # V1
        m = float(layer.param.weight_decay[i]) if i < len(layer.param.weight_decay) else 1.0
    else:
        m = float(layer.param.param[i].decay_mult) if i < len(layer.param.param) else 1.0
    return {"type": "L2Regu", "coefficient": m / 2} if m else "NoRegu"


def _filler(p: Any, name: str) -> Any:
    if not p.HasField(name):
        return None
    f = getattr(p, name)
    if f.type == "constant":
        return {"type": "ConstantInitializer", "value": f32(f.value)}
    if f.type == "gaussian" and f.sparse < 0:
        return {"type": "GaussianInitializer", "mean": f32(f.mean), "std": f32(f.std)}
    if f.type == "xavier" and f.variance_norm == 0:
        return "XavierInitializer"
    return None  # other fillers: our default initializer


def data(b: Builder, layer: CaffeLayer) -> None:
    """A data layer (data.py); `crop_size` adds a CropLayer after it."""
    table, shapes = data_table(layer, b.options, b.out.name, b.out.files, b.out.notes)
    full = f"{layer.tops[0]}/uncropped" + (f"-{layer.phase}" if layer.phase != "both" else "")
    crop, cropped = crop_table(layer, shapes[0], full, layer.tops[0], b.out.notes)
    if crop is None:
        table["tops"] = [b.top(layer, t, s) for t, s in zip(layer.tops, shapes)]
    else:
        b.out.shapes[full] = shapes[0]
        table["tops"] = [full] + [b.top(layer, t, s) for t, s in zip(layer.tops[1:], shapes[1:])]
        arrays = b.out.files.get(table.get("source", ""), {})
        if layer.tops[0] in arrays:  # the placeholder file holds the uncropped images
            arrays[full] = arrays.pop(layer.tops[0])
        for transformer in table.get("transformers", []):
            if transformer["top"] == layer.tops[0]:
                transformer["top"] = full
    b.add(layer, table, f"{table['type']} {' '.join(map(str, shapes[0][1:]))}")
    if crop is not None:
        crop["tops"] = [b.top(layer, layer.tops[0], cropped)]
        how = "random" if crop["random_crop"] else "centred"
        b.add(layer, crop)
        b.out.mapped.append((layer.name, "crop_size", f"CropLayer {how} {cropped[2]}x{cropped[3]}"))


def _pair(p: Any, base: str, scalar: bool, default: int | None) -> tuple[int, int]:
    h, w = getattr(p, f"{base}_h"), getattr(p, f"{base}_w")
    if p.HasField(f"{base}_h") or p.HasField(f"{base}_w"):
        return int(h), int(w)
    name = "kernel_size" if base == "kernel" else base
    values = (
        [getattr(p, name)]
        if scalar and p.HasField(name)
        else ([] if scalar else list(getattr(p, name)))
    )
    if not values:
        if default is None:
            raise CaffeError(f"no {name} (nor {base}_h/{base}_w) given")
        return default, default
    if len(values) == 1:
        return int(values[0]), int(values[0])
    if len(values) == 2:
        return int(values[0]), int(values[1])
    raise CaffeError(f"{name} has {len(values)} values; only 2-D is supported")


def convolution(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("convolution_param")
    _count(layer, 1, "bottom", "one bottom is supported")
    if any(d != 1 for d in p.dilation):
        raise CaffeError(f"layer {layer.name!r}: dilation {list(p.dilation)} is not supported")
    if p.axis != 1:
        raise CaffeError(f"layer {layer.name!r}: axis {p.axis} (only 1, channels) is supported")
    kernel, pad, stride = (
        _pair(p, "kernel", False, None),
        _pair(p, "pad", False, 0),
        _pair(p, "stride", False, 1),
    )
    x = b.bottom(layer, layer.bottoms[0])
    shape = b.shape(x)
    if len(shape) != 4:
        raise CaffeError(f"layer {layer.name!r}: bottom {x!r} has shape {list(shape)}; 4-D only")
    n, c, h, w = shape
    group, f = int(p.group), int(p.num_output)
    if f < 1 or c % group or f % group:
        raise CaffeError(
            f"layer {layer.name!r}: num_output {f} and {c} channels must be "
            f"multiples of group {group}"
        )
    oh = (h + 2 * pad[0] - kernel[0]) // stride[0] + 1
    ow = (w + 2 * pad[1] - kernel[1]) // stride[1] + 1
    top = b.top(layer, layer.tops[0], (n, f, oh, ow))
    table = {
        "type": "ConvolutionLayer",
        "name": layer.name,
        "n_filter": f,
        "kernel": list(kernel),
        "stride": list(stride),
        "pad": list(pad),
        "n_group": group,
        "filter_lr": _lr(layer, 0),
        "bias_lr": _lr(layer, 1),
        "filter_regu": _decay(layer, 0),
        "bias_regu": _decay(layer, 1),
        "bottoms": [x],
        "tops": [top],
    }
    for key, filler in (
        ("filter_init", _filler(p, "weight_filler")),
        ("bias_init", _filler(p, "bias_filler")),
    ):
        if filler is not None:
            table[key] = filler
    _bias_term(b, layer, table, p.bias_term, f, "bias_lr")
    b.add(layer, table, f"ConvolutionLayer {f} filters {kernel[0]}x{kernel[1]}")
    if layer.blobs:
        b.param(layer, layer.name, "filter", layer.blobs[0], (f, c // group, *kernel), 0)


def _bias_term(
    b: Builder, layer: CaffeLayer, table: dict, bias_term: bool, n: int, lr_key: str
) -> None:
    _blobs(layer, 2 if bias_term else 1, f"bias_term: {str(bias_term).lower()}")
    if bias_term:
        if layer.blobs:
            b.param(layer, layer.name, "bias", layer.blobs[1], (n,), 1)
        return
    table[lr_key] = 0.0
    table["bias_init"] = {"type": "ConstantInitializer", "value": 0.0}
    b.out.params[f"{layer.name}___bias"] = np.zeros(n, dtype=np.float32)


def inner_product(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("inner_product_param")
    _count(layer, 1, "bottom", "one bottom is supported")
    x = b.bottom(layer, layer.bottoms[0])
    shape = b.shape(x)
    if _axis(p.axis, len(shape), layer) != 1:
        raise CaffeError(
            f"layer {layer.name!r}: axis {p.axis}; only axis 1 (flatten all but "
            f"the batch) is supported"
        )
    out, features = int(p.num_output), int(np.prod(shape[1:]))
    top = b.top(layer, layer.tops[0], (shape[0], out))
    table = {
        "type": "InnerProductLayer",
        "name": layer.name,
        "output_dim": out,
        "weight_lr": _lr(layer, 0),
        "bias_lr": _lr(layer, 1),
        "weight_regu": _decay(layer, 0),
        "bias_regu": _decay(layer, 1),
        "bottoms": [x],
        "tops": [top],
    }
    for key, filler in (
        ("weight_init", _filler(p, "weight_filler")),
        ("bias_init", _filler(p, "bias_filler")),
    ):
        if filler is not None:
            table[key] = filler
    _bias_term(b, layer, table, p.bias_term, out, "bias_lr")
    b.add(layer, table, f"InnerProductLayer {features} → {out}")
    if layer.blobs:
        weight = layer.blobs[0]
        if p.transpose:
            from mocha.core.io.model import strip_unit_axes

            weight = weight.reshape(strip_unit_axes(weight.shape) or (1,))
            if weight.shape != (features, out):
                raise CaffeError(
                    f"layer {layer.name!r}: transposed weight of shape "
                    f"{list(layer.blobs[0].shape)}; expected {[features, out]}"
                )
            weight = weight.T
        b.param(layer, layer.name, "weight", weight, (out, features), 0)


def _pooled(size: int, k: int, p: int, s: int, any_pad: bool, ceil: bool) -> int:
    out = (math.ceil if ceil else math.floor)((size + 2 * p - k) / s) + 1
    if any_pad and (out - 1) * s >= size + p:
        out -= 1
    return out


def pooling(b: Builder, layer: CaffeLayer) -> None:
    p = layer.get("pooling_param")
    _count(layer, 1, "bottom", "one bottom is supported")
    x = b.bottom(layer, layer.bottoms[0])
    shape = b.shape(x)
    if len(shape) != 4:
        raise CaffeError(f"layer {layer.name!r}: bottom {x!r} has shape {list(shape)}; 4-D only")
    n, c, h, w = shape
    if p.pool == 2:
        raise CaffeError(f"layer {layer.name!r}: STOCHASTIC pooling is not supported")
    if p.global_pooling:
        kernel, pad, stride = (h, w), (0, 0), (1, 1)
    else:
        kernel, pad, stride = (
            _pair(p, "kernel", True, None),
            _pair(p, "pad", True, 0),
            _pair(p, "stride", True, 1),
        )
    any_pad = pad != (0, 0)
    out = tuple(
        _pooled(s, k, q, t, any_pad, True) for s, k, q, t in zip((h, w), kernel, pad, stride)
    )
    if p.round_mode == 1 and out != tuple(
        _pooled(s, k, q, t, any_pad, False) for s, k, q, t in zip((h, w), kernel, pad, stride)
    ):
        raise CaffeError(
            f"layer {layer.name!r}: round_mode FLOOR gives another output size "
            f"than our rounded-up one for input {h}x{w}"
        )
    table = {
        "type": "PoolingLayer",
        "name": layer.name,
        "kernel": list(kernel),
        "stride": list(stride),
        "pad": list(pad),
        "pooling": "Max" if p.pool == 0 else "Mean",
        "bottoms": [x],
    }
    overhang = any(
        (o - 1) * t - q + k > s + q for o, t, q, k, s in zip(out, stride, pad, kernel, (h, w))
    )
    kind = "MAX" if p.pool == 0 else "AVE"
    if p.pool == 0 or not overhang:
        table["tops"] = [b.top(layer, layer.tops[0], (n, c, *out))]
        b.add(
            layer,
            table,
            f"PoolingLayer {kind} {kernel[0]}x{kernel[1]}/{stride[0]} → {out[0]}x{out[1]}",
        )
        return
    if any_pad:
        raise CaffeError(
            f"layer {layer.name!r}: AVE pooling whose last window overhangs the "
            f"padded input ({h}x{w}, kernel {kernel}, stride {stride}, pad {pad}): "
            f"Caffe's divisor there has no exact equivalent"
        )
    # Caffe's AVE = sum / (in-image cells) = mean_pool(x) / mean_pool(ones)
    total, ones, count = (
        f"{x}/sum-{layer.name}",
        f"{x}/ones-{layer.name}",
        f"{x}/count-{layer.name}",
    )
    b.out.shapes[total] = b.out.shapes[count] = (n, c, *out)
    b.out.shapes[ones] = shape
    table["tops"] = [total]
    b.add(layer, table)
    b.add(
        layer,
        {
            "type": "PowerLayer",
            "name": b.unique(f"{layer.name}-ones"),
            "power": 0,
            "scale": 0,
            "shift": 1,
            "bottoms": [x],
            "tops": [ones],
        },
    )
    b.add(
        layer,
        {**table, "name": b.unique(f"{layer.name}-count"), "bottoms": [ones], "tops": [count]},
    )
    top = b.top(layer, layer.tops[0], (n, c, *out))
    b.add(
        layer,
        {
            "type": "ElementWiseLayer",
            "name": b.unique(f"{layer.name}-average"),
            "operation": "Divide",
            "bottoms": [total, count],
            "tops": [top],
        },
        f"PoolingLayer AVE {kernel[0]}x{kernel[1]}/{stride[0]} → {out[0]}x{out[1]} "
        f"(divided by the in-image window sizes, as Caffe)",
    )


RULES: dict[str, Callable[[Builder, CaffeLayer], None]] = {
    **{t: data for t in ("Input", "Data", "ImageData", "HDF5Data", "MemoryData")},
    "Convolution": convolution,
    "InnerProduct": inner_product,
    "Pooling": pooling,
    "ReLU": relu,
    "Sigmoid": _neuron("Sigmoid"),
    "TanH": _neuron("Tanh"),
    "Exp": exp,
    "Power": power,
    "LRN": lrn,
    "Dropout": dropout,
    "Softmax": softmax,
    "SoftmaxWithLoss": softmax_loss,
    "Accuracy": accuracy,
    "Concat": concat,
    "Eltwise": eltwise,
    "Split": split,
    "Flatten": flatten,
    "Reshape": reshape,
    "ArgMax": argmax,
    "BatchNorm": batch_norm,
    "Scale": scale,
    "Slice": slice_,
    "EuclideanLoss": euclidean_loss,
    "SigmoidCrossEntropyLoss": sigmoid_cross_entropy_loss,
    "DummyData": dummy_data,
    "ContrastiveLoss": contrastive_loss,
}
