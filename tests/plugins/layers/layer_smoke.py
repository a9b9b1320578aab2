"""The smoke-test kit of tests/plugins/layers: each layer's test module supplies its own case,

    SMOKE_CASES = {"PowerLayer": Case(lambda tmp: L("PowerLayer", power=2.5, bottoms=["x"],
                                                    tops=["y"]), [normal(4, 3)])}

and `test_every_layer.py` collects them from every `test_*.py` module of this folder (adding a
layer needs no edit of a central table): each layer is built by its registered name, run on
every available backend against the float64 NumPy reference (`mocha.testing.check_layer`,
with the gradient check), and wired into a net.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import mocha
from mocha.core.parameter import make_parameter

HERE = Path(__file__).resolve().parent
RNG = np.random.default_rng(2024)


def L(registered_name: str, /, **fields: Any) -> mocha.Layer:  # noqa: N802
    """A layer looked up by its registered name (the way a third-party one would be)."""
    return mocha.lookup("layers", registered_name)(**fields)


def normal(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def uniform(low: float, high: float, *shape: int) -> np.ndarray:
    return RNG.uniform(low, high, shape)


def labels(n_class: int, *shape: int) -> np.ndarray:
    return RNG.integers(0, n_class, shape).astype(np.float64)


def signs(*shape: int) -> np.ndarray:
    return np.where(RNG.random(shape) < 0.5, -1.0, 1.0)


def distributions(*shape: int) -> np.ndarray:
    e = np.exp(normal(*shape))
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class Case:
    """How to build one layer and what to feed it. `make(tmp_path)` returns the layer."""

    make: Callable[[Path], mocha.Layer]
    inputs: list[np.ndarray] = field(default_factory=list)
    no_grad: tuple[int, ...] = ()  # bottoms that want no gradient (labels)
    compare: bool = True  # False: run on the backend only (layers writing files)
    gradcheck: bool = True
    prepare: Callable[[Any], None] | None = None  # registers what the layer looks up
    shapes: list[tuple[int, ...]] | None = None  # expected top shapes


def hdf5_source(tmp: Path) -> str:
    """Two HDF5 files (7 + 5 samples) listed in a source file; returns the list's path."""
    for i, n in enumerate((7, 5)):
        with h5py.File(tmp / f"part{i}.h5", "w") as f:
            f["data"] = np.arange(n * 6, dtype=np.float32).reshape(n, 2, 3) + 100 * i
            f["label"] = labels(3, n, 1).astype(np.float32)
    (tmp / "source.txt").write_text("part0.h5\npart1.h5\n")
    return str(tmp / "source.txt")


ENCODER_W = normal(3, 5)


def register_smoke_encoder(backend: Any) -> None:
    """What TiedInnerProductLayer needs: an encoder weight (3, 5) under the key "enc"."""
    from mocha.plugins.components.constraints import NoCons
    from mocha.plugins.components.regularizers import NoRegu

    w = make_parameter(
        backend,
        "weight",
        (3, 5),
        initializer=mocha.NullInitializer(),
        regularizer=NoRegu(),
        constraint=NoCons(),
        owner="enc",
        shared=None,
    )
    w.blob.copy_from(ENCODER_W)
    backend.param_registry["enc"] = [w]


def collect_cases() -> tuple[dict[str, Case], dict[str, str]]:
    """Every `SMOKE_CASES` entry of the `test_*.py` modules here: (cases, layer -> module)."""
    cases: dict[str, Case] = {}
    where: dict[str, str] = {}
    for path in sorted(HERE.glob("test_*.py")):
        module = importlib.import_module(path.stem)
        for name, case in getattr(module, "SMOKE_CASES", {}).items():
            if name in cases:
                raise AssertionError(
                    f"two smoke cases for {name}: in {where[name]} and {path.name}"
                )
            cases[name], where[name] = case, path.name
    return cases, where
