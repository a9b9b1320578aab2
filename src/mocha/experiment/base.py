"""The parsed form of an experiment file and the helpers every part of the parser shares."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mocha.core.errors import MochaError, UnknownNameError
from mocha.core.layer import Layer
from mocha.core.registry import lookup

# keys whose string values are file-system paths, resolved against the experiment's folder
PATH_KEYS = frozenset(
    {
        "source",
        "load_from",
        "save_into",
        "dir",
        "directory",
        "path",
        "mean_file",
        "filename",
        "folder",
        "logdir",
    }
)


class ExperimentError(MochaError):
    """An experiment file is malformed, names an unknown thing or configures it badly."""


@dataclass
class LayerEntry:
    """One `[[layers]]` table: the layer object and the nets it belongs to."""

    layer: Layer
    phase: str = "both"  # "train", "test" or "both"
    index: int = 0
    placeholder: bool = False  # a converted model's stand-in input (`mocha run` refuses it)
    source: str = ""  # a MemoryDataLayer's `source` (and split): where its arrays came from


@dataclass
class Experiment:
    """A parsed and validated experiment file."""

    path: Path
    name: str
    backend: dict[str, Any] = field(default_factory=dict)
    layers: list[LayerEntry] = field(default_factory=list)
    solver: dict[str, Any] = field(default_factory=dict)
    solver_given: bool = False  # whether the file has a [solver] table
    coffee_breaks: list[dict[str, Any]] = field(default_factory=list)
    lounge: dict[str, Any] = field(default_factory=dict)
    identity: str = ""  # what snapshots record as the experiment that wrote them (loader)
    init: dict[str, Any] | None = None  # [init]: weights to start from (finetune.py)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def resolve(self, value: str) -> str:
        """A path from the file, made absolute against the experiment's folder."""
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (self.folder / p))

    def layers_for(self, phase: str) -> list[Layer]:
        """The layers of the "train" or "test" net, in file order."""
        return [e.layer for e in self.layers if e.phase in (phase, "both")]

    @property
    def has_test_net(self) -> bool:
        return any(e.phase == "test" for e in self.layers)

    def refuse_placeholders(self, phase: str, data: str) -> None:
        """An `ExperimentError` when a data layer of the `phase` net reads a conversion's
        stand-in zeros (`placeholder = true`): `data` says what it should read instead."""
        stand_ins = [e.layer for e in self.layers if e.placeholder and e.phase in (phase, "both")]
        if stand_ins:
            names = ", ".join(f"{type(x).__name__}({x.name!r})" for x in stand_ins)
            raise ExperimentError(
                f"{self.path.name}: {names} reads placeholder zeros written by `mocha convert` "
                f"(placeholder = true), not {data}. Point its `source` at real data (an "
                f".h5/.npz file or an HDF5 list file with the input and label arrays; add the "
                f"label top and a loss layer) and delete the `placeholder = true` line."
            )


def check_keys(table: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    """Refuse keys of `table` that are not `known`, naming the closest known key."""
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ExperimentError(
                f"{where}: unknown key {key!r}{hint}; known keys: {', '.join(known)}"
            )


def lookup_named(kind: str, name: Any, where: str) -> Any:
    """The registry entry `name` of `kind`; an `ExperimentError` listing close names if none."""
    if not isinstance(name, str):
        raise ExperimentError(f"{where}: 'type' must be a string naming a {kind} entry")
    try:
        return lookup(kind, name)
    except UnknownNameError as exc:
        raise ExperimentError(f"{where}: {exc}") from None


def as_tuples(value: Any) -> Any:
    """TOML arrays (lists, nested too) as tuples; other values unchanged."""
    if isinstance(value, list):
        return tuple(as_tuples(v) for v in value)
    return value


def split_spec(value: str | dict, where: str) -> tuple[str, dict[str, Any]]:
    """("Name", {}) for "Name"; ("Name", arguments) for {type = "Name", arguments...}."""
    if isinstance(value, str):
        return value, {}
    if "type" not in value:
        raise ExperimentError(f"{where}: an inline table needs 'type', e.g. {{type = \"ReLU\"}}")
    rest = {k: as_tuples(v) for k, v in value.items() if k != "type"}
    return value["type"], rest


def _annotations(cls: Any) -> dict[str, str]:
    if dataclasses.is_dataclass(cls):
        return {f.name: str(f.type) for f in dataclasses.fields(cls)}
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: str(p.annotation) for p in params if p.annotation is not p.empty}


def check_value_types(cls: Any, values: dict[str, Any], where: str) -> None:
    """`ExperimentError` for a TOML value of the wrong kind for a field annotated as a plain
    number (`int`, `float`, optionally `| None`): a string or a boolean (`output_dim = true`,
    `epsilon = "x"`), or a float for an `int`; and for anything but `true`/`false` in a field
    annotated `bool` (`shuffle = "no"`). Other annotations are left to the class."""
    notes = _annotations(cls)
    for key, value in values.items():
        words = set(re.findall(r"[A-Za-z_]+", notes.get(key, "")))
        if words and words <= {"bool", "None"} and "bool" in words:
            if isinstance(value, bool) or (value is None and "None" in words):
                continue
            raise ExperimentError(
                f"{where}, field {key!r}: {key} = {value!r} must be a boolean (true or false)"
            )
        if not words or not words <= {"int", "float", "None"} or words == {"None"}:
            continue
        if value is None and "None" in words:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and ("float" in words or isinstance(value, int)):
            continue
        wanted = "a number" if "float" in words else "an integer"
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        raise ExperimentError(
            f"{where}, field {key!r}: {key} = {shown} must be {wanted}"
            f"{' (not a boolean)' if isinstance(value, bool) else ''}"
        )


def construct(cls: Any, kwargs: dict[str, Any], where: str) -> Any:
    """`cls(**kwargs)`; a bad argument becomes an `ExperimentError` listing the parameters."""
    try:
        return cls(**kwargs)
    except MochaError as exc:
        raise ExperimentError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        try:
            params = ", ".join(inspect.signature(cls).parameters) or "none"
        except (TypeError, ValueError):
            params = "?"
        raise ExperimentError(f"{where}: {cls.__name__}: {exc} (parameters: {params})") from None
