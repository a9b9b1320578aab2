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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mocha.core.interchange import export_rule
from mocha.plugins.formats.caffe.reader import CaffeError

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


@dataclass
class ExportContext:
    """What a Caffe export rule sees besides its layer and its `LayerParameter` message:
    `net` (the NetParameter being written), the layer's `phase`, blob `shapes`, the model's
    `params` ((layer, param) -> array), and `tops`/`bottoms` in Caffe's names."""

    net: Any
    phase: str
    shapes: dict[str, tuple]
    params: dict
    tops: list[str]
    bottoms: list[str]
    ave_top: str | None = None


def _layer(
    net: Any,
    layer: Any,
    phase: str,
    shapes: dict[str, tuple],
    params: dict,
    real: Any = lambda b: b,
    ave_top: str | None = None,
) -> str | None:
    """Add `layer` to `net` through its Caffe export rule; returns a refusal text or None.
    `real` maps our blob names to Caffe's (through SplitLayers, which Caffe does not need);
    `ave_top` marks the mean pooling of an imported Caffe AVE pooling (see
    `_caffe_average_pools`) and gives its top."""
    write = export_rule("caffe", layer)
    if write is None:
        return f"{layer.name!r} ({type(layer).__name__})"
    tops = [ave_top] if ave_top else list(getattr(layer, "tops", ()))
    bottoms = [real(b) for b in getattr(layer, "bottoms", ())]
    msg = net.layer.add(name=layer.name, bottom=bottoms, top=tops)
    _phase(msg, phase)
    return write(ExportContext(net, phase, shapes, params, tops, bottoms, ave_top), layer, msg)


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


def export_net(source: Any, out_dir: str | os.PathLike) -> list[Path]:
    """Write `<out>/<name>.prototxt` and, when `source` has a model, the
    `<name>.caffemodel`. `source` is an `ExportSource` (`mocha.core.interchange`): the
    experiment's layer entries, the model's parameters and the built nets' blob shapes.
    Returns the written paths."""
    from google.protobuf import text_format

    from mocha.plugins.formats.caffe.schema import NetParameter

    params = source.params or {}
    shapes = source.shapes
    entries = source.entries
    net = NetParameter(name=source.name)
    alias = {
        top: e.layer.bottoms[0]
        for e in entries
        if type(e.layer).__name__ == "SplitLayer"
        for top in e.layer.tops
    }

    def real(blob: str) -> str:
        while blob in alias:
            blob = alias[blob]
        return blob

    skip, ave = _caffe_average_pools(entries, real)
    refused = [
        r
        for entry in entries
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
            f"{source.name}: {len(refused)} layer(s) have no exact Caffe "
            f"equivalent: {', '.join(refused)}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    proto = out / f"{source.name}.prototxt"
    definition = NetParameter()
    definition.CopyFrom(net)
    for layer in definition.layer:
        del layer.blobs[:]
    proto.write_text(text_format.MessageToString(definition), encoding="utf-8")
    written = [proto]
    if source.params is not None:
        weights = out / f"{source.name}.caffemodel"
        weights.write_bytes(net.SerializeToString())
        written.append(weights)
    return written
