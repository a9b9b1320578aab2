"""Which backends this machine can run, and the tolerances to compare them with."""

from __future__ import annotations

import os
from typing import Any

import numpy as np


def available_backends() -> list[tuple[str, str | None]]:
    """(name, reason it is unavailable or None) for every registered backend."""
    from mocha.core.registry import get_registry

    return [(e.name, e.obj.why_unavailable()) for e in get_registry().entries("backends")]


def session_backend_name(default: str = "numpy") -> str:
    """The test session's backend (`MOCHA_BACKEND`, which `--mocha-backend` exports), else
    `default`: for tests and their child processes that train on one backend and should
    follow the session's (the solver and resume tests)."""
    chosen = os.environ.get("MOCHA_BACKEND", "").strip()
    return chosen if chosen and chosen != "default" else default


def backend_tolerance(dtype: Any) -> dict[str, float]:
    """rtol/atol for comparing a backend's result with the float64 reference."""
    if np.dtype(dtype) == np.float64:
        return {"rtol": 1e-7, "atol": 1e-9}
    return {"rtol": 2e-3, "atol": 2e-4}
