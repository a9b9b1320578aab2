"""`load(path)`: an ONNX graph as our layers and parameters; `ImportedModel.conversion()` is
the experiment file and the HDF5 model to write (`mocha summary/predict` read them).

Graph inputs become the tops of one MemoryDataLayer (`source = "inputs.h5"`, a zero sample
per input, so the file knows the sample shapes); `Sub`/`Mul` of a graph input by a constant
become its SubMean / Scale transformers. Each node becomes a layer named after the node (the
op and its index when it has no name); an activation that is the only consumer of a
Conv/Gemm/MatMul/pooling output becomes that layer's neuron, a `Flatten(axis=1)` feeding a
Gemm is folded into the inner product, an `Add` of a constant after `MatMul` is its bias,
and a `Cast` to float after `ArgMax` is dropped (our Argmax is float). Before the nodes are
read, `_import_fold.fold` turns everything that folds to a constant into initializers (shape
subgraphs, `Constant`, `Identity` of initializers). The ops and their exact conditions are in
the `_import_*` modules; anything else is an `OnnxError` naming the node.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mocha.core.interchange import Conversion, import_rules
from mocha.core.io.model import dataset_name
from mocha.plugins.formats.onnx._common import OnnxError, require_onnx
from mocha.plugins.formats.onnx._import_fold import fold
from mocha.plugins.formats.onnx._import_ops import NEURONS, f32


def _clean(name: str) -> str:
    """A layer or file name from a node name: `/features/0/Conv` -> `features.0.Conv` (a `/`
    would make a group in HDF5 dataset names)."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name.strip("/").replace("/", ".")).strip("_")


class ImportContext:
    """The graph being read: constants, shapes, producers/consumers, and the layers so far."""

    def __init__(self, model: Any, onnx: Any) -> None:
        self.onnx = onnx
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        self.consts = {t.name: onnx.numpy_helper.to_array(t) for t in self.graph.initializer}
        self.shapes: dict[str, tuple[Any, ...]] = {}
        inferred = onnx.shape_inference.infer_shapes(model)
        for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
            dims = vi.type.tensor_type.shape.dim
            self.shapes[vi.name] = tuple(
                d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims
            )
        self.producers: dict[str, Any] = {}
        self.users: dict[str, list[Any]] = {}
        for node in self.graph.node:
            for out in node.output:
                self.producers[out] = node
            for name in node.input:
                self.users.setdefault(name, []).append(node)
        self.outputs = [o.name for o in self.graph.output]
        self.inputs = [i.name for i in self.graph.input if i.name not in self.consts]
        self.fused: set[int] = set()
        self.alias: dict[str, str] = {}
        self.specs: list[dict[str, Any]] = []
        self.params: dict[str, dict[str, np.ndarray]] = {}
        self.transformers: dict[str, list[dict[str, Any]]] = {i: [] for i in self.inputs}
        self.layer_names: set[str] = set()

    # -- reading the graph -------------------------------------------------------------
    def refuse(self, node: Any, why: str) -> None:
        raise OnnxError(
            f"ONNX node {node.name or '(unnamed)'!r} ({node.op_type}): {why}; "
            f"it has no faithful equivalent here"
        )

    def attr(self, node: Any, name: str, default: Any = None) -> Any:
        for a in node.attribute:
            if a.name == name:
                value = self.onnx.helper.get_attribute_value(a)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def is_const(self, name: str) -> bool:
        return name in self.consts

    def const(self, name: str, what: str = "this input") -> np.ndarray:
        if name not in self.consts:
            node = self.producers.get(name)
            if node is not None and node.op_type == "Constant":
                self.consts[name] = self.onnx.numpy_helper.to_array(self.attr(node, "value"))
                self.fused.add(id(node))
                return self.consts[name]
            user = next(iter(self.users.get(name, [])), None)
            raise OnnxError(
                f"ONNX node {getattr(user, 'name', '?')!r} "
                f"({getattr(user, 'op_type', '?')}): {what} {name!r} is not a "
                f"constant (an initializer); it has no faithful equivalent here"
            )
        return self.consts[name]

    def shape(self, name: str) -> tuple[Any, ...]:
        name = self.alias.get(name, name)
        if name not in self.shapes:
            raise OnnxError(
                f"ONNX tensor {name!r}: its shape is unknown (shape inference found none)"
            )
        return self.shapes[name]

    def producer(self, name: str) -> Any:
        return self.producers.get(name)

    def consumers(self, name: str) -> list[Any]:
        return [n for n in self.users.get(name, []) if id(n) not in self.fused]

    def sole_consumer(self, name: str) -> Any:
        users = self.consumers(name)
        return users[0] if len(users) == 1 and name not in self.outputs else None

    def fuse(self, node: Any) -> None:
        self.fused.add(id(node))

    def neuron_of(self, node: Any) -> Any:
        if node.op_type == "LeakyRelu":
            if not np.isclose(self.attr(node, "alpha", 0.01), 0.01, rtol=1e-6, atol=0):
                self.refuse(node, f"alpha={self.attr(node, 'alpha')} (our LReLU has 0.01)")
            return "LReLU"
        if node.op_type == "Max":
            other = [i for i in node.input if self.is_const(i)]
            if len(node.input) != 2 or len(other) != 1 or self.const(other[0]).size != 1:
                self.refuse(node, "Max of anything but a tensor and a scalar constant")
            return {"type": "ReLU", "epsilon": f32(self.const(other[0]).reshape(()))}
        if node.op_type == "Clip":
            return self._clip(node)
        return NEURONS[node.op_type]

    def _clip(self, node: Any) -> Any:
        """Clip(min, max) (inputs since opset 11, attributes before): our Clip neuron, or
        ReLU for min 0 without max."""
        if self.opset < 11:
            low, high = self.attr(node, "min", None), self.attr(node, "max", None)
        else:
            ends = [*node.input[1:3], "", ""][:2]
            low, high = (f32(self.const(n, "the bound").reshape(())) if n else None for n in ends)
        if low is not None and high is None and low == 0:
            return "ReLU"
        low = float("-inf") if low is None else f32(low)
        high = float("inf") if high is None else f32(high)
        if not low <= high:
            self.refuse(node, f"min {low} > max {high}")
        return {"type": "Clip", "min": low, "max": high}

    # -- building ------------------------------------------------------------------------
    def blob(self, tensor: str) -> str:
        return self.alias.get(tensor, tensor)

    def add_layer(
        self,
        node: Any,
        kind: str,
        fields: dict[str, Any],
        bottoms: list[str],
        tops: list[str],
        params: dict[str, np.ndarray],
        neuron_ok: bool = False,
    ) -> None:
        top = tops[0]
        act = self.sole_consumer(top) if neuron_ok and len(tops) == 1 else None
        if act is not None and (
            act.op_type in NEURONS
            or act.op_type in ("LeakyRelu", "Clip")
            or (
                act.op_type == "Max"
                and len(act.input) == 2
                and any(self.is_const(i) for i in act.input)
            )
        ):
            fields = {**fields, "neuron": self.neuron_of(act)}
            self.fuse(act)
            tops = [act.output[0]]
        base = _clean(node.name) or f"{node.op_type.lower()}{len(self.specs) + 1}"
        name, i = base, 1
        while name in self.layer_names:
            name, i = f"{base}_{i}", i + 1
        self.layer_names.add(name)
        self.specs.append(
            {
                "type": kind,
                "name": name,
                **fields,
                "bottoms": [self.blob(b) for b in bottoms],
                "tops": list(tops),
            }
        )
        if params:
            self.params[name] = {
                k: np.ascontiguousarray(v, dtype=np.float32) for k, v in params.items()
            }

    def add_transformer(self, node: Any) -> bool:
        """Sub (mean) / Mul (scalar) of a graph input by a constant: a data transformer."""
        data = [i for i in node.input[:2] if not self.is_const(i)]
        if node.op_type not in ("Sub", "Mul") or len(data) != 1 or node.input[0] != data[0]:
            return False
        top = self.blob(data[0])
        if (
            top not in self.inputs
            or len(self.users.get(data[0], [])) != 1
            or data[0] in self.outputs
        ):
            return False
        value = self.const(node.input[1])
        sample = self.shapes[top][1:]
        if node.op_type == "Mul" and value.size == 1:
            self.transformers[top].append({"type": "Scale", "scale": f32(value.reshape(()))})
        elif node.op_type == "Sub" and value.shape in (sample, (1, *sample)):
            self.transformers[top].append({"type": "SubMean", "mean": value.reshape(sample)})
        else:
            return False
        self.alias[node.output[0]] = top
        return True


def build_layer(spec: dict[str, Any]) -> Any:
    """The Layer object of one layer table (the same values an experiment file would hold)."""
    from mocha.core.registry import lookup

    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items() if k != "type"}
    neuron = kwargs.get("neuron")
    if isinstance(neuron, str):
        kwargs["neuron"] = lookup("neurons", neuron)()
    elif isinstance(neuron, dict):
        args = {k: v for k, v in neuron.items() if k != "type"}
        kwargs["neuron"] = lookup("neurons", neuron["type"])(**args)
    return lookup("layers", spec["type"])(**kwargs)


@dataclass
class ImportedModel:
    """An imported ONNX graph: `inputs` (top → sample shape), `outputs` (blob names), the
    layer tables `specs`, `parameters` (layer → param → array) and the inputs' `transformers`."""

    name: str
    inputs: dict[str, tuple[int, ...]]
    outputs: list[str]
    specs: list[dict[str, Any]]
    parameters: dict[str, dict[str, np.ndarray]]
    transformers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def data_layer(self, data: Any = None, batch_size: int = 1) -> Any:
        """A MemoryDataLayer feeding `data` ({input: array} or one array; zeros if None)."""
        from mocha.core.registry import lookup
        from mocha.plugins.components.transformers import Scale, SubMean

        MemoryDataLayer = lookup("layers", "MemoryDataLayer")

        tops = list(self.inputs)
        if data is None:
            data = {t: np.zeros((batch_size, *s), np.float32) for t, s in self.inputs.items()}
        elif not isinstance(data, dict):
            data = {tops[0]: data}
        chain = tuple(
            (t, SubMean(mean_blob=tr["mean"]) if tr["type"] == "SubMean" else Scale(tr["scale"]))
            for t in tops
            for tr in self.transformers.get(t, [])
        )
        return MemoryDataLayer(
            name="data",
            tops=tops,
            batch_size=batch_size,
            data=[np.asarray(data[t], np.float32) for t in tops],
            transformers=chain,
        )

    def layers(self) -> list[Any]:
        """The computation layers (without a data layer)."""
        return [build_layer(spec) for spec in self.specs]

    def net(self, backend: Any, data: Any = None, batch_size: int = 1) -> Any:
        """A test-phase Net on `backend` with the imported parameters."""
        from mocha.core.components import NullInitializer
        from mocha.core.io.model import copy_into_parameter
        from mocha.core.net import Net

        net = Net(
            self.name, backend, [self.data_layer(data, batch_size), *self.layers()], phase="test"
        )
        net.init()
        for state in net.states:
            for p in state.parameters:
                copy_into_parameter(
                    backend,
                    p,
                    self.parameters[state.layer.name][p.name],
                    f"{self.name}:{state.layer.name}",
                )
                p.initializer = NullInitializer()
        return net

    def conversion(self, model_name: str | None = None) -> Conversion:
        """The imported graph as a `Conversion` (`mocha.interop.onnx.write_experiment`
        writes it: `<name>.toml`, the HDF5 model, `inputs.h5` and the mean files)."""
        stem = _clean(self.name) or "model"
        model_name = model_name or "model.h5"
        files = {"inputs.h5": {t: np.zeros((1, *s), np.float32) for t, s in self.inputs.items()}}
        chain = []
        for top, items in self.transformers.items():
            for j, tr in enumerate(items):
                if tr["type"] == "Scale":
                    chain.append({"top": top, "type": "Scale", "scale": tr["scale"]})
                    continue
                mean_name = f"mean-{_clean(top) or 'input'}-{j}.h5"
                files[mean_name] = {"mean": np.asarray(tr["mean"], np.float32)}
                chain.append({"top": top, "type": "SubMean", "mean_file": mean_name})
        data = {
            "type": "MemoryDataLayer",
            "name": "data",
            "source": "inputs.h5",
            "tops": list(self.inputs),
            "batch_size": 1,
            "placeholder": True,
        }
        if chain:
            data["transformers"] = chain
        params = {
            dataset_name(layer, pname): value
            for layer, ps in self.parameters.items()
            for pname, value in ps.items()
        }
        return Conversion(
            name=stem,
            document={"name": self.name, "layers": [data, *self.specs]},
            params=params,
            files=files,
            model_file=model_name,
            header=f"Converted from ONNX by `mocha convert onnx`; parameters in {model_name}.\n"
            f"mocha predict {stem}.toml INPUT.npy --model {model_name}\n"
            f"To train on, point the data layer at your data (source = a .npz/.h5 file "
            f"with the\ninput and label arrays; add the label top, drop `placeholder`), add "
            f"a loss layer and a [solver] table\n(docs/experiment-files.md).",
        )


def load(path: str | os.PathLike | Any, name: str | None = None) -> ImportedModel:
    """Read an ONNX model (a path or an `onnx.ModelProto`) as an `ImportedModel`."""
    onnx = require_onnx()
    if isinstance(path, onnx.ModelProto):
        model, stem = path, "model"
    else:
        if not os.path.isfile(path):
            raise OnnxError(f"ONNX model file {os.fspath(path)!r} does not exist")
        try:
            model = onnx.load(os.fspath(path))
        except Exception as exc:  # protobuf's DecodeError and friends
            raise OnnxError(f"cannot read {os.fspath(path)!r} as an ONNX model: {exc}") from None
        stem = Path(path).stem
    for node in model.graph.node:  # exporters list domains they do not use: only nodes count
        if node.domain not in ("", "ai.onnx"):
            raise OnnxError(
                f"ONNX node {node.name or '(unnamed)'!r} ({node.op_type}) uses operator "
                f"domain {node.domain!r}; only the default domain is supported"
            )
    ctx = ImportContext(fold(model, onnx), onnx)
    inputs = {}
    for top in ctx.inputs:
        shape = ctx.shapes.get(top, ())
        if len(shape) < 2 or not all(isinstance(d, int) and d > 0 for d in shape[1:]):
            raise OnnxError(
                f"ONNX graph input {top!r} has shape {list(shape)}; a batch axis "
                f"and a static sample shape are needed"
            )
        inputs[top] = tuple(shape[1:])
    rules = import_rules("onnx")
    for node in ctx.graph.node:
        if id(node) in ctx.fused or node.op_type == "Constant":
            continue
        convert = rules.get(node.op_type)
        if convert is None:
            ctx.refuse(
                node,
                f"op {node.op_type} is not supported (supported: {', '.join(sorted(rules))})",
            )
        if node.domain not in ("", "ai.onnx"):
            ctx.refuse(node, f"domain {node.domain!r}")
        convert(ctx, node)
    outputs = [ctx.blob(o) for o in ctx.outputs]
    return ImportedModel(
        name=name or _clean(model.graph.name) or stem,
        inputs=inputs,
        outputs=outputs,
        specs=ctx.specs,
        parameters=ctx.params,
        transformers={k: v for k, v in ctx.transformers.items() if v},
    )
