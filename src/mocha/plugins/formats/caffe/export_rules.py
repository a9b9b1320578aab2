"""The built-in layers' Caffe export rules: one function per layer type.

`write(ctx, layer, msg)` fills `msg` (the layer's `LayerParameter`, name, bottoms, tops and
phase already set) and returns None, or a refusal text when Caffe would compute something
else; `ctx` is an `exporter.ExportContext`. Registered by `mocha_register_interchange` of
this package as `ExportRule("caffe", "<LayerClass>", write)`; a layer package registers its
own the same way (docs/plugins.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from mocha.plugins.formats.caffe.exporter import _blob, _neuron, _params, _phase


def memory_data(ctx: Any, layer: Any, msg: Any) -> str | None:
    if layer.transformers:
        return f"{layer.name!r} (MemoryDataLayer with transformers)"
    msg.type = "Input"
    for top in ctx.tops:
        msg.input_param.shape.add(dim=[int(d) for d in ctx.shapes[top]])
    return None


def hdf5_data(ctx: Any, layer: Any, msg: Any) -> str | None:
    if layer.transformers:
        return f"{layer.name!r} ({type(layer).__name__} with transformers)"
    msg.type = "HDF5Data"
    msg.hdf5_data_param.source = os.fspath(layer.source)
    msg.hdf5_data_param.batch_size = layer.batch_size
    msg.hdf5_data_param.shuffle = bool(layer.shuffle)
    return None


def _weights(ctx: Any, layer: Any, msg: Any, names: tuple[str, str]) -> str | None:
    refused = _params(msg, layer, names)
    if refused:
        return refused
    for pname in names:
        if (layer.name, pname) in ctx.params:
            _blob(msg, ctx.params[layer.name, pname])
    return _neuron(ctx.net, layer, ctx.tops[0], ctx.phase)


def convolution(ctx: Any, layer: Any, msg: Any) -> str | None:
    msg.type = "Convolution"
    p = msg.convolution_param
    p.num_output, p.group = layer.n_filter, layer.n_group
    (p.kernel_h, p.kernel_w), (p.stride_h, p.stride_w) = layer.kernel, layer.stride
    p.pad_h, p.pad_w = layer.pad
    return _weights(ctx, layer, msg, ("filter", "bias"))


def inner_product(ctx: Any, layer: Any, msg: Any) -> str | None:
    msg.type = "InnerProduct"
    msg.inner_product_param.num_output = layer.output_dim
    return _weights(ctx, layer, msg, ("weight", "bias"))


def pooling(ctx: Any, layer: Any, msg: Any) -> str | None:
    msg.type = "Pooling"
    p = msg.pooling_param
    mean = type(layer.pooling).__name__ == "MeanPooling"
    p.pool = 1 if mean else 0
    h, w = ctx.shapes[layer.bottoms[0]][2:]
    oh, ow = ctx.shapes[layer.tops[0]][2:]
    kernel = (h, w) if layer.global_pooling else layer.kernel
    (p.kernel_h, p.kernel_w), (p.stride_h, p.stride_w) = kernel, layer.stride
    p.pad_h, p.pad_w = layer.pad
    geometry = list(zip((oh, ow), layer.stride, layer.pad, kernel, (h, w)))
    if not layer.ceil_mode and any(  # Caffe always rounds up
        o != type(layer).output_size(size, k, q, s, layer.pad != (0, 0))  # Mocha's = Caffe's rule
        for o, s, q, k, size in geometry
    ):
        return f"{layer.name!r} (pooling rounded down, ceil_mode = false: Caffe rounds up)"
    overhang = any((o - 1) * s - q + k > size + q for o, s, q, k, size in geometry)
    divisor = layer.count_include_pad  # None: the full window; true: Caffe's AVE
    if mean and divisor is False and (layer.pad != (0, 0) or overhang):
        return (
            f"{layer.name!r} (mean pooling over the in-image cells only, "
            f"count_include_pad = false, where windows reach the padding)"
        )
    if mean and divisor is None and not ctx.ave_top and overhang:
        return (
            f"{layer.name!r} (mean pooling whose last window overhangs the padded "
            f"input: Caffe's AVE divides there by a smaller count)"
        )
    return _neuron(ctx.net, layer, ctx.tops[0], ctx.phase)


def lrn(ctx: Any, layer: Any, msg: Any) -> str | None:
    msg.type = "LRN"
    p = msg.lrn_param
    within = type(layer.mode).__name__ == "WithinChannel"
    if within and layer.shift != 1:
        return f"{layer.name!r} (WithinChannel LRN with shift {layer.shift}; Caffe's is 1)"
    if layer.kernel % 2 == 0 or layer.channel_dim not in (1, -3):
        return f"{layer.name!r} (LRN kernel {layer.kernel} / channel_dim {layer.channel_dim})"
    p.local_size, p.alpha, p.beta, p.k = layer.kernel, layer.scale, layer.power, layer.shift
    p.norm_region = 1 if within else 0
    return None


def power(ctx: Any, layer: Any, msg: Any) -> str | None:
    msg.type = "Power"
    p = msg.power_param
    p.power, p.scale, p.shift = layer.power, layer.scale, layer.shift
    return None


def dropout(ctx: Any, layer: Any, msg: Any) -> str | None:
    if not layer.auto_scale:
        return f"{layer.name!r} (DropoutLayer without auto_scale)"
    msg.type = "Dropout"
    msg.top.extend(ctx.bottoms)
    msg.dropout_param.dropout_ratio = layer.ratio
    return None


def softmax(ctx: Any, layer: Any, msg: Any) -> str | None:
    msg.type = "Softmax"
    msg.softmax_param.axis = layer.dim
    return None


def softmax_loss(ctx: Any, layer: Any, msg: Any) -> str | None:
    if layer.weights or layer.normalize != "local":
        return f"{layer.name!r} (SoftmaxLossLayer with class weights / normalize)"
    msg.type = "SoftmaxWithLoss"
    msg.top.append(layer.name)
    msg.softmax_param.axis = layer.dim
    if layer.weight != 1:
        msg.loss_weight.append(layer.weight)
    return None


def accuracy(ctx: Any, layer: Any, msg: Any) -> str | None:
    msg.type = "Accuracy"
    msg.top.append(layer.name)
    msg.accuracy_param.axis = layer.dim
    if layer.top_k != 1:
        msg.accuracy_param.top_k = layer.top_k
    return None


def concat(ctx: Any, layer: Any, msg: Any) -> str | None:
    msg.type = "Concat"
    msg.concat_param.axis = layer.dim
    return None


def element_wise(ctx: Any, layer: Any, msg: Any) -> str | None:
    op = type(layer.operation).__name__
    msg.type = "Eltwise"
    if op == "Add":
        msg.eltwise_param.operation = 1
    elif op == "Subtract":
        msg.eltwise_param.operation = 1
        msg.eltwise_param.coeff.extend([1.0, -1.0])
    elif op == "Multiply":
        msg.eltwise_param.operation = 0
    else:
        return f"{layer.name!r} (ElementWiseLayer {op})"
    return None


def split(ctx: Any, layer: Any, msg: Any) -> str | None:
    msg.type = "Split"
    return None


def reshape(ctx: Any, layer: Any, msg: Any) -> str | None:
    if len(ctx.bottoms) != 1:
        return f"{layer.name!r} (ReshapeLayer with {len(ctx.bottoms)} bottoms)"
    msg.type = "Reshape"
    msg.reshape_param.shape.dim.extend([0, *layer.shape])
    return None


def argmax(ctx: Any, layer: Any, msg: Any) -> str | None:
    msg.type = "ArgMax"
    msg.argmax_param.axis = layer.dim
    return None


def _stored(ctx: Any, msg: Any, layer: Any, names: tuple[str, ...]) -> None:
    for pname in names:
        if (layer.name, pname) in ctx.params:
            _blob(msg, ctx.params[layer.name, pname])


def batch_norm(ctx: Any, layer: Any, msg: Any) -> str | None:
    """BatchNorm (+ a Scale with bias for `affine`); the statistics are Caffe's blobs."""
    if layer.momentum > 0 and layer.use_global_stats is not True:
        return (
            f"{layer.name!r} (BatchNormLayer with momentum {layer.momentum}: Caffe updates its "
            f"statistics by moving_average_fraction only)"
        )
    msg.type = "BatchNorm"
    p = msg.batch_norm_param
    p.eps, p.moving_average_fraction = layer.eps, layer.moving_average_fraction
    if layer.use_global_stats is not None:
        p.use_global_stats = layer.use_global_stats
    for _ in range(3):
        msg.param.add(lr_mult=0.0, decay_mult=0.0)
    _stored(ctx, msg, layer, ("mean", "variance", "scale_factor"))
    if layer.affine:
        top = ctx.tops[0]
        affine = ctx.net.layer.add(
            name=f"{layer.name}-affine", type="Scale", bottom=[top], top=[top]
        )
        _phase(affine, ctx.phase)
        affine.scale_param.bias_term = True
        affine.param.add(lr_mult=layer.scale_lr, decay_mult=0.0)
        affine.param.add(lr_mult=layer.bias_lr, decay_mult=0.0)
        _stored(ctx, affine, layer, ("scale", "bias"))
    return None


def scale(ctx: Any, layer: Any, msg: Any) -> str | None:
    init = layer.scale_init
    if type(init).__name__ != "ConstantInitializer":
        return f"{layer.name!r} (ScaleLayer with scale_init {init!r}; Caffe's filler: constant)"
    msg.type = "Scale"
    p = msg.scale_param
    p.axis, p.num_axes, p.bias_term = layer.axis, layer.num_axes, layer.bias_term
    if len(ctx.bottoms) == 1:
        if init.value != 1:
            p.filler.value = init.value
        msg.param.add(lr_mult=layer.scale_lr, decay_mult=0.0)
    if layer.bias_term:
        msg.param.add(lr_mult=layer.bias_lr, decay_mult=0.0)
    _stored(ctx, msg, layer, ("scale", "bias"))
    return None


def slice_(ctx: Any, layer: Any, msg: Any) -> str | None:
    msg.type = "Slice"
    rank = len(ctx.shapes[layer.bottoms[0]])
    msg.slice_param.axis = layer.axis + rank if layer.axis < 0 else layer.axis
    msg.slice_param.slice_point.extend(int(p) for p in layer.slice_points)
    return None


def euclidean_loss(ctx: Any, layer: Any, msg: Any) -> str | None:
    """SquareLossLayer and EuclideanLossLayer: Caffe's EuclideanLoss, 1/(2N)·Σ‖a − b‖²."""
    msg.type = "EuclideanLoss"
    msg.top.append(layer.name)
    if layer.weight != 1:
        msg.loss_weight.append(layer.weight)
    return None


RULES: dict[str, Callable[[Any, Any, Any], str | None]] = {
    "MemoryDataLayer": memory_data,
    "HDF5DataLayer": hdf5_data,
    "AsyncHDF5DataLayer": hdf5_data,
    "ConvolutionLayer": convolution,
    "InnerProductLayer": inner_product,
    "PoolingLayer": pooling,
    "LRNLayer": lrn,
    "PowerLayer": power,
    "DropoutLayer": dropout,
    "SoftmaxLayer": softmax,
    "SoftmaxLossLayer": softmax_loss,
    "AccuracyLayer": accuracy,
    "ConcatLayer": concat,
    "ElementWiseLayer": element_wise,
    "SplitLayer": split,
    "ReshapeLayer": reshape,
    "ArgmaxLayer": argmax,
    "BatchNormLayer": batch_norm,
    "ScaleLayer": scale,
    "SliceLayer": slice_,
    "SquareLossLayer": euclidean_loss,
    "EuclideanLossLayer": euclidean_loss,
}
