"""Norm constraints (semantics §4.4): L2Cons projects each output unit (row of an IP weight,
filter of a convolution) and a 1-D bias as a whole; norms below the threshold are untouched."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mocha import LayerConfigError
from mocha.plugins.components.constraints import L2Cons, NoCons
from mocha.testing import reference_backend


def constrain(cons, w, backend=None):
    backend = backend or reference_backend()
    blob = backend.from_host(w)
    cons.apply(backend, blob)
    return blob.to_host()


def oracle(w, t):
    out = np.array(w, dtype=np.float64)
    units = [out] if out.ndim == 1 else list(out)
    for u in units:
        n = np.sqrt(np.sum(u * u))
        if n > t:
            u *= t / n
    return out


@given(
    seed=st.integers(0, 2**16),
    t=st.floats(0.1, 3),
    shape=st.sampled_from([(5, 4), (3, 2, 3, 3), (6,), (1, 7)]),
)
def test_l2cons_matches_the_oracle(seed, t, shape):
    w = np.random.default_rng(seed).standard_normal(shape)
    got = constrain(L2Cons(threshold=t), w)
    np.testing.assert_allclose(got, oracle(w, t), rtol=1e-12)
    norms = np.sqrt((got.reshape(1 if got.ndim == 1 else got.shape[0], -1) ** 2).sum(axis=1))
    assert np.all(norms <= t * (1 + 1e-12))


def test_rows_of_an_ip_weight_are_scaled_to_the_threshold_only_when_above():
    w = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])  # norms 5, 0.5, 0
    got = constrain(L2Cons(threshold=1.0), w)
    np.testing.assert_allclose(got, [[0.6, 0.8], [0.3, 0.4], [0.0, 0.0]])


def test_each_convolution_filter_separately():
    w = np.zeros((2, 2, 1, 2))
    w[0] = 2.0  # norm 4
    w[1] = 0.1  # norm 0.2
    got = constrain(L2Cons(threshold=2.0), w)
    np.testing.assert_allclose(got[0], 1.0)
    np.testing.assert_array_equal(got[1], w[1])


def test_a_1d_bias_is_constrained_as_a_whole():
    got = constrain(L2Cons(threshold=1.0), np.array([3.0, 4.0]))
    np.testing.assert_allclose(got, [0.6, 0.8])  # not each element clipped to 1


def test_a_non_contiguous_parameter_is_written_back():
    backend = reference_backend()
    host = np.full((2, 3, 2), 9.0)
    host[0, ::2] = [[3.0, 0.0], [4.0, 0.0]]  # unit 0 of the view: norm 5
    host[1, ::2] = [[0.3, 0.0], [0.4, 0.0]]  # unit 1: norm 0.5
    base = backend.from_host(host)
    view = type(base)(base.data[:, ::2, :], backend)  # flattening it to (2, 4) needs a copy
    L2Cons(threshold=1.0).apply(backend, view)
    want = host.copy()
    want[0, ::2] = [[0.6, 0.0], [0.8, 0.0]]
    np.testing.assert_allclose(base.to_host(), want)


def test_nocons_changes_nothing_and_l2cons_defaults():
    w = np.full((2, 3), 10.0)
    np.testing.assert_array_equal(constrain(NoCons(), w), w)
    assert L2Cons(threshold=2.0).every_n_iter == 1


def test_on_each_backend(backend):
    w = np.random.default_rng(1).standard_normal((4, 3, 2, 2)).astype(np.float32) * 3
    got = constrain(L2Cons(threshold=1.5), w, backend)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, oracle(w, 1.5), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kw, field",
    [({"threshold": 0.0}, "threshold"), ({"threshold": 1.0, "every_n_iter": -1}, "every_n_iter")],
)
def test_bad_fields_are_refused(kw, field):
    with pytest.raises(LayerConfigError, match=rf"L2Cons: field '{field}'"):
        L2Cons(**kw)
