"""Our nets out to Caffe: an experiment file (+ an HDF5 model) as `<name>.prototxt` and
`<name>.caffemodel` (current format: `layer`, string types, `shape.dim`), which
`mocha convert caffe` reads back to the same layers and weights.

Data layers become `Input` (MemoryDataLayer: its batch shape) or `HDF5Data`; a layer's neuron
becomes an in-place activation layer after it; phases become `include { phase: ... }`. A layer
with no Caffe equivalent (or settings Caffe would compute differently) is refused, all of them
in one error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mocha.interop.caffe.reader import CaffeError

NEURONS = {
    "ReLU": "ReLU",
    "LReLU": "ReLU",
    "Sigmoid": "Sigmoid",
    "Tanh": "TanH",
    "Exponential": "Exp",
}


def _blob(msg: Any, array: np.ndarray) -> None:
    blob = msg.blobs.add()
    blob.shape.dim.extend(int(d) for d in array.shape)
    if array.dtype == np.float64:
        blob.double_data.extend(array.ravel().tolist())
    else:
        blob.data.extend(np.asarray(array, dtype=np.float32).ravel().tolist())


def _neuron(net: Any, layer: Any, top: str, phase: str) -> str | None:
    kind = type(layer.neuron).__name__
    if kind == "Identity":
        return None
    if kind not in NEURONS or (kind == "ReLU" and layer.neuron.epsilon != 0):
        return f"{layer.name!r} (neuron {layer.neuron!r})"
    msg = net.layer.add(
        name=f"{layer.name}-{kind.lower()}", type=NEURONS[kind], bottom=[top], top=[top]
    )
    if kind == "LReLU":
        msg.relu_param.negative_slope = 0.01
    _phase(msg, phase)
    return None


def _params(msg: Any, layer: Any, names: tuple[str, str]) -> str | None:
    """`param { lr_mult decay_mult }` for the two blobs (see rules._decay); a refusal text
    for regularizers Caffe has no equivalent of."""
    for name in names:
        regu = getattr(layer, f"{name}_regu")
        kind = type(regu).__name__
        if kind not in ("L2Regu", "NoRegu"):
            return f"{layer.name!r} ({name}_regu {regu!r}: Caffe's weight decay is L2)"
        msg.param.add(
            lr_mult=getattr(layer, f"{name}_lr"),
            decay_mult=2 * regu.coefficient if kind == "L2Regu" else 0.0,
        )
    return None


def _phase(msg: Any, phase: str) -> None:
    if phase != "both":
        msg.include.add(phase=0 if phase == "train" else 1)


def _layer(
    net: Any,
    layer: Any,
    phase: str,
    shapes: dict[str, tuple],
    params: dict,
    real: Any = lambda b: b,
    ave_top: str | None = None,
) -> str | None:
    """Add `layer` to `net`; returns a refusal text or None. `real` maps our blob names to
    Caffe's (through SplitLayers, which Caffe does not need); `ave_top` marks the mean pooling
    of an imported Caffe AVE pooling (see `_caffe_average_pools`) and gives its top."""
    kind = type(layer).__name__
    tops = [ave_top] if ave_top else list(getattr(layer, "tops", ()))
    bottoms = [real(b) for b in getattr(layer, "bottoms", ())]
    msg = net.layer.add(name=layer.name, bottom=bottoms, top=tops)
    _phase(msg, phase)
    if kind == "MemoryDataLayer":
        if layer.transformers:
            return f"{layer.name!r} (MemoryDataLayer with transformers)"
        msg.type = "Input"
        for top in tops:
            msg.input_param.shape.add(dim=[int(d) for d in shapes[top]])
    elif kind in ("HDF5DataLayer", "AsyncHDF5DataLayer"):
        if layer.transformers:
            return f"{layer.name!r} ({kind} with transformers)"
        msg.type = "HDF5Data"
        msg.hdf5_data_param.source = os.fspath(layer.source)
        msg.hdf5_data_param.batch_size = layer.batch_size
        msg.hdf5_data_param.shuffle = bool(layer.shuffle)
    elif kind == "ConvolutionLayer":
        msg.type = "Convolution"
        p = msg.convolution_param
        p.num_output, p.group = layer.n_filter, layer.n_group
        (p.kernel_h, p.kernel_w), (p.stride_h, p.stride_w) = layer.kernel, layer.stride
        p.pad_h, p.pad_w = layer.pad
        refused = _params(msg, layer, ("filter", "bias"))
        if refused:
            return refused
        for pname in ("filter", "bias"):
            if (layer.name, pname) in params:
                _blob(msg, params[layer.name, pname])
        return _neuron(net, layer, tops[0], phase)
    elif kind == "InnerProductLayer":
        msg.type = "InnerProduct"
        msg.inner_product_param.num_output = layer.output_dim
        refused = _params(msg, layer, ("weight", "bias"))
        if refused:
            return refused
        for pname in ("weight", "bias"):
            if (layer.name, pname) in params:
                _blob(msg, params[layer.name, pname])
        return _neuron(net, layer, tops[0], phase)
    elif kind == "PoolingLayer":
        msg.type = "Pooling"
        p = msg.pooling_param
        mean = type(layer.pooling).__name__ == "MeanPooling"
        p.pool = 1 if mean else 0
        h, w = shapes[layer.bottoms[0]][2:]
        oh, ow = shapes[layer.tops[0]][2:]
        kernel = (h, w) if layer.global_pooling else layer.kernel
        (p.kernel_h, p.kernel_w), (p.stride_h, p.stride_w) = kernel, layer.stride
        p.pad_h, p.pad_w = layer.pad
        geometry = list(zip((oh, ow), layer.stride, layer.pad, kernel, (h, w)))
        if not layer.ceil_mode and any(  # Caffe always rounds up (and drops a last window
            # starting in the end padding, when there is padding)
            o != _caffe_pooled(size, k, q, s, layer.pad != (0, 0))
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
        if mean and divisor is None and not ave_top and overhang:
            return (
                f"{layer.name!r} (mean pooling whose last window overhangs the padded "
                f"input: Caffe's AVE divides there by a smaller count)"
            )
        return _neuron(net, layer, tops[0], phase)
    elif kind == "LRNLayer":
        msg.type = "LRN"
        p = msg.lrn_param
        within = type(layer.mode).__name__ == "WithinChannel"
        if within and layer.shift != 1:
            return f"{layer.name!r} (WithinChannel LRN with shift {layer.shift}; Caffe's is 1)"
        if layer.kernel % 2 == 0 or layer.channel_dim not in (1, -3):
            return f"{layer.name!r} (LRN kernel {layer.kernel} / channel_dim {layer.channel_dim})"
        p.local_size, p.alpha, p.beta, p.k = layer.kernel, layer.scale, layer.power, layer.shift
        p.norm_region = 1 if within else 0
    elif kind == "PowerLayer":
        msg.type = "Power"
        p = msg.power_param
        p.power, p.scale, p.shift = layer.power, layer.scale, layer.shift
    elif kind == "DropoutLayer":
        if not layer.auto_scale:
            return f"{layer.name!r} (DropoutLayer without auto_scale)"
        msg.type = "Dropout"
        msg.top.extend(bottoms)
        msg.dropout_param.dropout_ratio = layer.ratio
    elif kind == "SoftmaxLayer":
        msg.type = "Softmax"
        msg.softmax_param.axis = layer.dim
    elif kind in ("SoftmaxLossLayer", "AccuracyLayer"):
        if kind == "SoftmaxLossLayer" and (layer.weights or layer.normalize != "local"):
            return f"{layer.name!r} (SoftmaxLossLayer with class weights / normalize)"
        msg.type = "SoftmaxWithLoss" if kind == "SoftmaxLossLayer" else "Accuracy"
        msg.top.append(layer.name)
        if kind == "SoftmaxLossLayer":
            msg.softmax_param.axis = layer.dim
            if layer.weight != 1:
                msg.loss_weight.append(layer.weight)
        else:
            msg.accuracy_param.axis = layer.dim
    elif kind == "ConcatLayer":
        msg.type = "Concat"
        msg.concat_param.axis = layer.dim
    elif kind == "ElementWiseLayer":
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
    elif kind == "SplitLayer":
        msg.type = "Split"
    elif kind == "ReshapeLayer":
        if len(bottoms) != 1:
            return f"{layer.name!r} (ReshapeLayer with {len(bottoms)} bottoms)"
        msg.type = "Reshape"
        msg.reshape_param.shape.dim.extend([0, *layer.shape])
    elif kind == "ArgmaxLayer":
        msg.type = "ArgMax"
        msg.argmax_param.axis = layer.dim
    else:
        return f"{layer.name!r} ({kind})"
    return None


def _caffe_pooled(size: int, kernel: int, pad: int, stride: int, any_pad: bool) -> int:
    """Caffe's pooled length: ceil((size + 2·pad − kernel)/stride) + 1, minus one when there is
    padding and the last window would start at or beyond size + pad."""
    out = -(-(size + 2 * pad - kernel) // stride) + 1
    if any_pad and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _caffe_average_pools(entries: list, real: Any) -> tuple[set[str], dict[str, str]]:
    """Find what the importer makes of a Caffe AVE pooling whose windows overhang:
    Divide(MeanPool(x), MeanPool(Power(x; power 0))). Returns the helper layers to skip and,
    for each such mean pooling, the Divide's top (the Caffe AVE pooling's top)."""
    producer = {top: e.layer for e in entries for top in getattr(e.layer, "tops", ())}
    skip: set[str] = set()
    ave: dict[str, str] = {}

    def mean_pool(layer: Any) -> bool:
        return (
            type(layer).__name__ == "PoolingLayer"
            and tuple(layer.pad) == (0, 0)
            and type(layer.pooling).__name__ == "MeanPooling"
            and type(layer.neuron).__name__ == "Identity"
        )

    for e in entries:
        div = e.layer
        if type(div).__name__ != "ElementWiseLayer" or type(div.operation).__name__ != "Divide":
            continue
        total, count = (producer.get(b) for b in div.bottoms)
        if not (
            total is not None
            and count is not None
            and mean_pool(total)
            and mean_pool(count)
            and (total.kernel, total.stride) == (count.kernel, count.stride)
        ):
            continue
        ones = producer.get(count.bottoms[0])
        if (
            type(ones).__name__ == "PowerLayer"
            and ones.power == 0
            and ones.scale == 0
            and real(ones.bottoms[0]) == real(total.bottoms[0])
        ):
            skip |= {count.name, ones.name, div.name}
            ave[total.name] = div.tops[0]
    return skip, ave


def export_net(
    experiment: str | os.PathLike,
    out_dir: str | os.PathLike,
    model: str | os.PathLike | None = None,
) -> list[Path]:
    """Write `<out>/<name>.prototxt` and, with `model` (an HDF5 model file or snapshot), the
    `<name>.caffemodel`. Returns the written paths."""
    from google.protobuf import text_format

    from mocha.core.backend_registry import make_backend
    from mocha.core.io.model import SEPARATOR, open_model
    from mocha.experiment import load_experiment
    from mocha.experiment.build import build_nets
    from mocha.interop.caffe.schema import NetParameter

    exp = load_experiment(experiment)
    params: dict[tuple[str, str], np.ndarray] = {}
    if model is not None:
        with open_model(model) as f:
            for key in f:
                if SEPARATOR in key and hasattr(f[key], "shape"):
                    lname, pname = key.rsplit(SEPARATOR, 1)
                    params[lname, pname] = np.asarray(f[key][()])
    backend = make_backend("numpy")
    backend.init()
    shapes: dict[str, tuple] = {}
    try:
        nets = build_nets(exp, backend)
        for n in nets:
            if n is not None:
                shapes.update({k: tuple(v.shape) for k, v in n.output_blobs.items()})
                n.shutdown()
    finally:
        backend.shutdown()
    net = NetParameter(name=exp.name)
    alias = {
        top: e.layer.bottoms[0]
        for e in exp.layers
        if type(e.layer).__name__ == "SplitLayer"
        for top in e.layer.tops
    }

    def real(blob: str) -> str:
        while blob in alias:
            blob = alias[blob]
        return blob

    skip, ave = _caffe_average_pools(exp.layers, real)
    refused = [
        r
        for entry in exp.layers
        if entry.layer.name not in skip
        and type(entry.layer).__name__ != "SplitLayer"
        and (
            r := _layer(
                net, entry.layer, entry.phase, shapes, params, real, ave.get(entry.layer.name)
            )
        )
        is not None
    ]
    if refused:
        raise CaffeError(
            f"{experiment}: {len(refused)} layer(s) have no exact Caffe "
            f"equivalent: {', '.join(refused)}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    proto = out / f"{exp.name}.prototxt"
    definition = NetParameter()
    definition.CopyFrom(net)
    for layer in definition.layer:
        del layer.blobs[:]
    proto.write_text(text_format.MessageToString(definition), encoding="utf-8")
    written = [proto]
    if model is not None:
        weights = out / f"{exp.name}.caffemodel"
        weights.write_bytes(net.SerializeToString())
        written.append(weights)
    return written
