"""SoftlabelSoftmaxLossLayer (semantics §3.14): cross-entropy against soft labels."""

import numpy as np
import pytest
from hypothesis import given
from layer_smoke import Case, L, distributions, normal
from loss_oracles import class_problems, softmax_oracle

from mocha import DataError, LayerConfigError, ShapeError
from mocha.plugins.layers.softlabel_softmax_loss import SoftlabelSoftmaxLossLayer
from mocha.plugins.layers.softmax_loss import SoftmaxLossLayer
from mocha.testing import check_gradients, check_layer, run_layer


def layer(**kw):
    return SoftlabelSoftmaxLossLayer(name="soft", bottoms=["pred", "label"], **kw)


def soft_labels(rng, shape, axis):
    raw = rng.uniform(0.05, 1.0, shape)
    return raw / raw.sum(axis=axis, keepdims=True)


def oracle(x, label, axis, weight):
    q = softmax_oracle(x, axis)
    count = x.size // x.shape[axis]
    loss = -weight * np.sum(label * np.log(np.maximum(q, 1e-20))) / count
    return loss, weight * (q - label) / count, -weight * np.log(q) / count


@pytest.mark.filterwarnings("ignore:.*in Mocha.jl:UserWarning")  # numpy-order dims on purpose
@given(problem=class_problems())
def test_forward_and_backward_match_the_oracle(problem):
    shape, axis, dim, seed = problem
    rng = np.random.default_rng(seed)
    x, label = rng.standard_normal(shape), soft_labels(rng, shape, axis)
    h = run_layer(layer(weight=1.3, dim=dim), [x, label])
    loss, dx, dlabel = oracle(x, label, axis, 1.3)
    assert h.state.loss == pytest.approx(loss, rel=1e-10)
    h.backward()
    np.testing.assert_allclose(h.diffs[0].to_host(), dx, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(h.diffs[1].to_host(), dlabel, rtol=1e-9, atol=1e-14)


@given(problem=class_problems(max_ndim=4))
def test_gradients_float64_for_both_bottoms(problem):
    shape, axis, dim, seed = problem
    rng = np.random.default_rng(seed)
    x, label = rng.standard_normal(shape), soft_labels(rng, shape, axis)
    assert check_gradients(layer(weight=0.8, dim=dim), [x, label], seed=seed)["checked"] > 0


def test_gradient_is_exact_for_labels_that_do_not_sum_to_one():
    rng = np.random.default_rng(0)
    check_gradients(layer(), [rng.standard_normal((3, 4)), rng.uniform(0, 2, (3, 4))])


def test_one_hot_labels_give_the_softmax_loss():
    rng = np.random.default_rng(1)
    x, idx = rng.standard_normal((4, 3, 2)), rng.integers(0, 3, (4, 1, 2))
    onehot = (np.arange(3)[None, :, None] == idx).astype(float)
    soft = run_layer(layer(), [x, onehot]).state.loss
    hard = SoftmaxLossLayer(name="hard", bottoms=["pred", "label"])
    assert soft == pytest.approx(run_layer(hard, [x, idx.astype(float)], no_grad=[1]).state.loss)


def test_agrees_with_the_reference_on_each_backend(backend):
    rng = np.random.default_rng(2)
    shape = (3, 4, 2, 2)
    check_layer(layer(), [rng.standard_normal(shape), soft_labels(rng, shape, 1)], backend)


def test_errors_name_the_layer_blob_and_value():
    with pytest.raises(ShapeError, match=r"label blob 'label' has shape \(2, 2\).*\(2, 3\)"):
        run_layer(layer(), [np.zeros((2, 3)), np.zeros((2, 2))])
    with pytest.raises(DataError, match=r"SoftlabelSoftmaxLossLayer\('soft'\).*-0\.5.*'label'"):
        run_layer(layer(), [np.zeros((1, 2)), np.array([[1.5, -0.5]])])
    with pytest.raises(LayerConfigError, match=r"'weight' = -2"):
        layer(weight=-2)


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "SoftlabelSoftmaxLossLayer": Case(
        lambda t: L("SoftlabelSoftmaxLossLayer", bottoms=["p", "y"]),
        [normal(4, 3), distributions(4, 3)],
        no_grad=(1,),
    ),
}
