"""Models in from, and out to, other frameworks: every registered format (kind "formats"),
with the experiment-file glue attached.

    from mocha.interop import onnx, caffe      # or mocha.interop.format("onnx")
    onnx.export_net(net, "net.onnx")
    caffe.write_experiment(caffe.convert("deploy.prototxt", "w.caffemodel"), "out/")

Each name is looked up in the registry when first used (`mocha.experiment.interchange.Format`).
"""

from __future__ import annotations

from typing import Any


def format(name: str) -> Any:
    """The registered format `name` (an `UnknownNameError` lists the known ones)."""
    from mocha.experiment.interchange import Format

    return Format(name)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return format(name)
