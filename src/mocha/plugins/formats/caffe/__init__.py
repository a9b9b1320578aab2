"""Caffe models in and out, without Caffe: `.prototxt` and `.caffemodel` read and written
directly with the `protobuf` package (the `caffe` extra: `pip install "mocha-dl[caffe]"`).

    from mocha.interop import caffe                   # this format, through the registry
    conv = caffe.convert("deploy.prototxt", "weights.caffemodel", mean_value="104,117,123")
    layers = caffe.load_layers(conv, "test")          # our layers (the validation net's)
    net = Net("caffe", backend, layers); caffe.load_weights(conv, net)
    caffe.write_experiment(conv, "out/")              # out/<name>.toml and out/<name>.h5
    caffe.export_experiment("exp.toml", "out/", model="snapshots/")   # prototxt + caffemodel

`convert` reads both Caffe formats (current `layer` and old V1 `layers`) and maps every layer
with Caffe's semantics (`mapping.py`, `rules.py`, `data.py`); `export` writes our nets back
(`exporter.py`, one rule per layer type in `export_rules.py`). The rules are registered
below as interchange rules, so a layer package adds its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mocha.core.hookspecs import hookimpl
from mocha.core.interchange import ExportRule, FormatOption, ImportRule
from mocha.plugins.formats.caffe.reader import CaffeError

EXTRA_HINT = 'pip install "mocha-dl[caffe]"'


def require_protobuf() -> None:
    """Raise a CaffeError naming the extra when the protobuf package is missing."""
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        raise CaffeError(f"Caffe import/export needs the protobuf package: {EXTRA_HINT}") from None


def convert(
    net: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    *,
    mean_value: tuple[float, ...] | None = None,
    mean_file: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    channel_swap: bool | None = None,
    drop: tuple[str, ...] = (),
    name: str | None = None,
) -> Any:
    """Read a Caffe net (and weights) and map it: a `mapping.Conversion`."""
    require_protobuf()
    from mocha.plugins.formats.caffe.data import DataOptions
    from mocha.plugins.formats.caffe.mapping import convert_net
    from mocha.plugins.formats.caffe.reader import read_net

    caffe_net = read_net(net)
    caffe_weights = None
    if weights is not None:
        caffe_weights = read_net(weights, binary=True, weights_only=True)
    options = DataOptions(
        mean_value=mean_value,
        mean_file=mean_file,
        input_shape=input_shape,
        channel_swap=channel_swap,
        search=[os.path.dirname(os.path.abspath(os.fspath(net)))],
    )
    stem = name or _safe(caffe_net.name)
    return convert_net(caffe_net, caffe_weights, options, stem=stem, drop=tuple(drop))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "caffe"


def load_weights(conversion: Any, net: Any) -> list[str]:
    """Copy the converted weights into `net` (by layer name); returns the datasets used."""
    from mocha.core.components import NullInitializer
    from mocha.core.io.model import copy_into_parameter, dataset_name

    loaded = []
    for state in net.states:
        for param in state.parameters if state.layer.has_param else ():
            key = dataset_name(state.layer.name, param.name)
            if key in conversion.params:
                copy_into_parameter(net.backend, param, conversion.params[key], key)
                param.initializer = NullInitializer()
                loaded.append(key)
    return loaded


def export(source: Any, out: str | os.PathLike = ".") -> list[Path]:
    """Write an `ExportSource` as a Caffe prototxt (+ caffemodel); see `exporter.export_net`."""
    require_protobuf()
    from mocha.plugins.formats.caffe.exporter import export_net

    return export_net(source, out)


def _numbers(text: str | None, what: str, kind: type) -> tuple | None:
    if text is None:
        return None
    try:
        return tuple(kind(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise CaffeError(f"{what} {text!r}: give comma-separated numbers") from None


class CaffeFormat:
    """Caffe nets in (`.prototxt` + `.caffemodel`, current and V1) and out."""

    name = "caffe"
    summary = "Caffe nets and weights (.prototxt, .caffemodel; protobuf)"
    extra = "caffe"
    convert_options = (
        FormatOption("net", "Caffe net: .prototxt (or a .caffemodel).", Path, argument=True),
        FormatOption("weights", "Trained weights (.caffemodel).", Path, argument=True),
        FormatOption("name", "File name stem (default: the net's name)."),
        FormatOption(
            "mean_value",
            "Channel means, in the net's channel order (BGR for Caffe images), e.g. "
            "104,117,123; replaces transform_param's mean.",
        ),
        FormatOption("mean_file", "A Caffe .binaryproto mean file."),
        FormatOption("input_shape", "C,H,W of the images of a Data (LMDB) or ImageData layer."),
        FormatOption(
            "bgr",
            "Reorder RGB inputs to BGR (default: for colour ImageData/Data layers, as Caffe "
            "reads images with OpenCV).",
            bool,
            flag="--bgr/--no-bgr",
        ),
        FormatOption("drop", "Leave out this layer.", multiple=True),
    )
    export_options = (
        FormatOption("out", "Folder for the Caffe files.", Path, Path("."), flag="--out/-o"),
    )

    CaffeError = CaffeError
    load_weights = staticmethod(load_weights)

    def convert(
        self,
        net: Path,
        weights: Path | None = None,
        name: str | None = None,
        mean_value: str | tuple | None = None,
        mean_file: str | None = None,
        input_shape: str | tuple | None = None,
        bgr: bool | None = None,
        drop: list[str] | tuple = (),
        channel_swap: bool | None = None,
    ) -> Any:
        """A Caffe net (and weights) as a conversion (see `convert`); comma-separated
        strings are accepted for `mean_value` and `input_shape`; `bgr` is `channel_swap`."""
        if isinstance(mean_value, str):
            mean_value = _numbers(mean_value, "--mean-value", float)
        if isinstance(input_shape, str):
            input_shape = _numbers(input_shape, "--input-shape", int)
        return convert(
            net,
            weights,
            name=name,
            drop=tuple(drop or ()),
            mean_value=mean_value,
            mean_file=mean_file,
            channel_swap=bgr if channel_swap is None else channel_swap,
            input_shape=input_shape,
        )

    def export(self, source: Any, out: Path = Path(".")) -> list[Path]:
        return export(source, out)


@hookimpl
def mocha_register_formats(register: Any) -> None:
    register(CaffeFormat())


@hookimpl
def mocha_register_interchange(register: Any) -> None:
    from mocha.plugins.formats.caffe.export_rules import RULES as EXPORT_RULES
    from mocha.plugins.formats.caffe.rules import RULES as IMPORT_RULES

    for layer, write in EXPORT_RULES.items():
        register(ExportRule("caffe", layer, write))
    for kind, read in IMPORT_RULES.items():
        register(ImportRule("caffe", kind, read))


__all__ = ["CaffeError", "CaffeFormat", "convert", "export", "load_weights"]
