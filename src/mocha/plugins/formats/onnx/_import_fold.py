"""Constant folding before import: the shape arithmetic and initializer plumbing exporters write.

PyTorch's exporters compute reshape targets in the graph (`Shape` → `Gather` → `Unsqueeze` →
`Concat` → `Reshape`), route initializers through `Identity` nodes (the TorchScript exporter
shares equal tensors that way) and write `Constant` nodes. `fold(model)` evaluates every
deterministic node whose inputs are all known — initializers, `Constant`s, and `Shape`s of
tensors whose shape inference gives static dims — and returns a model where those nodes are
gone and their outputs are initializers, so shape inference then sees constant reshape targets.

The batch axis of a `Shape` is usually symbolic: it is carried as the marker `BATCH` through
the ops that only move entries (`Gather`, `Concat`, `Unsqueeze`, `Squeeze`, `Slice`,
`Identity`, `Cast`); a `Reshape` target whose first entry is `BATCH` keeps the batch axis (the
entry becomes 0, "copy the input's dim"). A value holding `BATCH` anywhere else, or reaching
any other op, is not folded: its node stays and is refused by name if we cannot import it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BATCH = -(2**40)  # the symbolic batch size inside folded shape tensors
INT64 = 7  # onnx.TensorProto.INT64: the only Cast a BATCH entry survives
MOVERS = {"Gather", "Concat", "Unsqueeze", "Squeeze", "Slice", "Identity", "Cast"}
FOLDABLE = MOVERS | {
    "Constant", "Shape", "Size", "Reshape", "Transpose", "Add", "Sub", "Mul", "Div", "Neg",
    "Sqrt", "Range", "ConstantOfShape", "Expand", "Equal", "Where", "Floor", "Ceil", "Abs",
    "ReduceProd", "Min", "Max", "Split", "Flatten", "Not", "Less", "Greater",
}  # fmt: skip


def _cast_to(node: Any) -> int:
    return next((a.i for a in node.attribute if a.name == "to"), 0)


def _shape_of(shapes: dict[str, tuple[Any, ...]], name: str) -> np.ndarray | None:
    dims = shapes.get(name)
    if dims is None:
        return None
    out = []
    for i, d in enumerate(dims):
        if isinstance(d, int) and d > 0:
            out.append(d)
        elif i == 0:
            out.append(BATCH)
        else:
            return None
    return np.array(out, np.int64)


def _inferred_shapes(model: Any, onnx: Any) -> dict[str, tuple[Any, ...]]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # an inconsistent graph: refused later, node by node
        return {}
    shapes = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = tuple(
                d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                for d in t.shape.dim
            )
    return shapes


def _evaluate(onnx: Any, node: Any, values: list[np.ndarray], opset: int) -> list[np.ndarray]:
    """The outputs of one node on constant inputs, by ONNX's reference implementation."""
    from onnx.reference import ReferenceEvaluator

    helper = onnx.helper
    names = [f"in{i}" if n else "" for i, n in enumerate(node.input)]
    outs = [f"out{i}" for i in range(len(node.output))]
    clone = helper.make_node(node.op_type, names, outs, domain=node.domain)
    clone.attribute.extend(node.attribute)
    feeds = {n: v for n, v in zip(names, values) if n}
    graph = helper.make_graph(
        [clone],
        "fold",
        [helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for n, v in feeds.items()],
        [helper.make_value_info(o, onnx.TypeProto()) for o in outs],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return list(ReferenceEvaluator(model).run(None, feeds))


def _fold_node(
    onnx: Any, node: Any, known: dict[str, np.ndarray], shapes: dict, opset: int
) -> list[np.ndarray] | None:
    op = node.op_type
    if op == "Constant":
        attr = node.attribute[0]
        if attr.name == "value":
            return [onnx.numpy_helper.to_array(attr.t)]
        if attr.name not in ("value_float", "value_floats", "value_int", "value_ints"):
            return None  # sparse and string constants: left to the importer
        dtype = np.float32 if attr.name.startswith("value_float") else np.int64
        return [np.array(onnx.helper.get_attribute_value(attr), dtype)]
    if op == "Shape":
        dims = _shape_of(shapes, node.input[0])
        if dims is None:
            return None
        start = next((a.i for a in node.attribute if a.name == "start"), 0)
        end = next((a.i for a in node.attribute if a.name == "end"), None)
        return [dims[start:end]]
    if op == "Size":
        dims = _shape_of(shapes, node.input[0])
        return None if dims is None or BATCH in dims else [np.array(np.prod(dims), np.int64)]
    inputs = [n for n in node.input if n]
    if not inputs or not all(n in known for n in inputs):
        return None
    values = [known[n] if n else None for n in node.input]
    batch = any(v is not None and np.any(v == BATCH) for v in values)
    if batch and (op not in MOVERS or (op == "Cast" and _cast_to(node) != INT64)):
        return None
    if op == "Identity":
        return [known[node.input[0]]]
    try:
        return _evaluate(onnx, node, values, opset)
    except Exception:  # an op the reference cannot run here: left to the importer
        return None


def fold(model: Any, onnx: Any) -> Any:
    """A copy of `model` whose foldable nodes are initializers (see the module docstring).
    Passes repeat while one folds something: a reshape folded in one pass gives the shapes
    after it to the next (ShuffleNet's channel shuffles, one after another)."""
    while len((folded := _fold_once(model, onnx)).graph.node) < len(model.graph.node):
        model = folded
    return folded


def _fold_once(model: Any, onnx: Any) -> Any:
    graph = model.graph
    known = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    shapes = _inferred_shapes(model, onnx)
    outputs = {o.name for o in graph.output}
    nodes = list(graph.node)  # one wrapper per node: `kept` holds indices
    folded, producer, kept = {}, {}, set()
    for i, node in enumerate(nodes):
        result = None
        if node.op_type in FOLDABLE and node.domain in ("", "ai.onnx"):
            result = _fold_node(onnx, node, known, shapes, opset)
        if result is None or any(o in outputs for o in node.output):
            kept.add(i)
            continue
        for name, value in zip(node.output, result):
            known[name] = folded[name] = np.asarray(value)
            producer[name] = i
    if not folded:
        return model
    inputs = {i: list(nodes[i].input) for i in kept}
    for i in kept:  # a Reshape's target with the batch first: 0 copies the input's dim
        if nodes[i].op_type == "Reshape" and inputs[i][1] in folded:
            target = folded[inputs[i][1]]
            if target.ndim == 1 and target.size and target[0] == BATCH:
                name = f"{inputs[i][1]}/batch_kept"
                folded[name] = np.where(np.arange(target.size) == 0, 0, target)
                producer[name] = producer[inputs[i][1]]
                inputs[i][1] = name
    # a value still holding BATCH stays computed by its nodes (refused later if unsupported)
    needed = [n for i in kept for n in inputs[i] if n in folded]
    initializers = set()
    while needed:
        name = needed.pop()
        if name in initializers or producer[name] in kept:
            continue
        if np.any(folded[name] == BATCH):
            kept.add(producer[name])
            needed.extend(n for n in nodes[producer[name]].input if n in folded)
        else:
            initializers.add(name)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    for i, node in enumerate(nodes):
        if i in kept:
            copy = out.graph.node.add()
            copy.CopyFrom(node)
            if i in inputs:
                copy.input[:] = inputs[i]
    for name in sorted(initializers):
        out.graph.initializer.append(onnx.numpy_helper.from_array(folded[name], name))
    return out
