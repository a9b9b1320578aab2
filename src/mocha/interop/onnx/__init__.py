"""ONNX out and in (the optional extra `onnx`: `pip install "mocha-dl[onnx]"`).

    mocha.interop.onnx.export(net, "net.onnx")        # the inference graph of a built net
    model = mocha.interop.onnx.load("net.onnx")        # layers + parameters of an ONNX graph
    model.save("converted/")                           # experiment file + HDF5 model

`mocha export onnx` and `mocha convert onnx` are the command-line forms. `onnx` is imported
only when one of these runs.
"""

from __future__ import annotations

from typing import Any

from mocha.interop.onnx._common import EXTRA, OnnxError

__all__ = ["EXTRA", "OnnxError", "export", "load"]


def export(net: Any, path: Any = None, **options: Any) -> Any:
    """See `mocha.interop.onnx.export.export`."""
    from mocha.interop.onnx.export import export as run

    return run(net, path, **options)


def load(path: Any, **options: Any) -> Any:
    """See `mocha.interop.onnx.importer.load`."""
    from mocha.interop.onnx.importer import load as run

    return run(path, **options)
