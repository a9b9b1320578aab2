"""Choosing a backend by name or availability: `CPUBackend`, `GPUBackend`, `DefaultBackend`."""

from __future__ import annotations

from typing import Any

from mocha.core.backend import Backend
from mocha.core.errors import MochaError
from mocha.core.registry import get_registry


def backend_classes() -> list[type[Backend]]:
    return [e.obj for e in get_registry().entries("backends")]


def get_backend_class(name: str) -> type[Backend]:
    return get_registry().get("backends", name)


def make_backend(name: str = "default", dtype: Any = "float32", seed: int = 0,
                 threads: int | None = None) -> Backend:
    """A backend by registered name ("numpy", "numba", "cupy"), or "cpu"/"gpu"/"default";
    `threads`: its CPU thread count (default: the cores available)."""
    if name == "default":
        return DefaultBackend(dtype=dtype, seed=seed, threads=threads)
    if name == "cpu":
        return CPUBackend(dtype=dtype, seed=seed, threads=threads)
    if name == "gpu":
        return GPUBackend(dtype=dtype, seed=seed, threads=threads)
    cls = get_backend_class(name)
    reason = cls.why_unavailable()
    if reason:
        raise MochaError(f"backend {name!r} is not available here: {reason}")
    return cls(dtype=dtype, seed=seed, threads=threads)


def _best(kind: str) -> type[Backend]:
    candidates = [
        c for c in backend_classes() if getattr(c, "device", "cpu") == kind and c.is_available()
    ]
    if not candidates:
        raise MochaError(f"no {kind.upper()} backend is available; see `mocha backends`")
    return max(candidates, key=lambda c: c.priority)


def CPUBackend(  # noqa: N802 (Mocha's name)
    dtype: Any = "float32", seed: int = 0, threads: int | None = None,
) -> Backend:
    """The best CPU backend available (Numba, else NumPy)."""
    return _best("cpu")(dtype=dtype, seed=seed, threads=threads)


def GPUBackend(  # noqa: N802
    dtype: Any = "float32", seed: int = 0, threads: int | None = None,
) -> Backend:
    """The GPU backend (CuPy); an error naming the reason when no GPU is usable."""
    return _best("gpu")(dtype=dtype, seed=seed, threads=threads)


def DefaultBackend(  # noqa: N802
    dtype: Any = "float32", seed: int = 0, threads: int | None = None,
) -> Backend:
    """The GPU backend when a GPU is usable, the CPU backend otherwise."""
    try:
        return GPUBackend(dtype=dtype, seed=seed, threads=threads)
    except MochaError:
        return CPUBackend(dtype=dtype, seed=seed, threads=threads)
