"""The ONNX format (the optional extra `onnx`: `pip install "mocha-dl[onnx]"`).

    onnx = mocha.interop.onnx                         # this format, through the registry
    onnx.export_net(net, "net.onnx")                  # the inference graph of a built net
    model = onnx.load("net.onnx")                     # layers + parameters of an ONNX graph
    onnx.write_experiment(model.conversion(), "converted/")   # experiment file + HDF5 model

`mocha export onnx` and `mocha convert onnx` are the command-line forms (built from the
options below). `onnx` is imported only when one of these runs. Each layer type is written by
its ONNX export rule and each op read by its import rule (`mocha.core.interchange`); the
built-ins' are `_export_layers.RULES` and the `RULES` of the `_import_*` modules (constant
folding first: `_import_fold`), registered below, and a layer package registers its own the
same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mocha.core.hookspecs import hookimpl
from mocha.core.interchange import Conversion, ExportRule, FormatOption, ImportRule
from mocha.plugins.formats.onnx._common import DEFAULT_OPSET, EXTRA, OnnxError

__all__ = ["EXTRA", "OnnxError", "OnnxFormat", "export_net", "load"]


def export_net(net: Any, path: Any = None, **options: Any) -> Any:
    """See `mocha.plugins.formats.onnx.export.export` (the package's `export` attribute is
    that module once it is imported, hence this name)."""
    from mocha.plugins.formats.onnx.export import export as run

    return run(net, path, **options)


def load(path: Any, **options: Any) -> Any:
    """See `mocha.plugins.formats.onnx.importer.load`."""
    from mocha.plugins.formats.onnx.importer import load as run

    return run(path, **options)


class OnnxFormat:
    """ONNX models in (`convert`) and out (`export`); see the module docstring."""

    name = "onnx"
    summary = "ONNX models (onnx, onnxruntime)"
    extra = "onnx"
    convert_options = (
        FormatOption("model", "The ONNX model to import.", Path, argument=True),
        FormatOption("name", "Experiment name (default: the graph's name)."),
    )
    export_options = (
        FormatOption("output", "The ONNX file to write.", Path, flag="--output/-o"),
        FormatOption("opset", f"ONNX opset version (>= {DEFAULT_OPSET}).", int, DEFAULT_OPSET),
        FormatOption(
            "batch", "'dynamic' (a symbolic batch axis) or a fixed batch size.", str, "dynamic"
        ),
        FormatOption(
            "input_shape",
            "TOP=D1,D2,... sample shape of a data top (when its data files are not at hand).",
            multiple=True,
        ),
        FormatOption(
            "blob", "Blob to output (default: the predictions).", multiple=True, flag="--blob"
        ),
    )

    OnnxError = OnnxError
    export_net = staticmethod(export_net)
    load = staticmethod(load)

    def convert(self, model: Path, name: str | None = None) -> Conversion:
        """An ONNX file as a `Conversion`."""
        return load(model, name=name).conversion()

    def export(
        self,
        source: Any,
        output: Path | None = None,
        opset: int = DEFAULT_OPSET,
        batch: str = "dynamic",
        input_shape: list[str] | None = None,
        blob: list[str] | None = None,
    ) -> list[Path]:
        """The experiment's inference net (its test net) with the model's weights."""
        from mocha.plugins.formats.onnx._common import require_onnx

        require_onnx()
        if output is None or source.model is None:
            raise OnnxError("mocha export onnx needs --model (the weights) and --output/-o FILE")
        with source.inference_net(input_shape or []) as net:
            export_net(net, output, opset=opset, batch=batch, outputs=blob or None)
        return [Path(output)]


@hookimpl
def mocha_register_formats(register: Any) -> None:
    register(OnnxFormat())


@hookimpl
def mocha_register_interchange(register: Any) -> None:
    from mocha.plugins.formats.onnx._export_layers import RULES as EXPORT_RULES
    from mocha.plugins.formats.onnx._import_norm import RULES as NORM_RULES
    from mocha.plugins.formats.onnx._import_ops import RULES as IMPORT_RULES
    from mocha.plugins.formats.onnx._import_pool import RULES as POOL_RULES
    from mocha.plugins.formats.onnx._import_tensor import RULES as TENSOR_RULES

    for layer, write in EXPORT_RULES.items():
        register(ExportRule("onnx", layer, write))
    for op, read in {**IMPORT_RULES, **POOL_RULES, **NORM_RULES, **TENSOR_RULES}.items():
        register(ImportRule("onnx", op, read))
