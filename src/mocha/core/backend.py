"""The backend abstraction: an array module (`xp`), a kernel table, a seeded RNG.

A backend owns everything that depends on where the numbers live:

* `xp` — the array module (`numpy` or `cupy`). Layers write their simple math with it.
* `kernels` — a table of named hot-spot functions. Every kernel has a generic version written
  with `xp` (registered for backend `"*"` by `mocha.plugins.backends.generic`); a faster
  backend registers its own implementation under the same name and wins. Layers call
  `backend.kernels.<name>(...)`; the backend is bound as the first argument of the impl.
  Only the names of `KERNEL_NAMES` (`mocha.core.kernel_names`; the table below) can be
  registered.
* `registry` — the registry whose kernel table `kernels` comes from: the one `make_backend`
  (`mocha.backend_choice`) found the class in, else the process-wide one.
* `workspace(role, shape, dtype)` — scratch arrays reused across kernel calls.
* `rng` — a seeded `numpy.random.Generator`; all randomness (initializers, dropout, shuffling)
  goes through it so runs are reproducible and resumable (its state is saved in snapshots).
* `param_registry` — parameters shared by `param_key` across layers and nets (Mocha's
  registry). It survives across nets until `registry_reset(backend)`.

The kernel table (signatures; arrays are backend arrays, NCHW; `kernel`, `pad`, `stride` and
`out_hw` are (height, width) int pairs; kernels return new arrays unless they take `out`):

=====================  ==========================================================================
``im2col``             ``(x[C,H,W] | x[N,C,H,W], kernel, pad, stride) -> col[C*kh*kw, N*oh*ow]``
                       row ``(c*kh+p)*kw+q``, column ``(n*oh+i)*ow+j``; zero padding, floor size
``col2im``             ``(col, x_shape (C,H,W)|(N,C,H,W), kernel, pad, stride) -> x`` (adjoint:
                       sums overlaps, drops padding)
``conv_forward``       ``(x[N,C,H,W], w[F,C/g,kh,kw], b[F]|None, pad, stride, groups, out=None,
                       cache=None) -> y`` (cross-correlation, y[N,F,oh,ow], oh = (H+2ph-kh)//sh
                       + 1); ``cache``: a dict owned by the caller in which a backend may keep
                       the im2col columns for ``conv_backward`` on the same, unchanged x
``conv_backward``      ``(x, w, gy, pad, stride, groups, need_dx, out=None, cache=None) ->
                       (dx|None, dw, db)``; ``out`` = (dx|None, dw|None, db|None) to write into
``max_pool_forward``   ``(x[N,C,H,W], kernel, pad, stride, out_hw, out=None) -> (y, argmax_index)``;
                       ``out`` = (y|None, argmax_index|None) to write into; windows
                       clipped to the image (padding never read), first max in row-major order;
                       argmax_index int64 [N,C,oh,ow] = flat ``h*W + w`` within the (H, W) plane
``max_pool_backward``  ``(gy, argmax_index, x_shape, out=None) -> gx`` (sums where windows overlap)
``avg_pool_forward``   ``(x, kernel, pad, stride, out_hw, out=None, divisor="window") -> y``
                       (in-image sum / (kh*kw); divisor ``"padded"``: / the window's cells in
                       the padded image, ``"image"``: / its in-image cells)
``avg_pool_backward``  ``(gy, x_shape, kernel, pad, stride, out=None, divisor="window") -> gx``
                       (out_hw = gy's last 2 dims)
``lrn_forward``        ``(x, kernel, scale, power, shift, mode, out=None) -> (y, denom)``; mode
                       ``"across_channel"`` (axis 1, any rank >= 2) or ``"within_channel"``
                       (k×k in H, W); denom = shift + scale/n · Σ_window x², y = x · denom^-power
``lrn_backward``       ``(x, y, denom, gy, kernel, scale, power, shift, mode, out=None) -> gx``;
                       ``out`` of lrn_forward = (y|None, denom|None)
``batchnorm_forward``  ``(x[N,C,S], mean[C], var[C], eps, scale[C]|None, shift[C]|None,
                       batch_stats, out=None) -> y`` = (x − mean)·(var + eps)^-½ [·scale
                       + shift]; with ``batch_stats`` mean and (biased) var are first computed
                       from x over N and S and written into ``mean`` and ``var``
``batchnorm_backward`` ``(x, gy, mean, var, eps, scale|None, batch_stats, out=None) -> (gx,
                       dscale, dshift)``; ``out`` = (gx|None, dscale|None, dshift|None); gx is
                       None when out's is None (see ``generic.batchnorm``)
``softmax``            ``(x, axis) -> y`` (numerically stable)
``gemm``               ``(a, b, out=None, trans_a=False, trans_b=False, alpha=1, beta=0) -> out``
``relu_forward``       ``(x, epsilon, out=None) -> y`` = max(epsilon, x)
``relu_backward``      ``(y, g, epsilon, out=None) -> g · [y > epsilon]`` (y: the neuron output)
``lrelu_forward``      ``(x, out=None) -> y`` = x if x > 0 else 0.01·x
``lrelu_backward``     ``(y, g, out=None) -> g · (1 if y > 0 else 0.01)``
``sigmoid_forward``    ``(x, out=None) -> y`` = 1/(1 + exp(-x)) (overflow-free form)
``sigmoid_backward``   ``(y, g, out=None) -> g · y(1 - y)``
``tanh_forward``       ``(x, out=None) -> y`` = tanh x
``tanh_backward``      ``(y, g, out=None) -> g · (1 - y²)``
``dropout_mask``       ``(u, ratio, scale=1.0, out=None) -> m`` = [u > ratio] · scale
``dropout_apply``      ``(x, mask, out=None) -> x · mask``
``momentum_update``    ``(h, g, w, momentum, rate)``: h ← momentum·h − rate·g, then w ← w + h, in
                       place (the SGD step)
``add_scaled``         ``(y, x, alpha)``: y ← y + alpha·x, in place
=====================  ==========================================================================

and ``softmax_loss_backward(prob, label_index, axis, coef, w_label=None, out=None) -> dx`` =
(prob - onehot(label_index along axis)) · coef [· w_label] (label_index int64, shaped like prob
with 1 on axis; w_label likewise).

The generic versions live in `mocha.plugins.backends.generic.{conv,pool,lrn,batchnorm,
softmax,elementwise,blas,update}` (their module docstrings give the exact window rules);
callers (the layers) decide output sizes and reject empty pooling windows before calling. In the
elementwise and update kernels (neurons, dropout, softmax-loss gradient, the SGD step) scalars
are rounded to the arrays' dtype and ``out=x`` works in place. Adding a kernel: see
`mocha/plugins/backends/README.md`.

Layers never import numpy, numba or cupy: they use `backend.xp` and `backend.kernels`.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from mocha.core.blob import Blob
from mocha.core.kernel_names import KERNEL_NAMES, check_kernel_name  # noqa: F401 (API)
from mocha.core.registry import Registry, get_registry

#: The fixed slope of `lrelu_forward` / `lrelu_backward` (Mocha's LReLU, not configurable).
LRELU_SLOPE = 0.01


class KernelTable:
    """Named kernels resolved for one backend: its own implementation, else the generic one."""

    def __init__(self, backend: Backend, impls: dict[str, dict[str, Callable[..., Any]]]):
        self._backend = backend
        self._impls = impls  # kernel name -> {backend name or "*": impl}

    def resolve(self, name: str) -> Callable[..., Any]:
        table = self._impls.get(name)
        if not table:
            known = ", ".join(sorted(self._impls)) or "(none)"
            raise AttributeError(f"unknown kernel {name!r}; registered kernels: {known}")
        impl = table.get(self._backend.name) or table.get("*")
        if impl is None:
            raise AttributeError(
                f"kernel {name!r} has no implementation for backend {self._backend.name!r} "
                f"and no generic ('*') version"
            )
        return functools.partial(impl, self._backend)

    def generic(self, name: str) -> Callable[..., Any]:
        """The generic (`"*"`) implementation of `name`, bound to this backend (what a
        backend's own kernel falls back to for inputs it does not handle)."""
        impl = self._impls.get(name, {}).get("*")
        if impl is None:
            raise AttributeError(f"kernel {name!r} has no generic ('*') version")
        return functools.partial(impl, self._backend)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        bound = self.resolve(name)
        setattr(self, name, bound)  # cache: later lookups are plain attribute reads
        return bound

    def names(self) -> list[str]:
        return sorted(self._impls)

    def implementation_of(self, name: str) -> str:
        """Which registration serves `name` on this backend (its backend name or "*")."""
        table = self._impls.get(name, {})
        return self._backend.name if self._backend.name in table else "*"


class Backend:
    """Base class of the backends. Subclasses set `name`, `priority` and `xp`.

    Construct with `dtype` (float32 by default, float64 for gradient checks), `seed` and
    `threads` (how many CPU threads the backend may use; default: the cores this process may
    run on, `available_cores()`). A CPU backend applies its thread count to the thread pools
    it uses (BLAS, numba) in `init()` and restores them in `shutdown()`.
    """

    name: ClassVar[str] = "abstract"
    priority: ClassVar[int] = 0
    device: ClassVar[str] = "cpu"  # "cpu" or "gpu"
    xp: Any = np

    def __init__(self, dtype: Any = "float32", seed: int = 0, threads: int | None = None) -> None:
        self.dtype = np.dtype(dtype)
        self.threads = check_threads(threads)
        self.threads_given = threads is not None  # else the default, which a backend may lower
        if self.dtype not in (np.dtype("float32"), np.dtype("float64")):
            raise ValueError(f"backend dtype must be float32 or float64, not {self.dtype}")
        self.seed = int(seed)
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        self.param_registry: dict[str, list[Any]] = {}
        self.initialized = False
        # the registry whose kernel table this backend uses: the one that made it
        # (`make_backend`), else the process-wide one
        self.registry: Registry | None = None
        self._kernels: KernelTable | None = None
        self._workspaces: dict[tuple[str, np.dtype], Any] = {}

    # -- availability --------------------------------------------------------------------
    @classmethod
    def why_unavailable(cls) -> str | None:
        """None when the backend can be used here, else a one-line reason."""
        return None

    @classmethod
    def is_available(cls) -> bool:
        return cls.why_unavailable() is None

    # -- lifecycle -----------------------------------------------------------------------
    def init(self) -> None:
        self.initialized = True

    def shutdown(self) -> None:
        self.param_registry.clear()
        self._workspaces.clear()
        self.initialized = False

    @property
    def kernels(self) -> KernelTable:
        if self._kernels is None:
            registry = self.registry or get_registry()
            self._kernels = KernelTable(self, registry.kernel_table())
        return self._kernels

    def thread_info(self) -> dict[str, Any]:
        """The thread pools this backend uses, for reports (`mocha bench`): at least
        `threads`, the backend's own count."""
        return {"threads": self.threads}

    # -- arrays and blobs ----------------------------------------------------------------
    def asarray(self, host: Any, dtype: Any = None) -> Any:
        """Move a host array to this backend (a copy on the GPU, a cast/view on the CPU)."""
        return self.xp.asarray(host, dtype=dtype or self.dtype)

    def to_host(self, array: Any) -> np.ndarray:
        return np.asarray(array)

    def empty(self, shape: tuple[int, ...], dtype: Any = None) -> Blob:
        return Blob(self.xp.empty(tuple(shape), dtype=dtype or self.dtype), self)

    def zeros(self, shape: tuple[int, ...], dtype: Any = None) -> Blob:
        return Blob(self.xp.zeros(tuple(shape), dtype=dtype or self.dtype), self)

    def from_host(self, host: Any, dtype: Any = None) -> Blob:
        return Blob(self.xp.array(host, dtype=dtype or self.dtype, copy=True), self)

    def synchronize(self) -> None:
        """Wait for queued device work (no-op on the CPU)."""

    def workspace(self, role: str, shape: tuple[int, ...], dtype: Any) -> Any:
        """A scratch array of `shape` for `role`, reused across calls (contents undefined).

        One flat buffer per (role, dtype), grown to the largest request; a view of it is valid
        until the next request for the same role, so kernels use it only within one call and
        never return it. Like the RNG, workspaces make a backend object unfit for concurrent
        use by several threads (a kernel's own threads use distinct roles).
        """
        dtype = np.dtype(dtype)
        size = math.prod(shape)
        buf = self._workspaces.get((role, dtype))
        if buf is None or buf.size < size:
            buf = self.xp.empty(size, dtype=dtype)
            self._workspaces[(role, dtype)] = buf
        return buf[:size].reshape(shape)

    # -- randomness ----------------------------------------------------------------------
    def random_uniform(self, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0) -> Any:
        """Uniform samples drawn from the backend's seeded RNG, as a backend array."""
        host = self.rng.random(size=tuple(shape), dtype=np.float64) * (high - low) + low
        return self.asarray(host)

    def random_normal(self, shape: tuple[int, ...], mean: float = 0.0, std: float = 1.0) -> Any:
        host = self.rng.standard_normal(size=tuple(shape), dtype=np.float64) * std + mean
        return self.asarray(host)

    def rng_state(self) -> dict[str, Any]:
        return self.rng.bit_generator.state

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dtype={self.dtype.name}, seed={self.seed})"


def available_cores() -> int:
    """How many CPU cores this process may run on (its affinity mask; `os.cpu_count()` where
    the platform has no affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_threads(threads: Any) -> int:
    """`threads` as a thread count >= 1 (None: `available_cores()`); a ValueError naming the
    value otherwise."""
    if threads is None:
        return available_cores()
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise ValueError(f"backend threads must be a whole number >= 1, not {threads!r}")
    return int(threads)


def write_into(out: Any, result: Any) -> Any:
    """The kernel table's `out=` convention: `result` itself when `out` is None or is
    `result`, else `result` copied into `out`, which is returned."""
    if out is None or result is out:
        return result
    out[...] = result
    return out


def registry_reset(backend: Backend) -> None:
    """Forget every shared parameter registered on `backend` (Mocha's `registry_reset`)."""
    backend.param_registry.clear()


def init(backend: Backend) -> None:
    backend.init()


def shutdown(backend: Backend) -> None:
    backend.shutdown()
