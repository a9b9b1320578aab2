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
#: The counts `set_threads` last left (a backend's setting, not the user's) and the counts it
#: found before the first of those calls (the user's), for `user_counts`.
_ours: list[int] | None = None
_users: list[int] | None = None


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
    global _ours, _users
    previous = []
    for c in controllers(refresh):
        previous.append(c.get_num_threads())
        c.set_num_threads(count)
    if _ours is None or previous != _ours:  # the user's counts (or changed by the user since)
        _users = list(previous)
    _ours = [count] * len(previous)
    return previous


def restore(previous: list[int]) -> None:
    """Put back the counts `set_threads` returned."""
    global _ours
    for c, count in zip(controllers(), previous):
        c.set_num_threads(count)
    _ours = None if previous == _users else list(previous)


def user_counts() -> list[int]:
    """The BLAS thread counts the user set (`threadpool_limits`, `OPENBLAS_NUM_THREADS`, the
    library's default): the current ones, unless they are those a backend's `set_threads`
    left, in which case the counts found before the backends changed them."""
    current = get_threads()
    if _ours is not None and _users is not None and current == _ours:
        return list(_users)
    return current


def describe() -> list[dict[str, Any]]:
    """One dict per BLAS library: its API, kernel architecture, thread count, threading
    layer and file (threadpoolctl's info)."""
    return [c.info() for c in controllers()]
