"""NumPy's own BLAS product, callable from compiled loops (`gemm`), so that a whole convolution
chunk — gather, products, reorder — is one compiled call inside one parallel region.

Why: handing work between threads costs a wake-up. On this project's 2-vCPU VM, waking an idle
vCPU takes about 0.5 ms (an inter-processor interrupt through the hypervisor), as long as a
whole LeNet convolution chunk; Python helper threads pay it on every GIL hand-over, and numba's
OpenMP workers whenever they sleep. Inside one compiled parallel region there is no GIL, and
OpenMP's workers spin briefly between regions, so the second core is there when needed:
LeNet conv2 forward, 2 threads, 4.3 ms as Python chunk threads around `numpy.matmul`, 3.0 ms
as one region calling this `gemm`.

`gemm` calls the CBLAS `sgemm`/`dgemm` of the BLAS NumPy itself links (its bundled OpenBLAS,
64-bit integers: symbols `scipy_cblas_sgemm64_` in NumPy 2 wheels, `cblas_sgemm64_` in 1.26;
a 32-bit-integer `cblas_sgemm`, as in a conda or MKL NumPy, through a small compiled shim),
so the products are exactly those of `numpy.matmul`, at the thread count the backend keeps
BLAS at (one). The function is registered with LLVM under a fixed alias (`mocha_sgemm64`), so
numba's cached machine code does not depend on the library's naming. Without any CBLAS this
module raises ImportError, and the Numba backend reports itself unavailable (the NumPy
backend serves instead).
"""

from __future__ import annotations

import ctypes
import os

import llvmlite.binding as llvm
import numpy as np
from numba import njit, prange, types

#: (sgemm, dgemm) symbol pairs of 64-bit-integer CBLAS, in the order they are looked for.
_SYMBOLS = (
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_"),
    ("cblas_sgemm64_", "cblas_dgemm64_"),
    ("cblas_sgemm_64", "cblas_dgemm_64"),
)
#: (sgemm, dgemm) pairs of 32-bit-integer CBLAS (a conda or MKL NumPy, SciPy's own OpenBLAS),
#: reached through `_lp64_shims`.
_SYMBOLS_LP64 = (
    ("cblas_sgemm", "cblas_dgemm"),
    ("scipy_cblas_sgemm", "scipy_cblas_dgemm"),
)

_I = types.int64
_J = types.int32
_P = types.intp


def _blas_files() -> list[str]:
    """Paths of the BLAS libraries loaded in this process (NumPy's own is loaded with NumPy
    itself), NumPy's first."""
    from threadpoolctl import ThreadpoolController

    paths = [c.filepath for c in ThreadpoolController().select(user_api="blas").lib_controllers]
    root = os.path.dirname(os.path.dirname(np.__file__))
    return sorted(paths, key=lambda p: not os.path.realpath(p).startswith(root))


def _signature(integer: types.Integer, real: types.Float) -> types.Signature:
    """CBLAS ?gemm: (order, transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)."""
    i = integer
    return types.void(i, i, i, i, i, i, real, _P, i, _P, i, real, _P, i)


def _lp64_shims(sgemm32: int, dgemm32: int) -> tuple[int, int]:
    """Addresses of compiled functions with the 64-bit-integer signature that call the
    32-bit-integer CBLAS at `sgemm32` / `dgemm32` (the sizes of a layer's products fit)."""
    from numba import cfunc

    llvm.add_symbol("mocha_sgemm32", sgemm32)
    llvm.add_symbol("mocha_dgemm32", dgemm32)
    s32 = types.ExternalFunction("mocha_sgemm32", _signature(_J, types.float32))
    d32 = types.ExternalFunction("mocha_dgemm32", _signature(_J, types.float64))
    i = np.int32

    @cfunc(_signature(_I, types.float32), cache=True)
    def sgemm(o, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):  # pragma: no cover
        s32(i(o), i(ta), i(tb), i(m), i(n), i(k), alpha, a, i(lda), b, i(ldb), beta, c, i(ldc))

    @cfunc(_signature(_I, types.float64), cache=True)
    def dgemm(o, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):  # pragma: no cover
        d32(i(o), i(ta), i(tb), i(m), i(n), i(k), alpha, a, i(lda), b, i(ldb), beta, c, i(ldc))

    _keep.extend((sgemm, dgemm))
    return sgemm.address, dgemm.address


_keep: list = []  # the shims' compiled functions live as long as the process


def _register(files: list[str] | None = None, wide=_SYMBOLS, narrow=_SYMBOLS_LP64) -> str:
    """Register a CBLAS s/dgemm pair under the aliases `mocha_sgemm64` / `mocha_dgemm64` (the
    64-bit-integer signature `gemm` calls), from the first library (NumPy's own first) that
    has one: 64-bit-integer symbols directly, 32-bit ones through `_lp64_shims`. Returns
    "library (symbol)"."""
    files = _blas_files() if files is None else files
    for path in files:
        lib = ctypes.CDLL(path)
        for symbols, is_wide in ((wide, True), (narrow, False)):
            for s, d in symbols:
                if hasattr(lib, s) and hasattr(lib, d):
                    found = [ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in (s, d)]
                    sgemm, dgemm = found if is_wide else _lp64_shims(*found)
                    llvm.add_symbol("mocha_sgemm64", sgemm)
                    llvm.add_symbol("mocha_dgemm64", dgemm)
                    return f"{path} ({s})"
    names = " / ".join(s for s, _ in (*wide, *narrow))
    raise ImportError(
        "the Numba backend calls the BLAS from compiled code, and found no CBLAS "
        f"({names}) in the BLAS libraries loaded ({', '.join(files) or 'none found'}); "
        "install NumPy from its wheels (pip install --force-reinstall numpy) or use the "
        "NumPy backend"
    )


LIBRARY = _register()

_sgemm = types.ExternalFunction("mocha_sgemm64", _signature(_I, types.float32))
_dgemm = types.ExternalFunction("mocha_dgemm64", _signature(_I, types.float64))
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


@njit(cache=True, nogil=True)
def _operand(a):
    """(CBLAS transpose flag, leading dimension) of a 2-D view whose rows or columns are
    contiguous (a row-major matrix or the transpose of one); (0, 0) otherwise."""
    size = a.itemsize
    rows, cols = a.shape
    r, c = a.strides[0] // size, a.strides[1] // size
    if c == 1 or cols == 1:
        return _NO_TRANS, max(r, cols, 1)
    if r == 1 or rows == 1:
        return _TRANS, max(c, rows, 1)
    return 0, 0


@njit(cache=True, nogil=True)
def gemm(a, b, c, alpha, beta):
    """c = alpha · a @ b + beta · c, for float32 or float64 2-D views a (M×K), b (K×N) whose
    rows or columns are contiguous and c (M×N) with contiguous rows (the caller's promise;
    returns False, computing nothing, when a view does not qualify or the shapes do not
    match)."""
    M, K = a.shape
    N = b.shape[1]
    ta, lda = _operand(a)
    tb, ldb = _operand(b)
    ldc = max(c.strides[0] // c.itemsize, N, 1)
    if b.shape[0] != K or c.shape[0] != M or c.shape[1] != N:
        return False
    if ta == 0 or tb == 0 or (N > 1 and c.strides[1] != c.itemsize):
        return False
    if M == 0 or N == 0:
        return True
    if c.itemsize == 4:
        _sgemm(
            _ROW_MAJOR, ta, tb, M, N, K, np.float32(alpha), a.ctypes.data, lda,
            b.ctypes.data, ldb, np.float32(beta), c.ctypes.data, ldc,
        )  # fmt: skip
    else:
        _dgemm(
            _ROW_MAJOR, ta, tb, M, N, K, np.float64(alpha), a.ctypes.data, lda,
            b.ctypes.data, ldb, np.float64(beta), c.ctypes.data, ldc,
        )  # fmt: skip
    return True


@njit(cache=True, parallel=True, nogil=True)
def gemm_rows(a, b, c, alpha, beta, bounds):
    """c = alpha · a @ b + beta · c with the rows of c cut at `bounds`, one block per
    iteration of a parallel loop (every element the same dot product as in one call)."""
    for i in prange(bounds.shape[0] - 1):
        r0, r1 = bounds[i], bounds[i + 1]
        gemm(a[r0:r1], b, c[r0:r1], alpha, beta)


@njit(cache=True, parallel=True, nogil=True)
def gemm_cols(a, b, c, alpha, beta, bounds):
    """As `gemm_rows`, the columns of c (and b) cut at `bounds`: each thread reads its own
    share of b (the larger operand of a layer's forward and ∇x products)."""
    for i in prange(bounds.shape[0] - 1):
        c0, c1 = bounds[i], bounds[i + 1]
        gemm(a, b[:, c0:c1], c[:, c0:c1], alpha, beta)
