"""Regularizers (semantics §4.3): the gradient is added (2λW for L2, λ·sign(W) for L1 with
sign(0) = 0, nothing for NoRegu), with λ = coefficient × regu_coef."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mocha import LayerConfigError
from mocha.plugins.components.regularizers import L1Regu, L2Regu, NoRegu
from mocha.testing import reference_backend


def apply(regu, w, g, coef):
    backend = reference_backend()
    param, grad = backend.from_host(w), backend.from_host(g)
    regu.gradient(backend, param, grad, coef)
    return grad.to_host(), regu.loss(backend, param, coef)


@given(seed=st.integers(0, 2**16), c=st.floats(0, 5), coef=st.floats(0, 1))
def test_l2_adds_two_lambda_w(seed, c, coef):
    rng = np.random.default_rng(seed)
    w, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    grad, loss = apply(L2Regu(coefficient=c), w, g, coef)
    np.testing.assert_allclose(grad, g + 2 * c * coef * w)
    assert loss == pytest.approx(c * coef * np.sum(w * w))


@given(seed=st.integers(0, 2**16), c=st.floats(0, 5), coef=st.floats(0, 1))
def test_l1_adds_lambda_sign_with_sign_of_zero_zero(seed, c, coef):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((3, 4))
    w[0, :2] = 0.0
    g = rng.standard_normal((3, 4))
    grad, loss = apply(L1Regu(coefficient=c), w, g, coef)
    sign = np.where(w > 0, 1.0, np.where(w < 0, -1.0, 0.0))
    np.testing.assert_allclose(grad, g + c * coef * sign)
    np.testing.assert_array_equal(grad[0, :2], g[0, :2])
    assert loss == pytest.approx(c * coef * np.sum(np.abs(w)))


def test_noregu_adds_nothing():
    w, g = np.ones((2, 2)), np.full((2, 2), 0.5)
    grad, loss = apply(NoRegu(), w, g, 10.0)
    np.testing.assert_array_equal(grad, g)
    assert loss == 0.0


def test_mnist_defaults_give_a_decay_of_one_thousandth():
    w = np.array([[2.0, -4.0]])
    grad, _ = apply(L2Regu(coefficient=1.0), w, np.zeros_like(w), 0.0005)
    np.testing.assert_allclose(grad, 0.001 * w)


@pytest.mark.parametrize("cls", [L1Regu, L2Regu])
def test_negative_coefficient_is_refused(cls):
    with pytest.raises(LayerConfigError, match=rf"{cls.__name__}: field 'coefficient' = -1"):
        cls(coefficient=-1.0)
