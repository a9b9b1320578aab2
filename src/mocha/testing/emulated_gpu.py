"""A test-only GPU: the CuPy backend running on a strict NumPy stand-in for CuPy.

`pytest --mocha-backend=emulated-gpu` (or `MOCHA_BACKEND=emulated-gpu`) runs the
backend-parametrized tests on `EmulatedGpuBackend`, a `CupyBackend` whose `cupy` is
`EMULATED_CUPY` (see `mocha.testing._device_array`): device arrays that refuse implicit
conversion to NumPy and any mixing with host arrays. A layer, solver or coffee break that
hands a device array to NumPy, or a NumPy array to the device, without an explicit transfer
fails there exactly as it would on CuPy (stricter: an assignment of a host array is refused
too). The emulation proves nothing about CuPy's own numbers or speed.

It is not registered for users: no entry point of `mocha-dl` names it. For a test session
that asks for it, `install_for_session()` writes a throw-away distribution
(`mocha-emulated-gpu`, one `backends.emulated_gpu` entry point naming this module) into a
temporary folder on `sys.path` and on `PYTHONPATH` (child processes see it too), so
`make_backend("emulated-gpu")`, `DefaultBackend()` and experiment files find it through the
ordinary plugin discovery.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mocha.core.hookspecs import hookimpl
from mocha.plugins.backends.cupy_backend import CupyBackend
from mocha.testing._device_array import STATS, DeviceArray, _Func, _namespace, wrap

NAME = "emulated-gpu"


class _Runtime:
    def __init__(self, cupy: EmulatedCupy) -> None:
        self._cupy = cupy

    def getDeviceCount(self) -> int:  # noqa: N802 (CuPy's name)
        return self._cupy.device_count

    def driverGetVersion(self) -> int:  # noqa: N802
        return 0

    def runtimeGetVersion(self) -> int:  # noqa: N802
        return 0

    def getDeviceProperties(self, device: int) -> dict[str, Any]:  # noqa: N802
        self._cupy.cuda.Device(device)  # an invalid ordinal raises
        return {
            "name": b"Emulated GPU (NumPy)",
            "totalGlobalMem": 1 << 30,
            "multiProcessorCount": 1,
            "major": 0,
            "minor": 0,
        }


class _Stream:
    def synchronize(self) -> None:
        STATS["synchronize"] += 1


class _Cuda:
    """`cupy.cuda`: devices, the runtime, the current stream."""

    def __init__(self, cupy: EmulatedCupy) -> None:
        self.runtime = _Runtime(cupy)
        self.current = 0
        cuda = self

        class Device:
            def __init__(self, device: int = 0) -> None:
                if not 0 <= int(device) < cupy.device_count:
                    raise RuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
                self.id = int(device)

            def use(self) -> None:
                cuda.current = self.id

            def synchronize(self) -> None:
                STATS["synchronize"] += 1

            def __enter__(self) -> Device:
                self._before, cuda.current = cuda.current, self.id
                return self

            def __exit__(self, *exc: Any) -> None:
                cuda.current = self._before

        self.Device = Device
        self._stream = _Stream()

    def get_current_stream(self) -> _Stream:
        return self._stream


class EmulatedCupy:
    """The `xp` of the emulated GPU: CuPy's API over NumPy (host arrays refused)."""

    __version__ = "emulated"
    ndarray = DeviceArray

    def __init__(self, device_count: int = 1) -> None:
        self.device_count = device_count
        self.cuda = _Cuda(self)
        self.stats = STATS
        self.linalg = _namespace(np.linalg, "linalg")

        class stride_tricks:  # noqa: N801 (cupy.lib.stride_tricks)
            @staticmethod
            def as_strided(x: DeviceArray, shape: Any = None, strides: Any = None) -> Any:
                return wrap(np.lib.stride_tricks.as_strided(x._a, shape, strides))

        self.lib = type("lib", (), {"stride_tricks": stride_tricks})

    # explicit transfers ------------------------------------------------------------------
    def asarray(self, a: Any, dtype: Any = None, order: Any = None) -> DeviceArray:
        if isinstance(a, DeviceArray):
            return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
        STATS["transfers"] += 1
        return DeviceArray(np.array(a, dtype=dtype, order=order or "K", copy=True))

    def array(self, a: Any, dtype: Any = None, copy: bool = True, **kwargs: Any) -> DeviceArray:
        if isinstance(a, DeviceArray):
            return DeviceArray(np.array(a._a, dtype=dtype, copy=True, **kwargs))
        return self.asarray(a, dtype=dtype)

    def asnumpy(self, a: Any, stream: Any = None, order: str = "C") -> np.ndarray:
        if isinstance(a, DeviceArray):
            return a.get(order=order)
        return np.asarray(a, order=order)

    def get_array_module(self, *args: Any) -> Any:
        return self if any(isinstance(a, DeviceArray) for a in args) else np

    # everything else: NumPy's function, device arrays in and out ---------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(np, name)  # AttributeError for what NumPy lacks too
        if isinstance(value, type) or not callable(value):
            return value  # dtypes, finfo, constants
        return _Func(value, name)


#: The emulated CuPy module of the test sessions (one device by default).
EMULATED_CUPY = EmulatedCupy()


class EmulatedGpuBackend(CupyBackend):
    """The CuPy backend on `EMULATED_CUPY` (test-only; see the module docstring)."""

    name = NAME
    priority = 0  # a real GPU wins

    @classmethod
    def array_module(cls) -> Any:
        return EMULATED_CUPY


@hookimpl
def mocha_register_backends(register):
    register(EmulatedGpuBackend)


def install_for_session() -> Path:
    """Make the emulated GPU discoverable in this process and its children (see the module
    docstring); returns the temporary site folder."""
    site = Path(tempfile.mkdtemp(prefix="mocha-emulated-gpu-"))
    info = site / "mocha_emulated_gpu-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mocha-emulated-gpu\nVersion: 0.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[mocha]\nbackends.emulated_gpu = {__name__}\n", encoding="utf-8"
    )
    sys.path.append(str(site))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([*paths, str(site)])
    from mocha.core.plugins import reset_plugin_manager

    reset_plugin_manager()
    return site
