"""pytest fixtures for Mocha: `backend` parametrized over the available backends.

`--mocha-backend=NAME` (or the environment variable `MOCHA_BACKEND=NAME`) makes NAME the
backend of the whole session: the `backend` fixture runs on it alone, and it is exported as
`MOCHA_BACKEND`, which `DefaultBackend()`, `make_backend("default")` and experiment files
with `[backend] name = "default"` honour; tests that name a backend keep theirs. Backends
that are registered but not usable here are skipped with their reason. Import-light: nothing
heavy at import time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

GPU_MARKER = "gpu: needs a CUDA device and CuPy (set by mocha's `backend` fixture on CuPy cases)"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the `gpu` marker the CuPy cases carry, so `--strict-markers` accepts it in a
    project that does not declare it; left alone when the project's ini declares it already."""
    declared = (line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers"))
    if "gpu" not in declared:
        config.addinivalue_line("markers", GPU_MARKER)
    wanted = session_backend(config)
    if wanted:
        os.environ["MOCHA_BACKEND"] = wanted  # DefaultBackend() & co. follow the session


def session_backend(config: pytest.Config) -> str | None:
    """The backend of the session: `--mocha-backend`, else `MOCHA_BACKEND`, else None."""
    return (
        config.getoption("--mocha-backend", default=None) or os.environ.get("MOCHA_BACKEND") or None
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"mocha backend: {session_backend(config) or 'every available one (default: best)'}"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mocha")
    group.addoption(
        "--mocha-backend",
        action="store",
        default=None,
        help="run backend-parametrized tests on this backend only",
    )


def _backend_params(config: pytest.Config) -> list[Any]:
    from mocha.testing.backends import available_backends

    wanted = session_backend(config)
    params = []
    for name, reason in available_backends():
        if wanted and name != wanted:
            continue
        marks = [pytest.mark.gpu] if name == "cupy" else []
        if reason:
            marks.append(pytest.mark.skip(reason=f"backend {name}: {reason}"))
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_name" in metafunc.fixturenames:
        metafunc.parametrize("backend_name", _backend_params(metafunc.config), scope="session")


@pytest.fixture(scope="session")
def backend(backend_name: str) -> Iterator[Any]:
    """A float32 backend of each available kind (session-scoped; registry reset per test)."""
    from mocha.backend_choice import make_backend

    b = make_backend(backend_name, dtype="float32", seed=0)
    b.init()
    yield b
    b.shutdown()


@pytest.fixture(autouse=False)
def fresh_backend(backend: Any) -> Any:
    """`backend` with its shared-parameter registry emptied."""
    backend.param_registry.clear()
    return backend
