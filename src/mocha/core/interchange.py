"""Interchange: the contract of a format plugin (Caffe, ONNX, ...) and of per-layer rules.
Notes: docs/core.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mocha.core import registry


@dataclass(frozen=True)
class FormatOption:
    """One option of `mocha convert/export NAME`: `--name` (`flag` spells it otherwise, e.g.
    "--bgr/--no-bgr"), a positional `argument`, repeatable when `multiple`."""

    name: str
    help: str
    type: type = str
    default: Any = None
    argument: bool = False
    multiple: bool = False
    flag: str | None = None


@dataclass
class Conversion:
    """A foreign model as an experiment: `document` (the experiment file's tables, `layers`
    included), `params` (model datasets "<layer>___<param>" -> array), `files` (side HDF5
    files: name -> datasets), `header` (a comment for the file) and `lines` (the report)."""

    name: str
    document: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_file: str | None = None  # the HDF5 model's file name (default "<name>.h5")
    header: str = ""
    lines: list[str] = field(default_factory=list)


class ExportSource(Protocol):
    """What a format's `export` reads (built by `mocha.experiment.interchange`)."""

    name: str
    model: str | None  # the model file or snapshot given (a folder resolved); None without one
    entries: list[Any]  # the experiment's layer entries (`.layer`, `.phase`)
    params: dict[tuple[str, str], Any] | None  # (layer, param) -> array; None without --model
    shapes: dict[str, tuple[int, ...]]  # blob -> shape in the built nets

    def inference_net(self, input_shapes: dict | list[str]) -> Any:
        """A context manager giving the test net on zero samples, with the model loaded
        (`input_shapes`: {top: sample shape} or `--input-shape` strings "TOP=C,H,W")."""


@dataclass(frozen=True)
class ExportRule:
    """How `layer` (a Layer class, or its class name for built-ins) is written in `format`."""

    format: str
    layer: type | str
    write: Callable[..., Any]

    @property
    def registry_name(self) -> str:
        name = self.layer if isinstance(self.layer, str) else self.layer.__name__
        return f"{self.format}.export.{name}"


@dataclass(frozen=True)
class ImportRule:
    """How the foreign op or layer type `op` of `format` is read."""

    format: str
    op: str
    read: Callable[..., Any]

    @property
    def registry_name(self) -> str:
        return f"{self.format}.import.{self.op}"


def export_rule(format: str, layer: Any) -> Callable[..., Any] | None:
    """The `write` of the rule for `layer`'s class (exactly: a subclass may compute something
    else, so it needs its own rule); None if there is none."""
    table = registry.get_registry().tables.get("interchange", {})
    entry = table.get(f"{format}.export.{type(layer).__name__}")
    return None if entry is None else entry.obj.write


def import_rules(format: str) -> dict[str, Callable[..., Any]]:
    """op -> `read` of every import rule of `format`."""
    prefix = f"{format}.import."
    table = registry.get_registry().tables.get("interchange", {})
    return {k[len(prefix) :]: e.obj.read for k, e in table.items() if k.startswith(prefix)}
