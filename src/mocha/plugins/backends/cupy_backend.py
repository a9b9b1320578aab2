"""The CuPy GPU backend: `xp` is `cupy`; the generic `xp` kernels (`generic/`) run unchanged on
it (it registers no kernel of its own).

CuPy is imported lazily: registering this backend costs nothing on a machine without CuPy.
`why_unavailable()` does not trust a device count: it proves the device works (allocates,
runs a tiny kernel, copies the result back and compares it), so a broken CUDA installation
(a driver/toolkit mismatch, a failing compiler, a device in a bad state) is reported with its
reason in `mocha backends`, and `DefaultBackend()` falls back to the CPU instead of failing at
the first training step. The probe's verdict is remembered per CuPy module and device.

The device: `CupyBackend(device=N)`, `[backend] device = N` in an experiment file, else the
environment variable `MOCHA_CUDA_DEVICE` (the manual's), else 0. A value that is not a whole
number >= 0, or names a device that is not there, is an error that says so.

Randomness is drawn from the backend's seeded host RNG and copied to the device, so a run
on the GPU sees the same random numbers as on the CPU (reproducible and resumable).
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import numpy as np

from mocha.core.backend import Backend
from mocha.core.errors import MochaError
from mocha.core.extras import install_hint
from mocha.core.hookspecs import hookimpl

DEVICE_ENV = "MOCHA_CUDA_DEVICE"

# CuPy module -> {device: the probe's verdict (None: it works)}
_PROBED: weakref.WeakKeyDictionary[Any, dict[int, str | None]] = weakref.WeakKeyDictionary()


def _import_cupy() -> Any:
    import cupy

    return cupy


def check_device(value: Any, where: str) -> int:
    """`value` as a CUDA device number (a whole number >= 0); a `MochaError` naming `where`
    and the value otherwise. Strings of digits are accepted (environment variables)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise MochaError(f"{where} must be a CUDA device number (0, 1, ...), not {value!r}")
    return int(value)


def default_device() -> int:
    """The device of `MOCHA_CUDA_DEVICE` (0 when unset or empty)."""
    raw = os.environ.get(DEVICE_ENV, "").strip()
    return check_device(raw, f"the environment variable {DEVICE_ENV}") if raw else 0


def probe_device(cupy: Any, device: int) -> str | None:
    """None when CUDA device `device` works: it exists, takes an array, runs a tiny
    elementwise kernel and returns the right numbers; else the reason, in one line."""
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # cudaErrorNoDevice, an insufficient driver, ...
        return f"no usable CUDA device ({type(exc).__name__}: {exc})"
    if count < 1:
        return "no CUDA device is visible"
    if device >= count:
        return (
            f"CUDA device {device} was asked for ({DEVICE_ENV} or `device`), but "
            f"{count} device(s) are visible (0..{count - 1})"
        )
    host = np.arange(32, dtype=np.float32)
    try:
        with cupy.cuda.Device(device):
            back = cupy.asnumpy(cupy.asarray(host) * 2.0 + 1.0)
    except Exception as exc:
        return f"CUDA device {device} failed a test computation ({type(exc).__name__}: {exc})"
    if not np.array_equal(np.asarray(back), host * 2.0 + 1.0):
        return f"CUDA device {device} computed wrong numbers in a test kernel (2x+1 on 0..31)"
    return None


class CupyBackend(Backend):
    """CuPy arrays on one CUDA device.

    `CupyBackend(dtype="float32", seed=0, device=None)`; `device` None: `MOCHA_CUDA_DEVICE`,
    else 0."""

    name = "cupy"
    priority = 100
    device = "gpu"

    @classmethod
    def array_module(cls) -> Any:
        """The CuPy module (imported on first use)."""
        return _import_cupy()

    def __init__(
        self,
        dtype: Any = "float32",
        seed: int = 0,
        threads: int | None = None,
        device: int | None = None,
    ) -> None:
        device_id = default_device() if device is None else check_device(device, "device")
        super().__init__(dtype=dtype, seed=seed, threads=threads)
        self.device_id = -1
        self.use_device(device_id)

    @classmethod
    def why_unavailable(cls, device: int | None = None) -> str | None:
        try:
            cupy = cls.array_module()
        except Exception as exc:  # ImportError, or a broken CUDA installation
            return (
                f"cupy cannot be imported ({type(exc).__name__}: {exc}); install the "
                f"'gpu' extra: {install_hint('gpu')}"
            )
        try:
            device = default_device() if device is None else device
        except MochaError as exc:
            return str(exc)
        verdicts = _PROBED.setdefault(cupy, {})
        if device not in verdicts:
            verdicts[device] = probe_device(cupy, device)
        return verdicts[device]

    def use_device(self, device: Any) -> None:
        """Make CUDA device `device` this backend's (before any array is allocated on it:
        the constructor, or `[backend] device` right after it); a `MochaError` naming the
        device when it is not usable."""
        device = check_device(device, "device")
        if device == self.device_id:
            return
        if self._workspaces or self.param_registry:
            raise MochaError(
                f"the {self.name} backend already holds arrays on device "
                f"{self.device_id}; choose the device when creating it"
            )
        reason = type(self).why_unavailable(device)
        if reason:
            raise MochaError(f"the {self.name} backend is not available: {reason}")
        self.xp = self.array_module()
        self.xp.cuda.Device(device).use()
        self.device_id = device

    def init(self) -> None:
        self.xp.cuda.Device(self.device_id).use()
        super().init()

    def thread_info(self) -> dict[str, Any]:
        info = super().thread_info()
        info["device"] = self.device_id
        try:
            props = self.xp.cuda.runtime.getDeviceProperties(self.device_id)
            name = props["name"]
            info["device_name"] = name.decode() if isinstance(name, bytes) else str(name)
        except Exception:  # a report detail: never fail a run for it
            pass
        return info

    def asarray(self, host: Any, dtype: Any = None) -> Any:
        return self.xp.asarray(host, dtype=dtype or self.dtype)

    def to_host(self, array: Any) -> np.ndarray:
        return self.xp.asnumpy(array)

    def synchronize(self) -> None:
        self.xp.cuda.get_current_stream().synchronize()


@hookimpl
def mocha_register_backends(register):
    register(CupyBackend)
