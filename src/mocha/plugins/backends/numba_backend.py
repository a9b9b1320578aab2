"""The Numba CPU backend: NumPy arrays, hot kernels compiled with Numba.

`NumbaBackend` ("numba") ranks above the NumPy reference backend, so `CPUBackend()` and
`DefaultBackend()` pick it whenever numba imports. Its array module is NumPy; it overrides the
hot kernels of the kernel table (convolution, pooling, LRN, softmax) with compiled loops from
`numba_kernels` and leaves the rest (`gemm`, ...) to the generic versions.

Importing this module does not import numba: `why_unavailable()` imports it when asked, and the
kernels load `numba_kernels` on their first call. The compiled loops are cached on disk
(`cache=True`), so only the very first run on a machine pays the compilation.

Convolution is im2col into a cached workspace (a compiled, plane-parallel gather), then one
BLAS matrix product per group over a cache-sized chunk of the mini-batch (`numpy.matmul`,
threaded by OpenBLAS), then one pass that reorders and adds the bias, written straight into the
caller's `out`. With a `cache` dict (the convolution layer keeps one per bottom) the columns of
the whole batch are kept there and the backward pass reuses them instead of a second im2col;
it then overwrites them with the column gradient, which a compiled, plane-parallel `col2im`
sums back. The gather loops use fixed-trip inner loops with a bounds test per element, which
compiled 2-4x faster than loops over precomputed clipped ranges (and than NumPy's strided
copy). Workspaces are kept per backend (one flat buffer
per role and dtype, grown to the largest layer), so a training loop allocates no scratch
memory after its first iteration; kernel OUTPUTS are always fresh arrays (or the caller's
`out=`), never workspace views.
"""

from __future__ import annotations

import math
import os
from types import ModuleType
from typing import Any

import numpy as np

from mocha.core.backend import Backend
from mocha.core.hookspecs import hookimpl

Pair = tuple[int, int]

_KERNELS: ModuleType | None = None


def _k() -> ModuleType:
    """The compiled kernels module, imported (and numba with it) on first use."""
    global _KERNELS
    if _KERNELS is None:
        # numba's OpenMP pool is started on the first parallel kernel. With the default
        # (spinning) wait policy its idle workers fight OpenBLAS's threads for the cores
        # between kernels: LeNet training at 2 threads ran ~5x slower than at 1 thread here.
        # Sleeping workers cost microseconds per kernel. An explicit setting wins.
        if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        from mocha.plugins.backends import numba_kernels

        _KERNELS = numba_kernels
    return _KERNELS


#: Below this many elements a kernel runs on the calling thread only: waking numba's sleeping
#: workers costs more than the work (batch-1 latency at 2 threads: LeNet 0.29 -> 0.15 ms at
#: 1 << 15; CIFAR-10 0.61 -> 0.50 ms going from 1 << 15 to 1 << 17).
SERIAL_BELOW = 1 << 17


def _threads() -> int:
    """numba's thread count (the kernels' and, by convention, OpenBLAS's)."""
    _k()
    import numba

    return numba.get_num_threads()


def _run(kernel: Any, size: int, *args: Any) -> None:
    """Call compiled kernel `kernel` (a name in `numba_kernels`, or a compiled function of
    another module); serially (one thread) when `size` is below `SERIAL_BELOW`."""
    fn = getattr(_k(), kernel) if isinstance(kernel, str) else kernel
    if size >= SERIAL_BELOW:
        fn(*args)
        return
    import numba

    threads = numba.get_num_threads()
    if threads == 1:
        fn(*args)
        return
    numba.set_num_threads(1)
    try:
        fn(*args)
    finally:
        numba.set_num_threads(threads)


class NumbaBackend(Backend):
    """NumPy arrays with Numba-compiled kernels. `NumbaBackend(dtype="float32", seed=0)`.

    Threads: the compiled loops use numba's thread pool (`NUMBA_NUM_THREADS`), the matrix
    products OpenBLAS's (`OMP_NUM_THREADS` / `OPENBLAS_NUM_THREADS` or threadpoolctl). Unless
    `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT` is set, the first kernel call sets
    `OMP_WAIT_POLICY=PASSIVE` before numba starts its OpenMP pool, so that idle workers sleep
    instead of spinning against OpenBLAS's threads.
    """

    name = "numba"
    priority = 20
    #: Convolutions run over chunks of the mini-batch whose im2col columns take at most this
    #: many bytes (so they stay in cache); 0 means the whole batch at once. With more than one
    #: thread the budget is 4x as large: OpenBLAS splits each product between the threads, and
    #: products over few columns did not scale (CIFAR-10 conv2 at 2 threads: 2 images per
    #: chunk ran its forward product at 113 GFLOP/s, 8 images at 222).
    conv_chunk_bytes: int = 2 << 20
    #: The convolution layer's cache keeps the im2col columns of the whole batch for the
    #: backward pass only up to this many bytes (they should stay in the last-level cache;
    #: beyond it, writing them to memory and reading them back cost more than a second
    #: im2col of each chunk in the backward pass). 0: never keep.
    conv_keep_cols_bytes: int = 16 << 20
    device = "cpu"
    xp = np

    def __init__(self, dtype: Any = "float32", seed: int = 0) -> None:
        super().__init__(dtype=dtype, seed=seed)
        self._workspaces: dict[tuple[str, np.dtype], np.ndarray] = {}

    @classmethod
    def why_unavailable(cls) -> str | None:
        try:
            import numba  # noqa: F401
        except Exception as exc:  # ImportError, or a numba that refuses this numpy
            return f"numba cannot be imported ({type(exc).__name__}: {exc})"
        return None

    def workspace(self, role: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A scratch array of `shape` for `role`, reused across calls (contents undefined).

        One flat buffer per (role, dtype), grown to the largest request; a view of it is valid
        until the next request for the same role, so kernels use it only within one call. Like
        the RNG, workspaces make a backend object unfit for concurrent use by several threads.
        """
        dtype = np.dtype(dtype)
        size = math.prod(shape)
        buf = self._workspaces.get((role, dtype))
        if buf is None or buf.size < size:
            buf = np.empty(size, dtype=dtype)
            self._workspaces[(role, dtype)] = buf
        return buf[:size].reshape(shape)

    def shutdown(self) -> None:
        self._workspaces.clear()
        super().shutdown()


def _workspace(backend: Any, role: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    get = getattr(backend, "workspace", None)
    return get(role, shape, dtype) if get is not None else np.empty(shape, dtype=dtype)


def _out_size(size: int, kernel: int, pad: int, stride: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _conv_geometry(shape: tuple[int, ...], kernel: Pair, pad: Pair, stride: Pair):
    H, W = shape[-2:]
    oh, ow = (_out_size(H, kernel[0], pad[0], stride[0]),
              _out_size(W, kernel[1], pad[1], stride[1]))
    if oh < 1 or ow < 1:
        raise ValueError(f"kernel {kernel} with pad {pad} does not fit an image of {H}x{W}")
    return oh, ow


def _c(a: Any, dtype: Any = None) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=dtype)


def _fill_col(backend: Any, x: np.ndarray, kernel: Pair, pad: Pair, stride: Pair,
              out_hw: Pair, col: np.ndarray | None = None) -> np.ndarray:
    """im2col of the batch into the "col" workspace (or `col`): col[C*kh*kw, N*oh*ow]
    (generic layout), by the compiled, plane-parallel `im2col` loop (zero padding inline)."""
    N, C = x.shape[:2]
    (kh, kw), (oh, ow) = kernel, out_hw
    if col is None:
        col = _workspace(backend, "col", (C * kh * kw, N * oh * ow), x.dtype)
    _run("im2col", col.size, x, kh, kw, *pad, *stride, oh, ow, col)
    return col


# -- convolution -----------------------------------------------------------------------------
def im2col(backend: Any, x: Any, kernel: Pair, pad: Pair, stride: Pair) -> np.ndarray:
    """x[C,H,W] -> col[C*kh*kw, oh*ow] or x[N,C,H,W] -> col[C*kh*kw, N*oh*ow] (as generic)."""
    x4 = _c(x[None] if x.ndim == 3 else x)
    out_hw = _conv_geometry(x4.shape, kernel, pad, stride)
    return _fill_col(None, x4, kernel, pad, stride, out_hw).copy()


def col2im(backend: Any, col: Any, x_shape: tuple[int, ...], kernel: Pair, pad: Pair,
           stride: Pair) -> np.ndarray:
    """Adjoint of `im2col` (overlaps sum) back to an image of `x_shape` (3-D or 4-D)."""
    single = len(x_shape) == 3
    shape4 = (1, *x_shape) if single else tuple(x_shape)
    oh, ow = _conv_geometry(shape4, kernel, pad, stride)
    col = _c(col).reshape(shape4[1] * kernel[0] * kernel[1], -1)
    x = np.empty(shape4, dtype=col.dtype)
    _run("col2im", col.size, col, *kernel, *pad, *stride, oh, ow, x)
    return x[0] if single else x


def _chunks(backend: Any, N: int, col_bytes_per_image: int) -> list[tuple[int, int]]:
    """Split the batch so that one chunk's columns fit the backend's `conv_chunk_bytes`
    (4x that with more than one thread)."""
    budget = getattr(backend, "conv_chunk_bytes", 0) or N * col_bytes_per_image
    if budget < N * col_bytes_per_image and _threads() > 1:
        budget *= 4
    B = max(1, min(N, budget // max(col_bytes_per_image, 1)))
    return [(n0, min(N, n0 + B)) for n0 in range(0, N, B)]


def _cache_key(x: np.ndarray, kernel: Pair, pad: Pair, stride: Pair) -> tuple:
    return (x.ctypes.data, x.shape, x.strides, x.dtype.str, tuple(kernel), tuple(pad),
            tuple(stride))


def _cached_cols(cache: Any, size: int, dtype: np.dtype) -> np.ndarray:
    """The caller-owned flat buffer for the columns of a whole batch (grown as needed)."""
    buf = cache.get("cols")
    if buf is None or buf.size < size or buf.dtype != dtype:
        buf = np.empty(size, dtype=dtype)
        cache["cols"] = buf
    return buf


def conv_forward(backend: Any, x: Any, w: Any, b: Any, pad: Pair, stride: Pair, groups: int,
                 out: Any = None, cache: Any = None) -> np.ndarray:
    """Grouped cross-correlation plus bias (see `kernels_conv.conv_forward`); `out` optional.

    Per chunk of images: im2col into the "col" workspace, one GEMM per group into the
    "conv_y" workspace Y[F, B*oh*ow], then one pass y[n, f] = Y[f, n] + b[f]. With a `cache`
    dict the columns go to a buffer kept in it instead (one contiguous block per chunk), and
    `conv_backward` with the same cache and the same (unchanged) x reuses them."""
    dtype = np.result_type(x.dtype, w.dtype)
    x, w = _c(x, dtype), _c(w, dtype)
    N, C = x.shape[:2]
    F, Cg, kh, kw = w.shape
    oh, ow = _conv_geometry(x.shape, (kh, kw), pad, stride)
    K, S, Fg = Cg * kh * kw, oh * ow, F // groups
    wm = w.reshape(F, K)
    y = np.empty((N, F, oh, ow), dtype=dtype) if out is None else out
    bias = None if b is None else np.asarray(b, dtype).reshape(1, F, 1, 1)
    bias3 = np.zeros(0, dtype) if b is None else _c(b, dtype).reshape(F)
    CK = C * kh * kw
    cols = None
    if cache is not None and N * CK * S * dtype.itemsize > getattr(
            backend, "conv_keep_cols_bytes", 1 << 62):
        cache["key"] = None
        cache.pop("cols", None)
        cache = None
    if cache is not None:
        cols = _cached_cols(cache, N * CK * S, dtype)
        cache["key"] = None
    elif y.flags.c_contiguous and y.dtype == dtype and _rows().eligible(
            x.shape, w.shape, pad, stride, groups):
        _rows().forward(backend, x, w, b, pad, y)
        return y
    for n0, n1 in _chunks(backend, N, C * kh * kw * S * dtype.itemsize):
        target = None if cols is None else cols[n0 * CK * S:n1 * CK * S].reshape(CK, -1)
        col = _fill_col(backend, x[n0:n1], (kh, kw), pad, stride, (oh, ow), target)
        Y = _workspace(backend, "conv_y", (F, (n1 - n0) * S), dtype)
        if groups == 1:
            np.matmul(wm, col, out=Y)
        else:
            for g in range(groups):
                fs, ks = slice(g * Fg, (g + 1) * Fg), slice(g * K, (g + 1) * K)
                np.matmul(wm[fs], col[ks], out=Y[fs])
        yc = y[n0:n1]
        if yc.flags.c_contiguous:
            _run("swap01", yc.size, Y.reshape(F, n1 - n0, S), bias3, yc.reshape(n1 - n0, F, S))
        else:
            src = Y.reshape(F, n1 - n0, oh, ow).transpose(1, 0, 2, 3)
            if bias is None:
                np.copyto(yc, src)
            else:
                np.add(src, bias, out=yc)
    if cache is not None:
        cache["key"] = _cache_key(x, (kh, kw), pad, stride)
    return y


def _out_or(o: Any, shape: tuple[int, ...], dtype: np.dtype, fill: bool = False) -> np.ndarray:
    """`o` when it can be written directly (C-contiguous, right shape and dtype), else new."""
    if (o is not None and isinstance(o, np.ndarray) and o.dtype == dtype
            and o.shape == tuple(shape) and o.flags.c_contiguous):
        if fill:
            o.fill(0)
        return o
    return np.zeros(shape, dtype=dtype) if fill else np.empty(shape, dtype=dtype)


def conv_backward(backend: Any, x: Any, w: Any, gy: Any, pad: Pair, stride: Pair, groups: int,
                  need_dx: bool = True, out: Any = None,
                  cache: Any = None) -> tuple[Any, np.ndarray, np.ndarray]:
    """(dx | None, dw, db) of `conv_forward` (see `kernels_conv.conv_backward`).

    `out` = (dx | None, dw | None, db | None) are written directly where their layout allows
    (else copied into). With the `cache` of the `conv_forward` of this very x, its columns are
    reused instead of a second im2col (the column buffer then holds dcol, so the cache entry is
    dropped when dx is computed).

    Per chunk of images: G[F, B*oh*ow] (workspace) = gy reordered; dW_gᵀ += col_g @ G_gᵀ;
    dcol_g = W_gᵀ @ G_g is written over the column workspace, then the compiled `col2im` sums
    it into the chunk of dx."""
    dtype = np.result_type(x.dtype, w.dtype, gy.dtype)
    x, w, gy = _c(x, dtype), _c(w, dtype), _c(gy, dtype)
    N, C = x.shape[:2]
    F, Cg, kh, kw = w.shape
    oh, ow = gy.shape[2:]
    K, S, Fg = Cg * kh * kw, oh * ow, F // groups
    wm = w.reshape(F, K)
    slices = [(slice(g * Fg, (g + 1) * Fg), slice(g * K, (g + 1) * K)) for g in range(groups)]
    o_dx, o_dw, o_db = (None, None, None) if out is None else out
    dw4 = _out_or(o_dw, w.shape, dtype)
    dw = dw4.reshape(F, K)
    db = _out_or(o_db, (F,), dtype, fill=True)
    dx = _out_or(o_dx, x.shape, dtype) if need_dx else None
    CK = C * kh * kw
    cols = None
    if cache is not None and cache.get("key") == _cache_key(x, (kh, kw), pad, stride):
        cols = cache["cols"]
        if need_dx:
            cache["key"] = None
    if cols is None and (dx is None or dx.flags.c_contiguous) and _rows().eligible(
            x.shape, w.shape, pad, stride, groups, backward=True):
        _rows().backward(backend, x, w, gy, pad, dw4, db, dx)
        return _finish((dx, dw4, db), (o_dx, o_dw, o_db))
    dwt = _workspace(backend, "conv_dwt", (groups, K, Fg), dtype)
    for i, (n0, n1) in enumerate(_chunks(backend, N, C * kh * kw * S * dtype.itemsize)):
        nb = n1 - n0
        G = _workspace(backend, "conv_y", (F, nb * S), dtype)
        sums = _workspace(backend, "conv_db", (F, nb), np.float64)
        _run("swap01_rowsum", G.size, gy[n0:n1].reshape(nb, F, S), G.reshape(F, nb, S), sums)
        db += sums.sum(axis=1)
        if cols is not None:
            col = cols[n0 * CK * S:n1 * CK * S].reshape(CK, nb * S)
        else:
            col = _fill_col(backend, x[n0:n1], (kh, kw), pad, stride, (oh, ow))
        # ∇W as its transpose, colᵀ-major: dWᵀ_g[K, Fg] = col_g @ G_gᵀ runs 1.5-2x faster
        # in OpenBLAS than G_g @ col_gᵀ for these shapes (K large, Fg small)
        part = dwt if i == 0 else _workspace(backend, "conv_dwt_part", dwt.shape, dtype)
        for g, (fs, ks) in enumerate(slices):
            np.matmul(col[ks], G[fs].T, out=part[g])
        if i:
            dwt += part
        if dx is not None:
            dcol = col  # the columns are no longer needed: reuse their workspace
            for fs, ks in slices:
                np.matmul(wm[fs].T, G[fs], out=dcol[ks])
            _run("col2im", dcol.size, dcol, kh, kw, *pad, *stride, oh, ow, dx[n0:n1])
    for g, (fs, _ks) in enumerate(slices):
        dw[fs] = dwt[g].T
    return _finish((dx, dw4, db), (o_dx, o_dw, o_db))


def _finish(res: tuple, outs: tuple) -> tuple[Any, np.ndarray, np.ndarray]:
    """The results, copied into the caller's `out` arrays they were not written into."""
    done = [r if o is None or r is None else _result(o, r) for r, o in zip(res, outs)]
    return done[0], done[1], done[2]


def _rows() -> ModuleType:
    from mocha.plugins.backends import numba_rowconv

    return numba_rowconv


# -- pooling ---------------------------------------------------------------------------------
def _result(o: Any, res: np.ndarray) -> np.ndarray:
    """The caller's `o` holding `res` (copied when the kernel could not write into it)."""
    if o is None or res is o:
        return res
    o[...] = res
    return o


def max_pool_forward(backend: Any, x: Any, kernel: Pair, pad: Pair, stride: Pair,
                     out_hw: Pair, out: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(y, argmax_index) as `kernels_pool.max_pool_forward` (int64 flat h*W + w); `out` =
    (y | None, argmax_index | None) are written directly when C-contiguous."""
    x = _c(x)
    shape = (*x.shape[:2], *out_hw)
    o_y, o_i = (None, None) if out is None else out
    y, index = _out_or(o_y, shape, x.dtype), _out_or(o_i, shape, np.dtype(np.int64))
    _run("max_pool_forward", x.size, x, *kernel, *pad, *stride, y, index)
    return _result(o_y, y), _result(o_i, index)


def max_pool_backward(backend: Any, gy: Any, argmax_index: Any,
                      x_shape: tuple[int, ...], out: Any = None) -> np.ndarray:
    """gx with every top gradient added at its argmax cell (into `out` when given)."""
    gy = _c(gy)
    gx = _out_or(out, tuple(x_shape), gy.dtype)
    _run("max_pool_backward", gx.size, gy, _c(argmax_index, np.int64), gx)
    return _result(out, gx)


def avg_pool_forward(backend: Any, x: Any, kernel: Pair, pad: Pair, stride: Pair,
                     out_hw: Pair, out: Any = None) -> np.ndarray:
    """Mean pooling dividing by the full window, as `kernels_pool.avg_pool_forward`."""
    x = _c(x)
    y = _out_or(out, (*x.shape[:2], *out_hw), x.dtype)
    _run("avg_pool_forward", x.size, x, *kernel, *pad, *stride, y)
    return _result(out, y)


def avg_pool_backward(backend: Any, gy: Any, x_shape: tuple[int, ...], kernel: Pair, pad: Pair,
                      stride: Pair, out: Any = None) -> np.ndarray:
    """Adjoint of `avg_pool_forward` (into `out` when given)."""
    gy = _c(gy)
    gx = _out_or(out, tuple(x_shape), gy.dtype)
    _run("avg_pool_backward", gx.size, gy, *kernel, *pad, *stride, gx)
    return _result(out, gx)


# -- LRN and softmax --------------------------------------------------------------------------
def _lrn_setup(x: Any, kernel: int, mode: str) -> tuple[np.ndarray, int, int, int]:
    if mode not in ("across_channel", "within_channel"):
        raise ValueError(f"unknown LRN mode {mode!r}; expected one of "
                         f"('across_channel', 'within_channel')")
    pre = (kernel - 1) // 2
    x = _c(x)
    if mode == "across_channel":
        return x.reshape(x.shape[0], x.shape[1], -1), pre, kernel - 1 - pre, kernel
    return x, pre, kernel - 1 - pre, kernel * kernel


def lrn_forward(backend: Any, x: Any, kernel: int, scale: float, power: float, shift: float,
                mode: str, out: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(y, denom) as `kernels_lrn.lrn_forward`; `out` = (y | None, denom | None)."""
    xv, pre, post, n = _lrn_setup(x, kernel, mode)
    o_y, o_d = (None, None) if out is None else out
    y, denom = _out_or(o_y, x.shape, xv.dtype), _out_or(o_d, x.shape, xv.dtype)
    name = "lrn_across_forward" if mode == "across_channel" else "lrn_within_forward"
    _run(name, xv.size, xv, pre, post, scale / n, float(power), float(shift),
         y.reshape(xv.shape), denom.reshape(xv.shape))
    return _result(o_y, y), _result(o_d, denom)


def lrn_backward(backend: Any, x: Any, y: Any, denom: Any, gy: Any, kernel: int, scale: float,
                 power: float, shift: float, mode: str, out: Any = None) -> np.ndarray:
    """Gradient of `lrn_forward`, as `kernels_lrn.lrn_backward` (into `out` when given)."""
    xv, pre, post, n = _lrn_setup(x, kernel, mode)
    yv, dv, gv = (_c(a, xv.dtype).reshape(xv.shape) for a in (y, denom, gy))
    gx = _out_or(out, x.shape, xv.dtype)
    coef = 2.0 * power * scale / n
    if mode == "across_channel":
        _run("lrn_across_backward", xv.size, xv, yv, dv, gv, pre, post, coef, float(power),
             gx.reshape(xv.shape))
    else:
        scratch = _workspace(backend, "lrn", xv.shape, xv.dtype)
        _run("lrn_within_backward", xv.size, xv, yv, dv, gv, pre, post, coef, float(power),
             gx, scratch)
    return _result(out, gx)


def softmax(backend: Any, x: Any, axis: int = 1, out: Any = None) -> np.ndarray:
    """Numerically stable softmax along `axis` (any axis; one compiled pass)."""
    x = _c(x)
    axis = axis + x.ndim if axis < 0 else axis
    shape3 = (math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:]))
    y = np.empty_like(x) if out is None else out
    if y.flags.c_contiguous:
        _run("softmax_ncs", x.size, x.reshape(shape3), y.reshape(shape3))
        return y
    tmp = np.empty_like(x)
    _run("softmax_ncs", x.size, x.reshape(shape3), tmp.reshape(shape3))
    y[...] = tmp
    return y


OVERRIDDEN: tuple[str, ...] = (
    "im2col", "col2im", "conv_forward", "conv_backward", "max_pool_forward",
    "max_pool_backward", "avg_pool_forward", "avg_pool_backward", "lrn_forward",
    "lrn_backward", "softmax",
)


@hookimpl
def mocha_register_backends(register):
    register(NumbaBackend)


@hookimpl
def mocha_register_kernels(register):
    for name in OVERRIDDEN:
        register(name, globals()[name], backend="numba")
