"""A strict, NumPy-backed stand-in for CuPy (test-only): `DeviceArray` and the `xp` module
`EmulatedCupy`.

`DeviceArray` wraps a `numpy.ndarray` that plays the part of device memory. It behaves the way
`cupy.ndarray` does where code could silently mix host and device, and is stricter where CuPy
would copy silently:

* implicit conversion to NumPy is refused (`__array__`, so `np.asarray(d)`,
  `np.testing.assert_allclose(d, ...)`, `h5py` writes fail with CuPy's TypeError);
* a NumPy array mixed into device arithmetic, a device function (`xp.exp(host)`), an index
  (`d[host_index]`) or an assignment (`d[...] = host`) is refused (CuPy refuses the first three
  and copies the last one implicitly: a hidden host-to-device transfer per call, which is
  what this emulation exists to find); Python and NumPy scalars are fine, as on CuPy;
* reductions return 0-d device arrays, never NumPy scalars (as CuPy's do);
* `float(d)`, `int(d)`, `bool(d)`, `d.item()`, `d.tolist()` work (CuPy allows them: a
  synchronizing copy) and are counted in `xp.stats["implicit_syncs"]`; explicit transfers
  (`xp.asarray(host)`, `xp.asnumpy(d)`, `d.get()`) are counted in `xp.stats["transfers"]`;
  device operations in `xp.stats["ops"]` (a kernel that issues one per kernel offset shows).

The `cuda` namespace emulates `cupy.cuda`: `runtime.getDeviceCount()`,
`runtime.getDeviceProperties(i)`, `Device(i)` (`use()`, `synchronize()`, a context manager)
and `get_current_stream().synchronize()` (counted in `xp.stats["synchronize"]`).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a "
    "NumPy array explicitly. (emulated GPU)"
)
# attributes of numpy.ndarray a DeviceArray does not expose (they hand out host memory)
REFUSED_ATTRIBUTES = frozenset({"ctypes", "data", "tobytes", "tofile", "dump", "dumps"})


class HostDeviceMixError(TypeError):
    """A NumPy array where the emulated device wants a device array."""


def _refuse_host(what: str, value: np.ndarray) -> HostDeviceMixError:
    return HostDeviceMixError(
        f"{what}: a numpy.ndarray {value.shape} {value.dtype} mixed with device arrays "
        "(move it with xp.asarray / backend.asarray first) (emulated GPU)"
    )


def unwrap(obj: Any, what: str = "argument") -> Any:
    """The NumPy memory behind device arrays in `obj` (lists, tuples, dicts, slices walked);
    a `HostDeviceMixError` for a NumPy array."""
    if isinstance(obj, DeviceArray):
        return obj._a
    if isinstance(obj, np.ndarray):
        raise _refuse_host(what, obj)
    if isinstance(obj, tuple | list):
        return type(obj)(unwrap(o, what) for o in obj)
    if isinstance(obj, dict):
        return {k: unwrap(v, what) for k, v in obj.items()}
    if isinstance(obj, slice):
        return slice(*(unwrap(s, what) for s in (obj.start, obj.stop, obj.step)))
    return obj


def wrap(result: Any, out: Any = None) -> Any:
    """Device arrays for the NumPy results of a call (0-d ones for NumPy scalars); `out`
    itself when the call wrote into it (so `result is out` holds, as on CuPy)."""
    outs = out if isinstance(out, tuple) else (out,)
    for o in outs:
        if isinstance(o, DeviceArray) and result is o._a:
            return o
    if isinstance(result, np.ndarray):
        return DeviceArray(result)
    if isinstance(result, np.generic):
        return DeviceArray(np.asarray(result))
    if isinstance(result, tuple | list):
        return type(result)(wrap(r) for r in result)
    return result


#: counters: explicit transfers, implicit synchronizing conversions, `synchronize()` calls,
#: and `ops`: device operations issued (ufuncs, functions, methods, assignments; views
#: included), an upper bound of the kernels CuPy would launch
STATS: dict[str, int] = {"transfers": 0, "implicit_syncs": 0, "synchronize": 0, "ops": 0}


def _sync_to_host(array: np.ndarray) -> np.ndarray:
    STATS["implicit_syncs"] += 1
    return array


class DeviceArray(NDArrayOperatorsMixin):
    """An array in emulated device memory (see the module docstring)."""

    __slots__ = ("_a",)
    __array_priority__ = 100

    def __init__(self, array: np.ndarray) -> None:
        if array.dtype == object:
            raise TypeError("object arrays cannot live on the (emulated) GPU")
        self._a = array

    # -- refused and explicit conversions ------------------------------------------------
    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(IMPLICIT)

    def get(self, stream: Any = None, order: str = "C", out: Any = None) -> np.ndarray:
        """An explicit device-to-host copy (CuPy's `ndarray.get`)."""
        STATS["transfers"] += 1
        host = np.array(self._a, order=order, copy=True)
        if out is not None:
            out[...] = host
            return out
        return host

    def __float__(self) -> float:
        return float(_sync_to_host(self._a))

    def __int__(self) -> int:
        return int(_sync_to_host(self._a))

    def __index__(self) -> int:
        if self._a.ndim or self._a.dtype.kind not in "iu":
            raise TypeError("only integer scalar arrays can be converted to a scalar index")
        return int(_sync_to_host(self._a))

    def __bool__(self) -> bool:
        return bool(_sync_to_host(self._a))

    def __complex__(self) -> complex:
        return complex(_sync_to_host(self._a))

    def item(self, *args: Any) -> Any:
        return _sync_to_host(self._a).item(*args)

    def tolist(self) -> Any:
        return _sync_to_host(self._a).tolist()

    # -- NumPy protocols: device in, device out, host arrays refused --------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        what = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        STATS["ops"] += 1
        result = getattr(ufunc, method)(*unwrap(inputs, what), **unwrap(kwargs, what))
        return wrap(result, kwargs.get("out"))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        what = f"numpy.{func.__name__}"
        STATS["ops"] += 1
        return wrap(func(*unwrap(args, what), **unwrap(kwargs, what)), kwargs.get("out"))

    # -- description ---------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: DeviceArray(self._a.T))

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Iterator[DeviceArray]:
        for i in range(len(self._a)):
            yield DeviceArray(self._a[i : i + 1].reshape(self._a.shape[1:]))

    def __repr__(self) -> str:
        return f"DeviceArray({np.array2string(self._a)}, dtype={self._a.dtype})"

    # -- indexing ------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> DeviceArray:
        return wrap(self._a[unwrap(key, "device index")])

    def __setitem__(self, key: Any, value: Any) -> None:
        STATS["ops"] += 1
        self._a[unwrap(key, "device index")] = unwrap(value, "assignment to a device array")

    def __copy__(self) -> DeviceArray:
        return DeviceArray(self._a.copy())

    def __deepcopy__(self, memo: Any) -> DeviceArray:
        return DeviceArray(self._a.copy())

    def __reduce__(self) -> Any:
        raise TypeError("device arrays cannot be pickled (emulated GPU)")

    # -- every other ndarray method, device in and out -----------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in REFUSED_ATTRIBUTES:
            raise AttributeError(f"'DeviceArray' (emulated GPU) has no attribute {name!r}")
        attr = getattr(self._a, name)
        if not callable(attr):
            return wrap(attr)

        def method(*args: Any, **kwargs: Any) -> Any:
            what = f"ndarray.{name}"
            STATS["ops"] += 1
            return wrap(attr(*unwrap(args, what), **unwrap(kwargs, what)), kwargs.get("out"))

        return method


class _Func:
    """A NumPy function (or ufunc) taking and returning device arrays; a ufunc's methods
    (`.at`, `.reduce`, ...) are wrapped likewise."""

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self._func, self.__name__ = func, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        what = f"xp.{self.__name__}"
        STATS["ops"] += 1
        return wrap(self._func(*unwrap(args, what), **unwrap(kwargs, what)), kwargs.get("out"))

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._func, name)
        return _Func(attr, f"{self.__name__}.{name}") if callable(attr) else attr


def _namespace(module: types.ModuleType, name: str) -> Any:
    """A sub-namespace (`xp.linalg`) whose functions are wrapped like the top level's."""

    class Namespace:
        def __getattr__(self, attr: str) -> Any:
            value = getattr(module, attr)
            return _Func(value, f"{name}.{attr}") if callable(value) else value

    return Namespace()
