"""Every kernel on the session's backends (the `backend` fixture: NumPy, Numba, the emulated GPU,
and CuPy on a machine with a GPU: `benchmarks/gpu/run.sh`):

* it agrees with the generic kernel on the NumPy reference within float32 tolerance
  (`backend_tolerance`: another summation order, e.g. cuBLAS's, changes the last bits);
* two runs on the same inputs are BITWISE equal (what exact resume needs), except
  `max_pool_backward` with overlapping windows, whose scatter-add uses atomics on a GPU: there
  two runs may differ by float32 rounding of the few terms a cell sums (rtol 1e-6);
* on the emulated GPU, `im2col` and `col2im` issue as many device operations for a 5x5 kernel
  as for a 1x1 one (not one launch per kernel offset), and the GPU path of `col2im` agrees
  with the CPU's loop on hypothesis-drawn geometries.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mocha.testing import backend_tolerance, reference_backend

RNG = np.random.default_rng(5)
X = RNG.standard_normal((2, 3, 7, 6)).astype(np.float32)
W = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
B = RNG.standard_normal(4).astype(np.float32)
GY_CONV = RNG.standard_normal((2, 4, 4, 3)).astype(np.float32)  # conv pad 1, stride 2
A = RNG.standard_normal((5, 7)).astype(np.float32)
M = RNG.standard_normal((7, 3)).astype(np.float32)
POOL = {"overlapping": ((3, 3), (1, 1), (2, 2)), "disjoint": ((2, 2), (0, 0), (2, 2))}


def _pool_hw(kernel, pad, stride):
    sizes = zip(X.shape[-2:], kernel, pad, stride, strict=True)
    return tuple(-(-(n + 2 * p - k) // s) + 1 for n, k, p, s in sizes)  # ceil, as Pooling


def _cases() -> dict[str, tuple[str, tuple[Any, ...], dict[str, Any]]]:
    cases = {
        "im2col": ("im2col", (X, (3, 3), (1, 1), (2, 2)), {}),
        "col2im": (
            "col2im",
            (RNG.standard_normal((27, 24)).astype(np.float32), X.shape, (3, 3), (1, 1), (2, 2)),
            {},
        ),
        "conv_forward": ("conv_forward", (X, W, B, (1, 1), (2, 2), 1), {}),
        "conv_backward": ("conv_backward", (X, W, GY_CONV, (1, 1), (2, 2), 1, True), {}),
        "lrn_forward": ("lrn_forward", (X, 3, 1e-2, 0.75, 1.0, "across_channel"), {}),
        "softmax": ("softmax", (X, 1), {}),
        "gemm": ("gemm", (A, M), {}),
        "relu_forward": ("relu_forward", (X, 0.0), {}),
        "sigmoid_forward": ("sigmoid_forward", (X,), {}),
    }
    for kind, (kernel, pad, stride) in POOL.items():
        hw = _pool_hw(kernel, pad, stride)
        cases[f"max_pool_forward-{kind}"] = ("max_pool_forward", (X, kernel, pad, stride, hw), {})
        cases[f"avg_pool_backward-{kind}"] = (
            "avg_pool_backward",
            (RNG.standard_normal((2, 3, *hw)).astype(np.float32), X.shape, kernel, pad, stride),
            {},
        )
    return cases


CASES = _cases()


def _run(backend, name, args, kwargs):
    moved = [backend.asarray(a, a.dtype) if isinstance(a, np.ndarray) else a for a in args]
    out = backend.kernels.resolve(name)(*moved, **kwargs)
    outs = out if isinstance(out, tuple) else (out,)
    return [None if o is None else backend.to_host(o) for o in outs]


@pytest.mark.parametrize("case", sorted(CASES))
def test_kernel_agrees_with_the_reference_and_is_deterministic(backend, case):
    name, args, kwargs = CASES[case]
    ref = _run(reference_backend(np.float32), name, args, kwargs)
    first = _run(backend, name, args, kwargs)
    second = _run(backend, name, args, kwargs)
    for r, a, b in zip(ref, first, second, strict=True):
        if r is None:
            assert a is None and b is None
            continue
        np.testing.assert_allclose(a, r, **backend_tolerance(np.float32), err_msg=case)
        np.testing.assert_array_equal(a, b, err_msg=f"{case}: two runs differ")


@pytest.mark.parametrize("kind", sorted(POOL))
def test_max_pool_backward_run_to_run(backend, kind):
    kernel, pad, stride = POOL[kind]
    hw = _pool_hw(kernel, pad, stride)
    _, index = _run(backend, "max_pool_forward", (X, kernel, pad, stride, hw), {})
    gy = RNG.standard_normal((2, 3, *hw)).astype(np.float32)
    args = (gy, index, X.shape)
    ref = _run(reference_backend(np.float32), "max_pool_backward", args, {})[0]
    first = _run(backend, "max_pool_backward", args, {})[0]
    second = _run(backend, "max_pool_backward", args, {})[0]
    np.testing.assert_allclose(first, ref, **backend_tolerance(np.float32))
    if kind == "disjoint":  # at most one term per cell: exact, whatever the order
        np.testing.assert_array_equal(first, second)
    else:  # a GPU's atomic adds may sum a cell's (<= 4) terms in another order
        np.testing.assert_allclose(first, second, rtol=1e-6, atol=1e-7)


def test_im2col_is_one_device_operation_whatever_the_kernel_size():
    from mocha.testing.emulated_gpu import EMULATED_CUPY, EmulatedGpuBackend

    backend = EmulatedGpuBackend(dtype="float32")
    x = backend.asarray(X)
    ops = {}
    for k in (1, 5):
        before = EMULATED_CUPY.stats["ops"]
        col = backend.kernels.im2col(x, (k, k), (2, 2), (1, 1))
        ops[k] = EMULATED_CUPY.stats["ops"] - before
        ref = reference_backend(np.float32).kernels.im2col(X, (k, k), (2, 2), (1, 1))
        np.testing.assert_array_equal(backend.to_host(col), ref)
    assert ops[1] == ops[5] <= 6, ops


def test_col2im_is_three_device_operations_whatever_the_kernel_size():
    from mocha.testing.emulated_gpu import EMULATED_CUPY, EmulatedGpuBackend

    backend = EmulatedGpuBackend(dtype="float32")
    ops = {}
    for k in (1, 5):
        rows, cols = 3 * k * k, 2 * ((7 + 4 - k) // 1 + 1) * ((6 + 4 - k) // 1 + 1)
        col = RNG.standard_normal((rows, cols)).astype(np.float32)
        before = EMULATED_CUPY.stats["ops"]
        x = backend.kernels.col2im(backend.asarray(col), X.shape, (k, k), (2, 2), (1, 1))
        ops[k] = EMULATED_CUPY.stats["ops"] - before
        ref = reference_backend(np.float32).kernels.col2im(col, X.shape, (k, k), (2, 2), (1, 1))
        np.testing.assert_allclose(backend.to_host(x), ref, rtol=1e-5, atol=1e-6)
    assert ops[1] == ops[5] <= 8, ops


@given(
    shape=st.tuples(*(st.integers(1, 3),) * 2, *(st.integers(1, 8),) * 2),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    pad=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    seed=st.integers(0, 2**16),
)
def test_the_gpu_col2im_agrees_with_the_cpu_loop(shape, kernel, pad, stride, seed):
    from mocha.testing.emulated_gpu import EmulatedGpuBackend

    N, C, H, W_ = shape
    sizes = zip((H, W_), kernel, pad, stride, strict=True)
    oh, ow = ((n + 2 * p - k) // s + 1 for n, k, p, s in sizes)
    if oh < 1 or ow < 1:
        return  # the kernel does not fit (the layers refuse it before calling)
    col = np.random.default_rng(seed).standard_normal((C * kernel[0] * kernel[1], N * oh * ow))
    gpu = EmulatedGpuBackend(dtype="float64")
    got = gpu.to_host(gpu.kernels.col2im(gpu.asarray(col), shape, kernel, pad, stride))
    want = reference_backend("float64").kernels.col2im(col, shape, kernel, pad, stride)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
