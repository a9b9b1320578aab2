"""The BLAS thread pools of this process, through threadpoolctl.

threadpoolctl finds every BLAS loaded in the process (NumPy's bundled OpenBLAS, a conda MKL or
BLIS, ...) and calls its own thread-count setter, so the CPU backends control BLAS threads the
same way whatever NumPy was built with. The controllers are looked up once (a scan of the loaded
libraries) and the setters are then called directly (about a microsecond each).

BLAS thread counts are process-wide: `set_threads` changes them for every thread.
"""

from __future__ import annotations

import threading
from typing import Any

from threadpoolctl import ThreadpoolController

_lock = threading.Lock()
_controllers: list[Any] | None = None


def controllers(refresh: bool = False) -> list[Any]:
    """threadpoolctl's controllers of the BLAS libraries loaded (looked up once, again with
    `refresh`, which the backends' `init()` asks for; empty when threadpoolctl finds none)."""
    global _controllers
    if _controllers is None or refresh:
        with _lock:
            if _controllers is None or refresh:
                found = ThreadpoolController().select(user_api="blas").lib_controllers
                _controllers = list(found)
    return _controllers


def available() -> bool:
    """Whether the BLAS thread count can be set here."""
    return bool(controllers())


def get_threads() -> list[int]:
    """The thread count of each BLAS library (in `controllers()` order)."""
    return [c.get_num_threads() for c in controllers()]


def set_threads(count: int, refresh: bool = False) -> list[int]:
    """Set every BLAS library to `count` threads; returns the previous counts (for
    `restore`). `refresh`: look for newly loaded libraries first."""
    previous = []
    for c in controllers(refresh):
        previous.append(c.get_num_threads())
        c.set_num_threads(count)
    return previous


def restore(previous: list[int]) -> None:
    """Put back the counts `set_threads` returned."""
    for c, count in zip(controllers(), previous):
        c.set_num_threads(count)


def describe() -> list[dict[str, Any]]:
    """One dict per BLAS library: its API, kernel architecture, thread count, threading
    layer and file (threadpoolctl's info)."""
    return [c.info() for c in controllers()]
