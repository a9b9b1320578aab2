"""Choosing a backend by name or availability: `CPUBackend`, `GPUBackend`, `DefaultBackend`."""

from __future__ import annotations

import os
from typing import Any

from mocha.core.backend import Backend
from mocha.core.errors import MochaError
from mocha.core.registry import get_registry


def backend_classes() -> list[type[Backend]]:
    return [e.obj for e in get_registry().entries("backends")]


def get_backend_class(name: str) -> type[Backend]:
    return get_registry().get("backends", name)


def make_backend(name: str = "default", dtype: Any = "float32", seed: int = 0) -> Backend:
    """A backend by registered name ("numpy", "numba", "cupy"), or "cpu"/"gpu"/"default"."""
    if name == "default":
        return DefaultBackend(dtype=dtype, seed=seed)
    if name == "cpu":
        return CPUBackend(dtype=dtype, seed=seed)
    if name == "gpu":
        return GPUBackend(dtype=dtype, seed=seed)
    cls = get_backend_class(name)
    reason = cls.why_unavailable()
    if reason:
        raise MochaError(f"backend {name!r} is not available here: {reason}")
    return cls(dtype=dtype, seed=seed)


def _best(kind: str) -> type[Backend]:
    candidates = [
        c for c in backend_classes() if getattr(c, "device", "cpu") == kind and c.is_available()
    ]
    if not candidates:
        reasons = "; ".join(f"{c.name}: {c.why_unavailable()}" for c in backend_classes()
                            if getattr(c, "device", "cpu") == kind)
        raise MochaError(f"no {kind.upper()} backend is available"
                         f"{f' ({reasons})' if reasons else ''}; see `mocha backends`")
    return max(candidates, key=lambda c: c.priority)


def CPUBackend(dtype: Any = "float32", seed: int = 0) -> Backend:  # noqa: N802 (Mocha's name)
    """The best CPU backend available (Numba, else NumPy)."""
    return _best("cpu")(dtype=dtype, seed=seed)


def GPUBackend(dtype: Any = "float32", seed: int = 0) -> Backend:  # noqa: N802
    """The GPU backend (CuPy); an error naming the reason when no GPU is usable."""
    return _best("gpu")(dtype=dtype, seed=seed)


def DefaultBackend(dtype: Any = "float32", seed: int = 0) -> Backend:  # noqa: N802
    """The GPU backend when a GPU is usable, the CPU backend otherwise; the environment
    variable `MOCHA_BACKEND` (a backend name: numpy, numba, cupy, cpu, gpu) overrides the
    choice (for `make_backend("default")` and `[backend] name = "default"` too)."""
    chosen = os.environ.get("MOCHA_BACKEND", "").strip()
    if chosen and chosen != "default":
        return make_backend(chosen, dtype=dtype, seed=seed)
    try:
        return GPUBackend(dtype=dtype, seed=seed)
    except MochaError:
        return CPUBackend(dtype=dtype, seed=seed)
