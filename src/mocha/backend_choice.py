"""Choosing a backend by name or availability: `make_backend`, `CPUBackend`, `GPUBackend`,
`DefaultBackend` (a policy over the registered backends, outside the engine).

A backend made here takes its kernel table from the registry it was found
in (`backend.registry`), so a registry built from another plugin manager (a test's, a
`MOCHA_DISABLE_PLUGINS` run's) serves its own kernels."""

from __future__ import annotations

import os
from typing import Any

from mocha.core.backend import Backend
from mocha.core.errors import MochaError
from mocha.core.registry import Registry, get_registry


def backend_classes(registry: Registry | None = None) -> list[type[Backend]]:
    return [e.obj for e in (registry or get_registry()).entries("backends")]


def get_backend_class(name: str, registry: Registry | None = None) -> type[Backend]:
    return (registry or get_registry()).get("backends", name)


def _made(
    cls: type[Backend], registry: Registry, dtype: Any, seed: int, threads: int | None = None
) -> Backend:
    backend = cls(dtype=dtype, seed=seed, threads=threads)
    backend.registry = registry
    return backend


def make_backend(
    name: str = "default",
    dtype: Any = "float32",
    seed: int = 0,
    registry: Registry | None = None,
    threads: int | None = None,
) -> Backend:
    """A backend by registered name ("numpy", "numba", "cupy"), or "cpu"/"gpu"/"default",
    found in `registry` (default: the process-wide one), whose kernels it then uses;
    `threads`: its CPU thread count (default: the cores available)."""
    registry = registry or get_registry()
    if name == "default":
        return DefaultBackend(dtype=dtype, seed=seed, registry=registry, threads=threads)
    if name == "cpu":
        return CPUBackend(dtype=dtype, seed=seed, registry=registry, threads=threads)
    if name == "gpu":
        return GPUBackend(dtype=dtype, seed=seed, registry=registry, threads=threads)
    cls = get_backend_class(name, registry)
    reason = cls.why_unavailable()
    if reason:
        raise MochaError(f"backend {name!r} is not available here: {reason}")
    return _made(cls, registry, dtype, seed, threads)


def _best(kind: str, registry: Registry) -> type[Backend]:
    candidates = [
        c
        for c in backend_classes(registry)
        if getattr(c, "device", "cpu") == kind and c.is_available()
    ]
    if not candidates:
        reasons = "; ".join(
            f"{c.name}: {c.why_unavailable()}"
            for c in backend_classes(registry)
            if getattr(c, "device", "cpu") == kind
        )
        raise MochaError(
            f"no {kind.upper()} backend is available"
            f"{f' ({reasons})' if reasons else ''}; see `mocha backends`"
        )
    return max(candidates, key=lambda c: c.priority)


def CPUBackend(
    dtype: Any = "float32",
    seed: int = 0,  # noqa: N802 (Mocha's name)
    registry: Registry | None = None,
    threads: int | None = None,
) -> Backend:
    """The best CPU backend available (Numba, else NumPy)."""
    registry = registry or get_registry()
    return _made(_best("cpu", registry), registry, dtype, seed, threads)


def GPUBackend(
    dtype: Any = "float32",
    seed: int = 0,  # noqa: N802
    registry: Registry | None = None,
    threads: int | None = None,
) -> Backend:
    """The GPU backend (CuPy); an error naming the reason when no GPU is usable."""
    registry = registry or get_registry()
    return _made(_best("gpu", registry), registry, dtype, seed, threads)


def DefaultBackend(
    dtype: Any = "float32",
    seed: int = 0,  # noqa: N802
    registry: Registry | None = None,
    threads: int | None = None,
) -> Backend:
    """The GPU backend when a GPU is usable, the CPU backend otherwise; the environment
    variable `MOCHA_BACKEND` (a backend name: numpy, numba, cupy, cpu, gpu) overrides the
    choice (for `make_backend("default")` and `[backend] name = "default"` too)."""
    chosen = os.environ.get("MOCHA_BACKEND", "").strip()
    if chosen and chosen != "default":
        return make_backend(chosen, dtype=dtype, seed=seed, registry=registry, threads=threads)
    try:
        return GPUBackend(dtype=dtype, seed=seed, registry=registry, threads=threads)
    except MochaError:
        return CPUBackend(dtype=dtype, seed=seed, registry=registry, threads=threads)
