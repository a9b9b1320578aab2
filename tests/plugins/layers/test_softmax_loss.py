"""SoftmaxLossLayer (semantics §3.14): loss and gradient against NumPy oracles, class weights
with every normalization, 2-D/4-D/5-D inputs and any class axis, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, labels, normal
from loss_oracles import (
    class_problems,
    full_class_weights,
    nll_oracle,
    random_labels,
    softmax_oracle,
)

from mocha import DataError, LayerConfigError, ShapeError
from mocha.plugins.layers.softmax_loss import SoftmaxLossLayer
from mocha.testing import check_gradients, check_layer, run_layer

# class_problems() writes the class axis negatively too (numpy order, on purpose)
pytestmark = pytest.mark.filterwarnings("ignore:.*in Mocha.jl:UserWarning")


def layer(**kw):
    return SoftmaxLossLayer(name="loss", bottoms=["pred", "label"], **kw)


def dx_oracle(x, label, axis, weight, w):
    """weight/(N·S) · w_label · (softmax - onehot), location by location."""
    q = softmax_oracle(x, axis)
    out = np.zeros_like(x)
    qm, om = np.moveaxis(q, axis, -1), np.moveaxis(out, axis, -1)
    lab_shape = list(x.shape)
    lab_shape[axis] = 1
    lab = np.moveaxis(label.reshape(lab_shape), axis, -1)[..., 0]
    wm = None if w is None else np.moveaxis(w, axis, -1)
    for loc in np.ndindex(lab.shape):
        k = int(lab[loc])
        g = qm[loc].copy()
        g[k] -= 1
        om[loc] = g * (1.0 if wm is None else wm[loc][k])
    return weight * out / lab.size


@given(
    problem=class_problems(),
    normalize=st.sampled_from(["local", "global", "no"]),
    weighted=st.booleans(),
    weight=st.floats(0.1, 3.0),
)
def test_forward_and_backward_match_the_oracle(problem, normalize, weighted, weight):
    shape, axis, dim, seed = problem
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 2
    label = random_labels(rng, shape, axis)
    weights = rng.uniform(0.2, 2.0, shape[axis]) if weighted else ()
    lyr = layer(weight=weight, weights=weights, normalize=normalize, dim=dim)
    h = run_layer(lyr, [x, label], no_grad=[1])
    w = full_class_weights(weights, shape, axis, normalize) if weighted else None
    q = softmax_oracle(x, axis)
    assert h.state.loss == pytest.approx(nll_oracle(q, label, axis, weight, w), rel=1e-10)
    h.backward()
    np.testing.assert_allclose(
        h.diffs[0].to_host(), dx_oracle(x, label, axis, weight, w), rtol=1e-10, atol=1e-14
    )


@given(
    problem=class_problems(max_ndim=4),
    normalize=st.sampled_from(["local", "global", "no"]),
    weighted=st.booleans(),
)
def test_gradients_float64(problem, normalize, weighted):
    shape, axis, dim, seed = problem
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    label = random_labels(rng, shape, axis)
    weights = rng.uniform(0.2, 2.0, shape[axis]) if weighted else ()
    lyr = layer(weight=1.5, weights=weights, normalize=normalize, dim=dim)
    counts = check_gradients(lyr, [x, label], no_grad=[1], seed=seed)
    assert counts["checked"] > 0


@pytest.mark.parametrize(
    "shape, axis", [((4, 3), 1), ((2, 3, 4, 2), 1), ((2, 2, 3, 2, 2), 3), ((3, 2, 5), -1)]
)
def test_2d_4d_5d_inputs_and_dims_on_each_backend(backend, shape, axis):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    ax = axis % len(shape)
    label = random_labels(rng, shape, ax)
    check_layer(
        layer(dim=axis, weights=rng.uniform(0.5, 2, shape[ax])), [x, label], backend, no_grad=[1]
    )


def test_weights_of_one_sample_and_of_the_full_shape():
    rng = np.random.default_rng(2)
    shape, axis = (3, 4, 2, 2), 1
    x = rng.standard_normal(shape)
    label = random_labels(rng, shape, axis)
    for w in (rng.uniform(0.1, 2, shape[1:]), rng.uniform(0.1, 2, shape)):
        for normalize in ("local", "global", "no"):
            h = run_layer(layer(weights=w, normalize=normalize), [x, label], no_grad=[1])
            full = full_class_weights(w, shape, axis, normalize)
            want = nll_oracle(softmax_oracle(x, axis), label, axis, 1.0, full)
            assert h.state.loss == pytest.approx(want, rel=1e-10)
            h.backward()
            np.testing.assert_allclose(
                h.diffs[0].to_host(), dx_oracle(x, label, axis, 1.0, full), rtol=1e-10, atol=1e-14
            )


def test_equal_weights_give_the_unweighted_loss_under_every_normalization():
    rng = np.random.default_rng(3)
    x, label = rng.standard_normal((5, 4)), rng.integers(0, 4, (5, 1)).astype(float)
    plain = run_layer(layer(), [x, label], no_grad=[1]).state.loss
    for normalize in ("local", "global"):
        h = run_layer(layer(weights=[7.0] * 4, normalize=normalize), [x, label], no_grad=[1])
        assert h.state.loss == pytest.approx(plain, rel=1e-12)
    h = run_layer(layer(weights=[7.0] * 4, normalize="no"), [x, label], no_grad=[1])
    assert h.state.loss == pytest.approx(7 * plain, rel=1e-12)


def test_local_normalization_scales_to_c_over_the_sum():
    x = np.zeros((1, 2))  # softmax = (1/2, 1/2): loss = w_label · log 2
    for normalize, want in (("local", 2 * 1 / 4), ("no", 1.0)):
        h = run_layer(
            layer(weights=[1.0, 3.0], normalize=normalize), [x, np.zeros((1, 1))], no_grad=[1]
        )
        assert h.state.loss == pytest.approx(want * np.log(2))


def test_label_out_of_range_is_refused_with_the_value():
    lyr = layer()
    with pytest.raises(DataError, match=r"SoftmaxLossLayer\('loss'\).*label 3\.0.*'label'"):
        run_layer(lyr, [np.zeros((2, 3)), np.array([[0.0], [3.0]])], no_grad=[1])
    with pytest.raises(DataError, match=r"label -1\.0"):
        run_layer(lyr, [np.zeros((2, 3)), np.array([[-1.0], [0.0]])], no_grad=[1])


def test_fractional_and_nan_labels_are_refused():
    for bad in (1.5, np.nan):
        with pytest.raises(DataError, match="integer class indices"):
            run_layer(layer(), [np.zeros((2, 3)), np.array([[0.0], [bad]])], no_grad=[1])


def test_label_count_mismatch_is_a_shape_error():
    with pytest.raises(ShapeError, match=r"label blob 'label' has 3 elements, expected 2"):
        run_layer(layer(), [np.zeros((2, 3)), np.zeros((3, 1))], no_grad=[1])


def test_bad_fields_name_the_field_and_value():
    with pytest.raises(LayerConfigError, match=r"'normalize' = 'everywhere'"):
        layer(normalize="everywhere")
    with pytest.raises(LayerConfigError, match=r"'weight' = -1"):
        layer(weight=-1)
    with pytest.raises(LayerConfigError, match=r"'weights'.*>= 0"):
        layer(weights=[1.0, -2.0])
    with pytest.raises(LayerConfigError, match=r"'weights'.*ragged"):
        layer(weights=[[1.0, 2.0], [1.0]])
    with pytest.raises(LayerConfigError, match=r"'dim' = 0"):
        layer(dim=0)
    with pytest.raises(LayerConfigError, match="bottoms"):
        SoftmaxLossLayer(name="loss", bottoms=["pred"])


def test_weights_of_a_wrong_shape_are_refused_at_setup():
    with pytest.raises(ShapeError, match=r"field 'weights' has shape \(3,\); expected \(4,\)"):
        run_layer(layer(weights=[1.0, 2.0, 3.0]), [np.zeros((2, 4)), np.zeros((2, 1))], no_grad=[1])


def test_all_zero_weights_cannot_be_normalized_locally():
    with pytest.raises(LayerConfigError, match="all 0"):
        run_layer(layer(weights=[0.0, 0.0]), [np.zeros((2, 2)), np.zeros((2, 1))], no_grad=[1])


def test_class_axis_cannot_be_the_batch_axis_or_out_of_range():
    with pytest.raises(ShapeError, match="dim=2"):
        run_layer(layer(dim=2), [np.zeros((2, 3)), np.zeros((2, 1))], no_grad=[1])
    with pytest.raises(ShapeError, match="dim=-2"):
        run_layer(layer(dim=-2), [np.zeros((2, 3)), np.zeros((2, 1))], no_grad=[1])


def test_weight_zero_gives_zero_loss_and_gradient():
    h = run_layer(layer(weight=0.0), [np.ones((2, 3)), np.zeros((2, 1))], no_grad=[1])
    h.backward()
    assert h.state.loss == 0
    assert not h.diffs[0].to_host().any()


def test_a_wanted_label_diff_is_overwritten_with_zeros():
    h = run_layer(layer(), [np.zeros((2, 3)), np.array([[0.0], [2.0]])])
    h.diffs[1].data[...] = 5.0
    h.backward()
    assert not h.diffs[1].to_host().any()
    assert h.diffs[0].to_host().any()


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "SoftmaxLossLayer": Case(
        lambda t: L("SoftmaxLossLayer", bottoms=["p", "y"]),
        [normal(2, 3, 2, 2), labels(3, 2, 1, 2, 2)],
        no_grad=(1,),
    ),
}
