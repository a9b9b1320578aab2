"""Optional features and the extras that install them. Notes: docs/core.md."""

from __future__ import annotations

import importlib
from types import ModuleType

from mocha.core.errors import MochaError

# extra -> (module imported, distribution installed)
EXTRAS: dict[str, tuple[str, str]] = {
    "plot": ("matplotlib", "matplotlib"),
    "images": ("PIL", "Pillow"),
    "examples": ("sklearn", "scikit-learn"),
    "gpu": ("cupy", "cupy-cuda12x"),
    "onnx": ("onnx", "onnx"),
    "caffe": ("google.protobuf", "protobuf"),
    "mpi": ("mpi4py", "mpi4py"),
    "tensorboard": ("tensorboardX", "tensorboardX"),
}


class MissingExtraError(MochaError, ImportError):
    """An optional feature is used without the extra that installs what it needs."""


def install_hint(extra: str) -> str:
    """`pip install "mocha-dl[extra]"`."""
    return f'pip install "mocha-dl[{extra}]"'


def require(extra: str, feature: str, module: str | None = None) -> ModuleType:
    """The module that `feature` needs (by default the extra's own, e.g. matplotlib for
    "plot"), or a `MissingExtraError`: "<feature> needs the 'plot' extra (matplotlib is not
    installed): pip install "mocha-dl[plot]"". A module that exists but fails to import
    (e.g. a broken binary) is reported the same way, with its error."""
    name = module or EXTRAS[extra][0]
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        dist = EXTRAS.get(extra, (name, name))[1]
        missing = exc.name is None or exc.name.split(".")[0] == name.split(".")[0]
        why = f"{dist} is not installed" if missing else f"importing {name} failed: {exc}"
        raise MissingExtraError(
            f"{feature} needs the {extra!r} extra ({why}): {install_hint(extra)}"
        ) from None
