"""What the ONNX exporter and importer share: the lazy imports of `onnx`/`onnxruntime` (an
optional extra) and the error class."""

from __future__ import annotations

from typing import Any

from mocha.core.errors import MochaError

EXTRA = 'pip install "mocha-dl[onnx]"'
DEFAULT_OPSET = 17
MIN_OPSET = 17


class OnnxError(MochaError, ValueError):
    """A net cannot be written as ONNX, or an ONNX model cannot be read faithfully."""


def require_onnx() -> Any:
    """The `onnx` module, or an `OnnxError` naming the extra to install."""
    try:
        import onnx
    except ImportError:
        raise OnnxError(f"ONNX support needs the 'onnx' extra: {EXTRA}") from None
    return onnx


def require_onnxruntime() -> Any:
    """The `onnxruntime` module, or an `OnnxError` naming the extra to install."""
    try:
        import onnxruntime
    except ImportError:
        raise OnnxError(
            f"running ONNX models needs the 'onnx' extra (onnxruntime): {EXTRA}"
        ) from None
    return onnxruntime


def layer_label(layer: Any) -> str:
    """`TypeName('name')`, how errors name a layer."""
    return f"{type(layer).__name__}({layer.name!r})"
