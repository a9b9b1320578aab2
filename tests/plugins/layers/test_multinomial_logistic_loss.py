"""MultinomialLogisticLossLayer (semantics §3.14, A14): forward against a NumPy oracle with
class weights, the backward pass Mocha lacks, Softmax + MLL training like SoftmaxLoss, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, distributions, labels
from loss_oracles import class_problems, full_class_weights, nll_oracle, random_labels

from mocha import DataError, LayerConfigError, Net, ShapeError
from mocha.plugins.layers.inner_product import InnerProductLayer
from mocha.plugins.layers.memory_data import MemoryDataLayer
from mocha.plugins.layers.multinomial_logistic_loss import MultinomialLogisticLossLayer
from mocha.plugins.layers.softmax import SoftmaxLayer
from mocha.plugins.layers.softmax_loss import SoftmaxLossLayer
from mocha.testing import check_gradients, check_layer, reference_backend, run_layer


def layer(**kw):
    return MultinomialLogisticLossLayer(name="mll", bottoms=["prob", "label"], **kw)


@pytest.mark.filterwarnings("ignore:.*in Mocha.jl:UserWarning")  # numpy-order dims on purpose
@given(
    problem=class_problems(),
    normalize=st.sampled_from(["local", "global", "no"]),
    weighted=st.sampled_from(["none", "class", "sample", "full"]),
    weight=st.floats(0.1, 3),
)
def test_forward_matches_the_oracle(problem, normalize, weighted, weight):
    shape, axis, dim, seed = problem
    rng = np.random.default_rng(seed)
    prob = rng.uniform(0.01, 1.0, shape)
    label = random_labels(rng, shape, axis)
    weights = {
        "none": (),
        "class": rng.uniform(0.2, 2, shape[axis]),
        "sample": rng.uniform(0.2, 2, shape[1:]),
        "full": rng.uniform(0.2, 2, shape),
    }
    w = weights[weighted]
    h = run_layer(
        layer(weight=weight, weights=w, normalize=normalize, dim=dim), [prob, label], no_grad=[1]
    )
    full = None if weighted == "none" else full_class_weights(w, shape, axis, normalize)
    assert h.state.loss == pytest.approx(nll_oracle(prob, label, axis, weight, full), rel=1e-10)


@given(
    problem=class_problems(max_ndim=4),
    normalize=st.sampled_from(["local", "global", "no"]),
    weighted=st.booleans(),
)
def test_gradients_float64(problem, normalize, weighted):
    shape, axis, dim, seed = problem
    rng = np.random.default_rng(seed)
    prob = rng.uniform(0.05, 1.0, shape)
    label = random_labels(rng, shape, axis)
    weights = rng.uniform(0.2, 2.0, shape[axis]) if weighted else ()
    lyr = layer(weight=0.7, weights=weights, normalize=normalize, dim=dim)
    assert check_gradients(lyr, [prob, label], no_grad=[1], seed=seed)["checked"] > 0


def test_gradient_is_minus_w_over_p_at_the_label_only():
    prob = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    label = np.array([[1.0], [2.0]])
    h = run_layer(layer(weight=2.0), [prob, label], no_grad=[1])
    h.backward()
    want = np.array([[0, -2 / 2 / 0.5, 0], [0, 0, -2 / 2 / 0.8]])
    np.testing.assert_allclose(h.diffs[0].to_host(), want)


def test_clamped_probability_gives_the_floor_loss_and_no_gradient():
    h = run_layer(layer(), [np.array([[0.0, 1.0]]), np.array([[0.0]])], no_grad=[1])
    assert h.state.loss == pytest.approx(-np.log(1e-20))
    h.backward()
    assert not h.diffs[0].to_host().any()


def test_agrees_with_the_reference_on_each_backend(backend):
    rng = np.random.default_rng(4)
    shape = (3, 4, 2, 2)
    check_layer(
        layer(weights=rng.uniform(0.5, 2, 4), normalize="global"),
        [rng.uniform(0.1, 1, shape), random_labels(rng, shape, 1)],
        backend,
        no_grad=[1],
    )


def _net_gradients(loss_layers):
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((6, 5)), rng.integers(0, 3, (6, 1)).astype(float)
    backend = reference_backend("float64", seed=0)
    layers = [
        MemoryDataLayer(name="data", data=[x, y], batch_size=6),
        InnerProductLayer(name="ip", output_dim=3, bottoms=["data"], tops=["out"]),
        *loss_layers,
    ]
    net = Net("mll", backend, layers)
    obj = net.forward_backward()
    grads = [p.gradient.to_host().copy() for _, p in net.parameters()]
    net.shutdown()
    return obj, grads


def test_softmax_then_mll_backpropagates_like_softmax_loss():
    weights = [1.0, 3.0, 0.5]
    obj_a, grads_a = _net_gradients(
        [
            SoftmaxLayer(name="softmax", bottoms=["out"], tops=["prob"]),
            MultinomialLogisticLossLayer(name="mll", weights=weights, bottoms=["prob", "label"]),
        ]
    )
    obj_b, grads_b = _net_gradients(
        [SoftmaxLossLayer(name="loss", weights=weights, bottoms=["out", "label"])]
    )
    assert obj_a == pytest.approx(obj_b, rel=1e-12)
    for a, b in zip(grads_a, grads_b, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        assert np.abs(a).sum() > 0


def test_label_out_of_range_and_shape_mismatch_are_refused():
    with pytest.raises(DataError, match=r"MultinomialLogisticLossLayer\('mll'\).*label 2\.0"):
        run_layer(layer(), [np.full((1, 2), 0.5), np.array([[2.0]])], no_grad=[1])
    with pytest.raises(ShapeError, match=r"label blob 'label' has 4 elements, expected 2"):
        run_layer(layer(), [np.full((2, 2), 0.5), np.zeros((2, 2))], no_grad=[1])


def test_bad_fields_name_the_field_and_value():
    with pytest.raises(LayerConfigError, match=r"'normalize' = 'all'"):
        layer(normalize="all")
    with pytest.raises(LayerConfigError, match=r"'weight' = -0\.5"):
        layer(weight=-0.5)
    with pytest.raises(LayerConfigError, match=r"'weights' = \(nan,\)"):
        layer(weights=[float("nan")])
    with pytest.raises(LayerConfigError, match="scalar"):
        layer(weights=2.0)


def test_weights_of_a_wrong_shape_are_refused_at_setup():
    with pytest.raises(ShapeError, match=r"'weights' has shape \(2, 3\)"):
        run_layer(
            layer(weights=np.ones((2, 3))), [np.full((2, 4), 0.25), np.zeros((2, 1))], no_grad=[1]
        )


def test_all_zero_sample_weights_cannot_be_normalized_globally():
    w = np.array([[0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(LayerConfigError, match="normalize='global'"):
        run_layer(
            layer(weights=w, normalize="global"),
            [np.full((2, 2), 0.5), np.zeros((2, 1))],
            no_grad=[1],
        )


def test_a_wanted_label_diff_is_overwritten_with_zeros():
    h = run_layer(layer(), [np.full((2, 3), 0.3), np.array([[0.0], [2.0]])])
    h.diffs[1].data[...] = 5.0
    h.backward()
    assert not h.diffs[1].to_host().any()
    assert h.diffs[0].to_host().any()


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "MultinomialLogisticLossLayer": Case(
        lambda t: L("MultinomialLogisticLossLayer", bottoms=["p", "y"]),
        [distributions(4, 3), labels(3, 4, 1)],
        no_grad=(1,),
    ),
}
