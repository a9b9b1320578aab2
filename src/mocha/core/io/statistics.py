"""The statistics file of the coffee lounge (semantics §7): one HDF5 group per statistic
(`/` in a name becomes `_`) holding `iter` (int64) and `value` (float64) datasets, sorted by
iteration; written atomically like every file of Mocha's."""

from __future__ import annotations

from typing import Any

import numpy as np

from mocha.core.errors import MochaError
from mocha.core.io.model import atomic_h5_write


def save_statistics(path: str, statistics: dict[str, dict[int, float]]) -> None:
    """Write statistics atomically: `/<name>/iter` (int64) and `/<name>/value` (float64)."""

    def write(f: Any) -> None:
        for name, series in statistics.items():
            items = sorted(series.items())
            group = f.create_group(name.replace("/", "_"))
            group.create_dataset("iter", data=np.array([i for i, _ in items], dtype=np.int64))
            group.create_dataset("value", data=np.array([v for _, v in items], dtype=np.float64))

    atomic_h5_write(path, write)


def load_statistics(path: str) -> dict[str, dict[int, float]]:
    """Read a statistics file: name -> {iteration -> value}."""
    import h5py  # optional-heavy: see tests/meta/test_core_imports.py

    out: dict[str, dict[int, float]] = {}
    try:
        with h5py.File(path, "r") as f:
            for name, group in f.items():
                iters, values = group["iter"][()], group["value"][()]
                out[name] = {int(i): float(v) for i, v in zip(iters, values)}
    except (OSError, KeyError) as exc:
        raise MochaError(f"cannot read statistics file {path!r}: {exc}") from exc
    return out
