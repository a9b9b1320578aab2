"""Caffe layers → our layers (experiment-file tables), with Caffe's semantics.

`convert_net(net, weights, options)` walks the Caffe layers in file order, keeping the shape
of every blob, and returns a `Conversion`: the `[[layers]]` tables, the parameters as
`<layer>___<param>` arrays, the side files (placeholder inputs, mean) and a line per mapped
layer. The per-type rules are in `rules.py`; what cannot be mapped exactly is refused, and all
unsupported layers of a file are reported in one error.

Blobs: Caffe's in-place layers (top == bottom) are handled by renaming. An activation
(ReLU, Sigmoid, TanH, Exp) becomes the neuron of the Convolution / InnerProduct / Pooling
that produced its bottom when nothing else reads the pre-activation value; otherwise it is a
1×1 max pooling carrying the neuron (with a reshape to 4-D and back for other ranks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mocha.core.interchange import import_rules
from mocha.plugins.formats.caffe.data import DataOptions
from mocha.plugins.formats.caffe.reader import CaffeError, CaffeLayer, CaffeNet

DATA_TYPES = ("Input", "Data", "ImageData", "HDF5Data", "MemoryData")
NEURON_HOSTS = ("ConvolutionLayer", "InnerProductLayer", "PoolingLayer")


@dataclass
class Conversion:
    """The result of mapping a Caffe net (see the module docstring)."""

    name: str
    layers: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    files: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    mapped: list[tuple[str, str, str]] = field(default_factory=list)  # caffe name, type, ours
    notes: list[str] = field(default_factory=list)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # our blob -> batch shape
    blobs: dict[str, str] = field(default_factory=dict)  # Caffe blob -> our final blob name

    model_file = None  # the HDF5 model is <name>.h5
    header = ""

    @property
    def document(self) -> dict[str, Any]:
        return self.experiment()

    @property
    def lines(self) -> list[str]:
        """The report of `mocha convert caffe`: a line per mapped layer, the notes, a sum."""
        width = max((len(n) for n, _, _ in self.mapped), default=0)
        lines = [f"  {n:<{width}}  {t:<16} → {ours}" for n, t, ours in self.mapped]
        lines += [f"  note: {note}" for note in self.notes]
        count = sum(int(v.size) for v in self.params.values())
        lines.append(
            f"{len(self.mapped)} Caffe layers mapped to {len(self.layers)} layers; "
            f"{len(self.params)} parameter arrays ({count:,} values)"
        )
        return lines

    def experiment(self) -> dict[str, Any]:
        """The experiment file's document (a dict as `tomllib` would return it)."""
        return {
            "name": self.name,
            "description": "converted from Caffe by `mocha convert caffe`",
            "backend": {"name": "default", "dtype": "float32", "seed": 0},
            "layers": self.layers,
            "solver": {"method": "SGD", "max_iter": 1000, "lr_policy": 0.001, "mom_policy": 0.9},
        }


class Builder:
    """The mapping state: tables so far, blob names and shapes, producers of blobs."""

    def __init__(self, net: CaffeNet, options: DataOptions, stem: str):
        self.net = net
        self.options = options
        self.out = Conversion(name=stem)
        self.current: dict[str, str] = {}  # caffe blob -> our blob (latest version)
        self.producer: dict[str, dict] = {}  # our blob -> table of its neuron host
        self.reads: dict[str, int] = {}  # our blob -> reads since written
        self.phase_of: dict[str, str] = {}  # our blob -> phase of its producer
        self.index = 0

    # -- blobs ------------------------------------------------------------------------
    def bottom(self, layer: CaffeLayer, name: str) -> str:
        if name not in self.current:
            raise CaffeError(
                f"layer {layer.name!r} ({layer.type}) reads blob {name!r}, which "
                f"no earlier layer produces"
            )
        ours = self.current[name]
        self.reads[ours] = self.reads.get(ours, 0) + 1
        return ours

    def shape(self, ours: str) -> tuple[int, ...]:
        return self.out.shapes[ours]

    def top(self, layer: CaffeLayer, name: str, shape: tuple[int, ...]) -> str:
        """Our name for a new version of Caffe blob `name` (fresh when in place)."""
        ours = name
        before = self.phase_of.get(self.current.get(name, name))
        other_phase = {before, layer.phase} == {"train", "test"}
        if (name in self.current or name in self.out.shapes) and not other_phase:
            ours = f"{name}/{layer.name}"
        self.current[name] = ours
        self.phase_of[ours] = layer.phase
        self.out.shapes[ours] = tuple(int(d) for d in shape)
        self.reads[ours] = 0
        return ours

    def read_later(self, name: str) -> bool:
        """Whether a layer after the current one reads Caffe blob `name`."""
        return any(name in later.bottoms for later in self.net.layers[self.index + 1 :])

    def add(self, layer: CaffeLayer, table: dict[str, Any], describe: str = "") -> dict:
        if layer.phase != "both":
            table["phase"] = layer.phase
        self.out.layers.append(table)
        if describe:
            self.out.mapped.append((layer.name, layer.type, describe))
        if table["type"] in NEURON_HOSTS and "neuron" not in table:
            for top in table.get("tops", []):
                self.producer[top] = table
        return table

    def unique(self, name: str) -> str:
        taken = {t["name"] for t in self.out.layers}
        candidate, i = name, 1
        while candidate in taken:
            i += 1
            candidate = f"{name}-{i}"
        return candidate

    # -- parameters -------------------------------------------------------------------
    def param(
        self,
        layer: CaffeLayer,
        ours: str,
        pname: str,
        blob: np.ndarray,
        want: tuple[int, ...],
        index: int,
    ) -> None:
        from mocha.core.io.model import similar_shape

        if not similar_shape(blob.shape, want):
            raise CaffeError(
                f"layer {layer.name!r} ({layer.type}): blob {index} has shape "
                f"{list(blob.shape)} but {pname!r} needs {list(want)} (size-1 "
                f"axes aside)"
            )
        self.out.params[f"{ours}___{pname}"] = np.ascontiguousarray(blob.reshape(want))

    # -- activations ------------------------------------------------------------------
    def neuron(self, layer: CaffeLayer, neuron: Any) -> None:
        """Apply `neuron` (a name or an inline table) to the layer's bottom (see module doc)."""
        src, dst = layer.bottoms[0], layer.tops[0]
        ours = self.bottom(layer, src)
        host = self.producer.get(ours)
        in_place = src == dst
        fusable = (
            host is not None
            and self.reads[ours] == 1
            and host.get("phase", "both") == (layer.phase if layer.phase != "both" else "both")
            and (in_place or not self.read_later(src))
        )
        if fusable:
            host["neuron"] = neuron
            del self.producer[ours]
            if not in_place:
                host["tops"] = [dst if t == ours else t for t in host["tops"]]
                shape = self.out.shapes.pop(ours)
                self.current.pop(src, None)
                self.top(layer, dst, shape)
            self.out.mapped.append((layer.name, layer.type, f"neuron of {host['name']}"))
            return
        shape = self.shape(ours)
        name = self.unique(layer.name)
        if len(shape) == 4:
            top = self.top(layer, dst, shape)
            self.add(
                layer,
                {
                    "type": "PoolingLayer",
                    "name": name,
                    "kernel": [1, 1],
                    "pooling": "Max",
                    "neuron": neuron,
                    "bottoms": [ours],
                    "tops": [top],
                },
                "PoolingLayer 1x1 carrying the neuron",
            )
            return
        n, features = shape[0], int(np.prod(shape[1:]))
        flat, pooled = f"{ours}/4d", f"{ours}/4d-{layer.name}"
        self.out.shapes[flat] = self.out.shapes[pooled] = (n, features, 1, 1)
        self.add(
            layer,
            {
                "type": "ReshapeLayer",
                "name": self.unique(f"{name}-to4d"),
                "shape": [features, 1, 1],
                "bottoms": [ours],
                "tops": [flat],
            },
        )
        self.add(
            layer,
            {
                "type": "PoolingLayer",
                "name": name,
                "kernel": [1, 1],
                "pooling": "Max",
                "neuron": neuron,
                "bottoms": [flat],
                "tops": [pooled],
            },
            "PoolingLayer 1x1 carrying the neuron (4-D view)",
        )
        top = self.top(layer, dst, shape)
        self.add(
            layer,
            {
                "type": "ReshapeLayer",
                "name": self.unique(f"{name}-back"),
                "shape": list(shape[1:]),
                "bottoms": [pooled],
                "tops": [top],
            },
        )


def convert_net(
    net: CaffeNet,
    weights: CaffeNet | None,
    options: DataOptions | None = None,
    stem: str | None = None,
    drop: tuple[str, ...] = (),
) -> Conversion:
    """Map every layer of `net` (see the module docstring); blobs from `weights` (matched by
    layer name, as Caffe's CopyTrainedLayersFrom) or else from `net` itself."""
    rules = import_rules("caffe")
    options = options or DataOptions()
    b = Builder(net, options, stem or net.name)
    unknown: dict[str, list[str]] = {}
    for layer in net.layers:
        if layer.type not in rules and layer.name not in drop:
            unknown.setdefault(layer.type, []).append(layer.name)
    if unknown:
        groups = [
            f"{kind} ×{len(names)} ({', '.join(map(repr, names[:3]))}"
            f"{', ...' if len(names) > 3 else ''})"
            for kind, names in sorted(unknown.items())
        ]
        count = sum(len(names) for names in unknown.values())
        raise CaffeError(
            f"{net.source}: {count} layer(s) of {len(unknown)} unsupported type(s): "
            f"{'; '.join(groups)}. Supported types: {', '.join(sorted(rules))}"
        )
    missing = [d for d in drop if d not in {layer.name for layer in net.layers}]
    if missing:
        raise CaffeError(f"{net.source}: no layer named {', '.join(map(repr, missing))} to drop")
    blobs = {layer.name: layer.blobs for layer in (weights or net).layers if layer.blobs}
    for i, layer in enumerate(net.layers):
        b.index = i
        if layer.name in drop:
            b.out.notes.append(f"{layer.name} ({layer.type}) left out (--drop)")
            continue
        if blobs.get(layer.name):
            layer.blobs = blobs[layer.name]
        try:
            rules[layer.type](b, layer)
        except CaffeError as exc:
            text = str(exc)
            if layer.name not in text:
                text = f"layer {layer.name!r} ({layer.type}): {text}"
            raise CaffeError(f"{net.source}: {text}") from None
    b.out.blobs = {k: v for k, v in b.current.items() if "//" not in k}
    insert_splits(b.out)
    return b.out


def insert_splits(out: Conversion) -> None:
    """Give each blob read by several back-propagating layers of the training net a
    SplitLayer (Caffe inserts its Split layers the same way; our nets ask for them)."""
    from mocha.core.registry import lookup

    def bp(table: dict) -> bool:
        cls = lookup("layers", table["type"])
        return bool(cls.can_do_bp) and not bool(cls.is_inplace)

    consumers: dict[str, list[dict]] = {}
    for table in out.layers:
        if table.get("phase", "both") in ("train", "both") and bp(table):
            for bottom in table.get("bottoms", []):
                consumers.setdefault(bottom, []).append(table)
    taken = {t["name"] for t in out.layers}
    for blob, readers in consumers.items():
        if len(readers) < 2:
            continue
        name, i = f"{blob}-split", 1
        while name in taken:
            i += 1
            name = f"{blob}-split{i}"
        taken.add(name)
        tops = [f"{blob}/split{j}" for j in range(len(readers))]
        for table, top in zip(readers, tops):
            table["bottoms"] = [top if b == blob else b for b in table["bottoms"]]
            out.shapes[top] = out.shapes.get(blob, ())
        phase = "both" if any(t.get("phase", "both") == "both" for t in readers) else "train"
        split = {"type": "SplitLayer", "name": name, "bottoms": [blob], "tops": tops}
        if phase != "both":
            split["phase"] = phase
        out.layers.insert(out.layers.index(readers[0]), split)
