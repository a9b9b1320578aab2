"""`export(net, path)`: a net's inference graph as an ONNX model.

* Data layers become graph inputs, named after their tops, of shape `(batch, *sample)`; their
  data transformers (`SubMean`, `Scale`) become the first nodes, so the model takes the raw
  data the layer reads from its files. Tops nothing uses (labels) are left out.
* Loss, accuracy and output layers (sinks) are dropped; the graph outputs are the blobs no
  kept layer consumes, except blobs that only fed a dropped layer as its second or later
  bottom (labels, reconstruction targets). So a loss is "replaced by its prediction": the
  blob it scored is an output. `outputs=[...]` names them explicitly.
* In-place train-only layers (Dropout, RandomMask) are the identity at inference: left out.
* Every other layer is written by its registered ONNX export rule (`mocha.core.interchange`;
  the built-ins' are in `_export_layers`); a layer without an
  ONNX equivalent is one `OnnxError` naming it and its type. Node names are layer names
  (helper nodes are `<layer>/<step>`); parameters are initializers `<layer>___<param>`.
* Values are float32 whatever the backend's dtype; the batch axis is symbolic ("N") unless
  `batch` is an int; the model is checked with `onnx.checker` (full check) before it is saved.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from mocha.plugins.formats.onnx._common import (
    DEFAULT_OPSET,
    MIN_OPSET,
    OnnxError,
    layer_label,
    require_onnx,
)

INFERENCE_IDENTITY = ("DropoutLayer", "RandomMaskLayer")
BATCH_DIM = "N"


class GraphBuilder:
    """Collects nodes and initializers with unique names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.names: set[str] = set()
        self.node_names: set[str] = set()
        self.param_names: dict[int, str] = {}

    def fresh(self, base: str) -> str:
        """A tensor name not used yet, `base` when possible."""
        name, i = base, 1
        while name in self.names:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    def const(self, base: str, value: Any, dtype: Any = np.float32) -> str:
        """An initializer holding `value` (float32 unless `dtype`); returns its name."""
        name = self.fresh(base)
        array = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def param(self, layer_name: str, param: Any, backend: Any) -> str:
        """The initializer of a parameter (one per parameter blob, shared when tied)."""
        key = id(param.blob)
        if key not in self.param_names:
            host = np.asarray(backend.to_host(param.blob.data))
            self.param_names[key] = self.const(f"{layer_name}___{param.name}", host)
        return self.param_names[key]

    def node(
        self, op: str, inputs: Sequence[str], outputs: Sequence[str], name: str, **attrs: Any
    ) -> None:
        """Add a node; `name` is made unique (a layer's first node keeps the layer's name)."""
        unique, i = name, 1
        while unique in self.node_names:
            unique, i = f"{name}#{i}", i + 1
        self.node_names.add(unique)
        for out in outputs:
            self.names.add(out)
        self.nodes.append(
            self.onnx.helper.make_node(op, list(inputs), list(outputs), name=unique, **attrs)
        )


def _batch_dim(batch: int | str) -> int | str:
    if batch in ("dynamic", None):
        return BATCH_DIM
    if isinstance(batch, str) and batch.isdigit():
        batch = int(batch)
    if isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1:
        return batch
    raise OnnxError(f"ONNX export: batch must be 'dynamic' or an int >= 1, not {batch!r}")


def _value_info(onnx: Any, name: str, shape: Sequence[int], batch: int | str) -> Any:
    return onnx.helper.make_tensor_value_info(
        name, onnx.TensorProto.FLOAT, [batch, *[int(d) for d in shape[1:]]]
    )


def _transformer_nodes(
    g: GraphBuilder, layer: Any, state: Any, top: str, tensor: str, backend: Any
) -> str:
    """The data layer's transformers of `top` as nodes, in order; the transformed tensor."""
    for i, (name, transformer) in enumerate(getattr(layer, "transformers", ()) or ()):
        if name != top:
            continue
        kind = type(transformer).__name__
        where = f"{layer.name}/{top}/{kind.lower()}{i}"
        out = g.fresh(f"{top}/{kind.lower()}{i}")
        if kind == "SubMean":
            mean = getattr(transformer, "_mean", None)
            if mean is None:
                raise OnnxError(
                    f"{layer_label(layer)}: transformer SubMean of top {top!r} was never set up"
                )
            g.node("Sub", [tensor, g.const(f"{top}/mean", backend.to_host(mean))], [out], where)
        elif kind == "Scale":
            g.node("Mul", [tensor, g.const(f"{top}/scale", transformer.scale)], [out], where)
        else:
            raise OnnxError(
                f"{layer_label(layer)}: data transformer {kind} of top {top!r} "
                f"has no ONNX equivalent (known: SubMean, Scale); pass "
                f"transformers=False to export the net without it"
            )
        tensor = out
    return tensor


def _default_outputs(kept: list[Any], dropped: list[Any], inputs: set[str]) -> list[str]:
    consumed = {b for layer in kept for b in layer.bottoms}
    produced = [t for layer in kept for t in layer.tops]
    targets = {b for layer in dropped for b in layer.bottoms[1:]}
    firsts = {layer.bottoms[0] for layer in dropped if layer.bottoms}
    outs = [
        t
        for t in dict.fromkeys(produced)
        if t not in consumed and (t not in targets or t in firsts)
    ]
    return outs or [t for t in firsts if t in produced or t in inputs]


def build_model(
    net: Any,
    opset: int = DEFAULT_OPSET,
    batch: int | str = "dynamic",
    outputs: Sequence[str] | None = None,
    transformers: bool = True,
    graph_name: str | None = None,
) -> Any:
    """The checked `onnx.ModelProto` of `net`'s inference graph (see the module docstring)."""
    onnx = require_onnx()
    from mocha.core.interchange import export_rule
    from mocha.plugins.formats.onnx._export_layers import add_neuron

    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise OnnxError(f"ONNX export: opset must be an int >= {MIN_OPSET}, not {opset!r}")
    latest = onnx.defs.onnx_opset_version()
    if opset > latest:
        raise OnnxError(
            f"ONNX export: opset {opset} is newer than the installed onnx package knows ({latest})"
        )
    batch_dim = _batch_dim(batch)
    backend = net.backend
    g = GraphBuilder(onnx)
    needed = {
        b for layer in net.layers if not (layer.is_source or layer.is_sink) for b in layer.bottoms
    }
    tensors: dict[str, str] = {}
    shapes = {name: tuple(blob.shape) for name, blob in net.output_blobs.items()}
    graph_inputs = []
    kept, dropped = [], []
    for layer, state in zip(net.layers, net.states):
        if layer.is_source:
            for top in layer.tops:
                if top not in needed:
                    continue
                if not hasattr(layer, "batch_size"):
                    raise OnnxError(
                        f"{layer_label(layer)}: layer type {type(layer).__name__} "
                        f"has no ONNX equivalent (it generates its top {top!r})"
                    )
                g.names.add(top)
                graph_inputs.append(_value_info(onnx, top, shapes[top], batch_dim))
                tensors[top] = (
                    _transformer_nodes(g, layer, state, top, top, backend) if transformers else top
                )
            continue
        if layer.is_sink:
            dropped.append(layer)
            continue
        if layer.is_inplace:
            if type(layer).__name__ not in INFERENCE_IDENTITY:
                raise OnnxError(
                    f"{layer_label(layer)}: in-place layer type "
                    f"{type(layer).__name__} has no ONNX equivalent"
                )
            continue
        convert = export_rule("onnx", layer)
        if convert is None:
            raise OnnxError(
                f"{layer_label(layer)}: layer type {type(layer).__name__} has no "
                f"ONNX equivalent (no onnx export rule is registered for it, see docs/plugins.md); "
                f"export a net without it"
            )
        xs = [tensors[b] for b in layer.bottoms]
        neuron = getattr(layer, "neuron", None) if layer.has_neuron else None
        act = neuron is not None and not neuron.is_identity
        ys = [g.fresh(f"{t}/pre") if act else g.fresh(t) for t in layer.tops]
        convert(g, layer, state, xs, ys, shapes, backend)
        for top, y in zip(layer.tops, ys):
            tensors[top] = add_neuron(g, layer, neuron, y, g.fresh(top)) if act else y
        kept.append(layer)
    input_names = {vi.name for vi in graph_inputs}
    chosen = list(outputs) if outputs else _default_outputs(kept, dropped, input_names)
    graph_outputs = []
    for name in chosen:
        if name not in tensors:
            raise OnnxError(
                f"ONNX export: blob {name!r} is not computed by the inference "
                f"graph; blobs: {sorted(tensors)}"
            )
        tensor = tensors[name]
        if tensor != name:  # graph outputs carry the blob's name
            if name in input_names:
                raise OnnxError(f"ONNX export: output {name!r} is a graph input")
            g.node("Identity", [tensor], [name], f"{name}/output")
        graph_outputs.append(_value_info(onnx, name, shapes[name], batch_dim))
    if not graph_inputs or not graph_outputs:
        raise OnnxError(f"ONNX export: net {net.name!r} has no data input or no output to export")
    graph = onnx.helper.make_graph(
        g.nodes, graph_name or net.name, graph_inputs, graph_outputs, g.initializers
    )
    opset_ids = [onnx.helper.make_opsetid("", opset)]
    model = onnx.helper.make_model(
        graph,
        opset_imports=opset_ids,
        producer_name="mocha-dl",
        ir_version=onnx.helper.find_min_ir_version_for(opset_ids),
    )
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise OnnxError(
            f"ONNX export of net {net.name!r}: the model fails onnx.checker: {exc}"
        ) from None
    return model


def export(
    net: Any,
    path: str | os.PathLike | None = None,
    opset: int = DEFAULT_OPSET,
    batch: int | str = "dynamic",
    outputs: Sequence[str] | None = None,
    transformers: bool = True,
) -> Any:
    """Write `net`'s inference graph as an ONNX file at `path` (when given); returns the
    `onnx.ModelProto`. `batch`: "dynamic" (a symbolic batch axis) or a fixed int;
    `outputs`: the blobs to output (default: see the module docstring); `transformers`:
    include the data transformers as nodes."""
    model = build_model(net, opset=opset, batch=batch, outputs=outputs, transformers=transformers)
    if path is not None:
        onnx = require_onnx()
        folder = os.path.dirname(os.path.abspath(os.fspath(path)))
        os.makedirs(folder, exist_ok=True)
        onnx.save(model, os.fspath(path))
    return model
