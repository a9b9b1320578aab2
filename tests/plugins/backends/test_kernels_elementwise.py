"""The elementwise kernels: neurons, dropout masks, the softmax-loss gradient.

* The generic (`"*"`) versions give bit for bit what the neurons and layers computed inline
  before they became kernels (the old expressions are the oracles below).
* The Numba versions agree with the generic ones on hypothesis-drawn shapes and values
  (float32 and float64; zeros of both signs, NaN, ±inf and values exactly at ReLU's epsilon or
  dropout's ratio): bit for bit, except exp and tanh (a few ulps), serially and on the parallel
  path, with `out` absent, in place, fresh or strided and with strided inputs; at 1 and 2
  numba threads (the `threads` fixture).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mocha.core.backend import KERNEL_NAMES, Backend
from mocha.plugins.backends.generic import elementwise as generic
from mocha.plugins.backends.numpy_backend import NumpyBackend
from mocha.plugins.components.neurons import LReLU, ReLU, Sigmoid, Tanh

DTYPES = st.sampled_from([np.float32, np.float64])
NEURON_KERNELS = ("relu", "lrelu", "sigmoid", "tanh")
INEXACT = {"sigmoid_forward", "tanh_forward"}  # exp / tanh: libm vs NumPy's SIMD routines
TOL = {np.float32: {"rtol": 1e-6, "atol": 1e-37}, np.float64: {"rtol": 1e-14, "atol": 1e-300}}
SPECIAL = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    2.0**-100,
    -(2.0**-100),
    40.0,
    -40.0,
    800.0,
    -800.0,
    np.nan,
    np.inf,
    -np.inf,
]


def numpy_backend(dtype):
    return NumpyBackend(dtype=dtype)


@st.composite
def arrays(draw, dtype, shape, special=(), low=-20.0, high=20.0):
    """Arrays of `dtype` and `shape`: finite values in [low, high) mixed with `special` ones
    (which must be exact in dtype)."""
    width = 32 if dtype == np.float32 else 64
    finite = st.floats(low, high, width=width, exclude_max=True)
    elements = st.one_of(finite, st.sampled_from(list(special))) if special else finite
    return draw(hnp.arrays(dtype, shape, elements=elements))


shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)


def same_bits(got, ref):
    """Equal dtype, shape and bits (zeros keep their sign; NaN matches NaN)."""
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    nan = np.isnan(ref)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan], ref[~nan])
    np.testing.assert_array_equal(np.signbit(got[~nan]), np.signbit(ref[~nan]))


# -- the generic kernels reproduce the old inline expressions ---------------------------------
def old_forward(name, x):
    """The neurons' forward as written inline before the kernels (in place on a copy)."""
    x = x.copy()
    xp = np
    if name == "lrelu":
        x *= xp.where(x > 0, 1.0, 0.01).astype(x.dtype)
    elif name == "sigmoid":
        e = xp.exp(-xp.abs(x))
        x[...] = xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    elif name == "tanh":
        xp.tanh(x, out=x)
    return x


def old_backward(name, y, g):
    g = g.copy()
    if name == "lrelu":
        g *= np.where(y > 0, 1.0, 0.01).astype(y.dtype)
    elif name == "sigmoid":
        g *= y * (1 - y)
    elif name == "tanh":
        g *= 1 - y * y
    return g


@pytest.mark.parametrize("name", ["lrelu", "sigmoid", "tanh"])
@given(data=st.data(), dtype=DTYPES, shape=shapes)
def test_generic_neurons_are_the_old_expressions(name, data, dtype, shape):
    b = numpy_backend(dtype)
    x = data.draw(arrays(dtype, shape, SPECIAL))
    g = data.draw(arrays(dtype, shape, SPECIAL))
    with np.errstate(all="ignore"):
        y = old_forward(name, x)
        same_bits(getattr(generic, f"{name}_forward")(b, x), y)
        same_bits(getattr(generic, f"{name}_backward")(b, y, g), old_backward(name, y, g))


@given(
    data=st.data(),
    dtype=DTYPES,
    shape=shapes,
    epsilon=st.sampled_from([0.0, 0.25, -0.5, 0.1, 1e-3]),
)
def test_generic_relu_is_the_old_expression(data, dtype, shape, epsilon):
    b = numpy_backend(dtype)
    at_eps = float(dtype(epsilon))  # values exactly at epsilon, as the array holds it
    x = data.draw(arrays(dtype, shape, [*SPECIAL, at_eps, -at_eps]))
    g = data.draw(arrays(dtype, shape, SPECIAL))
    with np.errstate(all="ignore"):
        y = x.copy()
        np.maximum(y, epsilon, out=y)
        same_bits(generic.relu_forward(b, x, epsilon), y)
        old = g.copy()
        old *= y > epsilon
        same_bits(generic.relu_backward(b, y, g, epsilon), old)
    assert not generic.relu_backward(
        b, np.full(3, at_eps, dtype), np.ones(3, dtype), epsilon
    ).any()  # the gradient is 0 at the kink


@given(
    data=st.data(),
    dtype=DTYPES,
    shape=shapes,
    ratio=st.sampled_from([0.1, 0.3, 0.5, 0.9]),
    auto_scale=st.booleans(),
)
def test_generic_dropout_is_the_old_expression(data, dtype, shape, ratio, auto_scale):
    b = numpy_backend(dtype)
    u = data.draw(arrays(dtype, shape, [float(dtype(ratio)), 0.0], low=0.0, high=1.0))
    scale = 1.0 / (1.0 - ratio) if auto_scale else 1.0
    old = np.empty(shape, dtype)
    old[...] = u > ratio
    if scale != 1.0:
        old *= scale
    mask = generic.dropout_mask(b, u, ratio, scale)
    same_bits(mask, old)
    assert set(np.unique(mask)) <= {0.0, dtype(scale)}
    x = data.draw(arrays(dtype, shape, SPECIAL))
    with np.errstate(all="ignore"):
        same_bits(generic.dropout_apply(b, x, mask), x * old)


# -- Numba versions agree with the generic ones ------------------------------------------------
@pytest.fixture(scope="module")
def nbe():
    """(numba_backend.elementwise, numba_backend) once numba imports."""
    pytest.importorskip("numba")
    from mocha.plugins.backends import numba_backend

    return numba_backend.elementwise, numba_backend


@contextlib.contextmanager
def serial_below(module, n):
    """Temporarily move the serial/parallel threshold of the Numba kernels."""
    saved = module.SERIAL_BELOW
    module.SERIAL_BELOW = n
    try:
        yield
    finally:
        module.SERIAL_BELOW = saved


ELEMENTWISE = [n for n in generic.KERNELS if n != "softmax_loss_backward"]


@st.composite
def elementwise_cases(draw, name, dtype):
    """(input arrays, scalar arguments) of kernel `name`."""
    shape = draw(shapes)
    if name == "dropout_mask":
        ratio = draw(st.sampled_from([0.1, 0.5, 0.7]))
        u = draw(arrays(dtype, shape, [float(dtype(ratio)), 0.0], low=0.0, high=1.0))
        scale = draw(st.sampled_from([1.0, 1.0 / (1.0 - ratio)]))
        return [u], [ratio, scale]
    scalars = []
    special = list(SPECIAL)
    if name.startswith("relu"):
        eps = draw(st.sampled_from([0.0, 0.1, -0.25]))
        scalars = [eps]
        special += [float(dtype(eps))]
    n_inputs = 1 if name.endswith("_forward") else 2
    return [draw(arrays(dtype, shape, special)) for _ in range(n_inputs)], scalars


def strided_like(a):
    """A non-contiguous array holding a copy of `a` (every other element of a bigger one)."""
    if a.ndim == 0:
        return a.copy()  # a 0-d array is always contiguous
    big = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), a.dtype)
    view = big[..., ::2]
    view[...] = a
    return view


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", ELEMENTWISE)
@given(
    data=st.data(),
    parallel=st.booleans(),
    out_mode=st.sampled_from(["none", "inplace", "fresh", "strided"]),
    strided_inputs=st.booleans(),
)
def test_numba_agrees_with_generic(
    nbe, threads, name, dtype, data, parallel, out_mode, strided_inputs
):
    module, backend_module = nbe
    inputs, scalars = data.draw(elementwise_cases(name, dtype))
    nb, ref_b = backend_module.NumbaBackend(dtype=dtype), numpy_backend(dtype)
    with np.errstate(all="ignore"):
        ref = getattr(generic, name)(ref_b, *inputs, *scalars)
    args = [strided_like(a) if strided_inputs else a.copy() for a in inputs]
    before = [a.copy() for a in args]
    out = {
        "none": None,
        "inplace": args[-1],
        "fresh": np.empty_like(ref),
        "strided": strided_like(np.empty_like(ref)),
    }[out_mode]
    kernel = nb.kernels.resolve(name)
    with (
        serial_below(backend_module.runtime, 0 if parallel else 1 << 62),
        np.errstate(all="ignore"),
    ):
        got = kernel(*args, *scalars, out=out)
    if out is not None:
        assert got is out
    if name in INEXACT:
        assert got.dtype == ref.dtype
        np.testing.assert_allclose(got, ref, **TOL[dtype])
    else:
        same_bits(got, ref)
    for a, b in zip(args, before):  # inputs untouched unless they are the output
        if a is not out:
            same_bits(a, b)


def special_cases(name, dtype):
    """(inputs, scalars) holding every special value (every pair of them for two inputs),
    values at and next to ReLU's epsilon and dropout's ratio, for each scalar setting."""
    if name == "dropout_mask":
        for ratio in (0.1, 0.5, 0.7):
            r = dtype(ratio)
            u = np.array([0.0, r, np.nextafter(r, 0), np.nextafter(r, 1), 0.5, 0.999], dtype)
            for scale in (1.0, 1.0 / (1.0 - ratio)):
                yield [u], [ratio, scale]
        return
    for eps in (0.0, 0.1, -0.25) if name.startswith("relu") else (None,):
        vals = list(SPECIAL)
        if eps is not None:
            e = dtype(eps)
            vals += [e, -e, np.nextafter(e, -np.inf), np.nextafter(e, np.inf)]
        vals = np.array(vals, dtype)
        scalars = [] if eps is None else [eps]
        if name.endswith("_forward"):
            yield [vals], scalars
        else:
            a, b = np.meshgrid(vals, vals)
            yield [a.copy(), b.copy()], scalars


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_numba_agrees_on_special_values(nbe, threads, name, dtype, parallel):
    module, backend_module = nbe
    nb, ref_b = backend_module.NumbaBackend(dtype=dtype), numpy_backend(dtype)
    for inputs, scalars in special_cases(name, dtype):
        with np.errstate(all="ignore"):
            ref = getattr(generic, name)(ref_b, *inputs, *scalars)
        with serial_below(backend_module.runtime, 0 if parallel else 1 << 62):
            got = nb.kernels.resolve(name)(*inputs, *scalars)
        if name in INEXACT:
            np.testing.assert_allclose(got, ref, **TOL[dtype])
        else:
            same_bits(got, ref)


def test_parallel_path_for_large_inputs_and_serial_below_the_threshold(nbe, monkeypatch):
    module, backend_module = nbe
    import numba

    nb = backend_module.NumbaBackend(dtype="float32")
    calls = []
    real = numba.set_num_threads
    monkeypatch.setattr(numba, "set_num_threads", lambda n: (calls.append(n), real(n)))
    rng = np.random.default_rng(0)
    n = backend_module.runtime.SERIAL_BELOW
    x = rng.standard_normal(n + 7).astype(np.float32).reshape(-1, 1)
    g = rng.standard_normal(x.shape).astype(np.float32)
    ref_b = numpy_backend(np.float32)
    for name, inputs in (
        ("relu_forward", [x, 0.0]),
        ("relu_backward", [x, g, 0.0]),
        ("sigmoid_forward", [x]),
        ("tanh_backward", [x, g]),
        ("dropout_apply", [x, g]),
    ):
        got = nb.kernels.resolve(name)(*inputs)
        ref = getattr(generic, name)(ref_b, *inputs)
        if name in INEXACT:
            np.testing.assert_allclose(got, ref, **TOL[np.float32])
        else:
            same_bits(got, ref)
    assert calls == []  # never narrowed to one thread
    if numba.get_num_threads() > 1:
        nb.kernels.relu_forward(x[:100], 0.0)
        assert calls == [1, numba.get_num_threads()]


def test_in_place_and_overlapping_out(nbe):
    module, backend_module = nbe
    nb = backend_module.NumbaBackend(dtype="float64")
    x = np.linspace(-2, 2, 24).reshape(4, 6)
    y = x.copy()
    assert nb.kernels.relu_forward(y, 0.0, out=y) is y
    np.testing.assert_array_equal(y, np.maximum(x, 0.0))
    # out overlapping an input at an offset: must read before writing, as NumPy does
    buf = np.linspace(-1, 1, 25)
    ref = generic.dropout_apply(numpy_backend(np.float64), buf[1:], buf[:-1])
    got = nb.kernels.dropout_apply(buf[1:], buf[:-1], out=buf[:-1])
    np.testing.assert_array_equal(got, ref)
    # mixed dtypes and broadcasting fall back to the generic kernel
    g32 = np.ones((4, 6), np.float32)
    same_bits(nb.kernels.relu_backward(x, g32, 0.0), generic.relu_backward(nb, x, g32, 0.0))
    same_bits(nb.kernels.dropout_apply(x, np.float64(2.0)), x * 2.0)


# -- softmax-loss gradient --------------------------------------------------------------------
@st.composite
def softmax_loss_cases(draw):
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=5))
    axis = draw(st.integers(1, len(shape) - 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    logits = rng.standard_normal(shape) * 3
    prob = np.exp(logits - logits.max(axis=axis, keepdims=True))
    prob = (prob / prob.sum(axis=axis, keepdims=True)).astype(dtype)
    label_shape = list(shape)
    label_shape[axis] = 1
    label = rng.integers(0, shape[axis], size=label_shape).astype(np.int64)
    w = rng.uniform(0, 2, size=label_shape).astype(dtype) if draw(st.booleans()) else None
    coef = draw(st.sampled_from([1.0, 0.3, 1 / 7]))
    return dtype, prob, label, axis, coef, w


def old_softmax_loss_backward(prob, idx, axis, coef, w_label):
    dx = np.empty_like(prob)
    dx[...] = prob
    np.put_along_axis(dx, idx, np.take_along_axis(dx, idx, axis=axis) - 1, axis=axis)
    dx *= coef
    if w_label is not None:
        dx *= w_label
    return dx


@given(case=softmax_loss_cases(), parallel=st.booleans(), negative_axis=st.booleans())
def test_softmax_loss_backward(nbe, threads, case, parallel, negative_axis):
    module, backend_module = nbe
    dtype, prob, label, axis, coef, w = case
    ref = old_softmax_loss_backward(prob, label, axis, coef, w)
    same_bits(generic.softmax_loss_backward(numpy_backend(dtype), prob, label, axis, coef, w), ref)
    nb = backend_module.NumbaBackend(dtype=dtype)
    ax = axis - prob.ndim if negative_axis else axis
    out = np.full_like(prob, np.nan)
    with serial_below(backend_module.runtime, 0 if parallel else 1 << 62):
        got = nb.kernels.softmax_loss_backward(prob, label, ax, coef, w, out=out)
        assert got is out
        same_bits(got, ref)
        # a strided out, and int32 labels, take the generic path with the same numbers
        same_bits(
            nb.kernels.softmax_loss_backward(
                prob, label.astype(np.int32), ax, coef, w, out=strided_like(out)
            ),
            ref,
        )


# -- registration ------------------------------------------------------------------------------
class BareBackend(Backend):
    """A third-party backend that registers no kernel of its own."""

    name = "bare-test-backend"


def test_every_kernel_is_in_the_table_and_registered_generically():
    assert set(generic.KERNELS) <= set(KERNEL_NAMES)
    for backend in (NumpyBackend(), BareBackend()):
        for name in generic.KERNELS:
            assert backend.kernels.implementation_of(name) == "*"


def test_every_numba_override_has_a_generic_version_and_is_registered(nbe):
    module, backend_module = nbe
    assert set(module.KERNELS) == set(generic.KERNELS)
    nb = backend_module.NumbaBackend()
    for name in module.KERNELS:
        assert nb.kernels.implementation_of(name) == "numba"


@pytest.mark.parametrize(
    "neuron", [ReLU(), ReLU(epsilon=0.5), LReLU(), Sigmoid(), Tanh()], ids=repr
)
def test_neurons_run_on_a_backend_without_kernels_of_its_own(neuron):
    bare, ref = BareBackend(dtype="float64"), NumpyBackend(dtype="float64")
    x = np.linspace(-3, 3, 13).reshape(1, 13)
    blobs = []
    for b in (bare, ref):
        y, d = b.from_host(x), b.from_host(np.ones_like(x))
        neuron.forward(b, y)
        neuron.backward(b, y, d)
        blobs.append((y.to_host(), d.to_host()))
    for got, want in zip(*blobs):
        np.testing.assert_array_equal(got, want)
