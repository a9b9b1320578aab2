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
64-bit integers: symbols `scipy_cblas_sgemm64_` in NumPy 2 wheels, `cblas_sgemm64_` in 1.26),
so the products are exactly those of `numpy.matmul`, at the thread count the backend keeps
BLAS at (one). The symbol is registered with LLVM under a fixed alias (`mocha_sgemm64`), so
numba's cached machine code does not depend on NumPy's naming. Without such a BLAS this module
raises ImportError, and the Numba backend reports itself unavailable (the NumPy backend
serves instead).
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


def _blas_files() -> list[str]:
    """Paths of the BLAS libraries loaded in this process, NumPy's own first."""
    from threadpoolctl import ThreadpoolController

    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # NumPy's BLAS is loaded with NumPy itself
    paths = [c.filepath for c in ThreadpoolController().select(user_api="blas").lib_controllers]
    root = os.path.dirname(os.path.dirname(np.__file__))
    return sorted(paths, key=lambda p: not os.path.realpath(p).startswith(root))


def _register() -> str:
    """Register NumPy's 64-bit CBLAS s/dgemm under the aliases `mocha_sgemm64` /
    `mocha_dgemm64`; returns the library's path."""
    for path in _blas_files():
        lib = ctypes.CDLL(path)
        for s, d in _SYMBOLS:
            if hasattr(lib, s) and hasattr(lib, d):
                for alias, name in (("mocha_sgemm64", s), ("mocha_dgemm64", d)):
                    address = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
                    llvm.add_symbol(alias, address)
                return path
    raise ImportError(
        "the Numba backend calls NumPy's own BLAS from compiled code, and found no 64-bit "
        f"CBLAS ({' / '.join(s for s, _ in _SYMBOLS)}) in the BLAS libraries loaded "
        f"({', '.join(_blas_files()) or 'none found'}); "
        "install NumPy from its wheels (pip install --force-reinstall numpy) or use the "
        "NumPy backend"
    )


LIBRARY = _register()

_I = types.int64
_P = types.intp
_sgemm = types.ExternalFunction(
    "mocha_sgemm64",
    types.void(_I, _I, _I, _I, _I, _I, types.float32, _P, _I, _P, _I, types.float32, _P, _I),
)
_dgemm = types.ExternalFunction(
    "mocha_dgemm64",
    types.void(_I, _I, _I, _I, _I, _I, types.float64, _P, _I, _P, _I, types.float64, _P, _I),
)
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
