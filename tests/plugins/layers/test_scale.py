import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError, Neurons, ShapeError
from mocha.plugins.components.initializers import GaussianInitializer
from mocha.plugins.layers.scale import ScaleLayer
from mocha.testing import check_gradients, check_layer, run_layer


def scale(**kw):
    kw.setdefault("bottoms", ["x"])
    kw.setdefault("tops", ["y"])
    return ScaleLayer(**kw)


def set_params(h, *values):
    for p, v in zip(h.state.parameters, values):
        p.blob.copy_from(np.asarray(v, float))
    h.forward()


def test_per_channel_scale_and_bias_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    h = run_layer(scale(bias_term=True), [x])
    assert [p.name for p in h.state.parameters] == ["scale", "bias"]
    np.testing.assert_array_equal(h.tops()[0], x)  # scale 1, bias 0 at the start
    s, b = np.array([2.0, -1.0, 0.5]), np.array([0.1, 0.2, -0.3])
    set_params(h, s, b)
    np.testing.assert_allclose(h.tops()[0], x * s[:, None, None] + b[:, None, None])
    g = rng.standard_normal(x.shape)
    h.backward([g])
    np.testing.assert_allclose(h.diffs[0].to_host(), g * s[:, None, None])
    np.testing.assert_allclose(h.state.parameters[0].gradient.to_host(), (g * x).sum((0, 2, 3)))
    np.testing.assert_allclose(h.state.parameters[1].gradient.to_host(), g.sum((0, 2, 3)))


def test_num_axes_and_axis_select_the_scaled_block():
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    h = run_layer(scale(axis=-2, num_axes=-1), [x])
    assert h.state.parameters[0].shape == (3, 4)
    s = np.arange(12.0).reshape(3, 4)
    set_params(h, s)
    np.testing.assert_allclose(h.tops()[0], x * s)


def test_second_bottom_is_the_scale():
    rng = np.random.default_rng(2)
    x, s = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 3, 1, 1))
    h = run_layer(scale(bottoms=["x", "s"], axis=0), [x, s])
    assert h.state.parameters == []
    np.testing.assert_allclose(h.tops()[0], x * s)
    g = rng.standard_normal(x.shape)
    h.backward([g])
    np.testing.assert_allclose(h.diffs[1].to_host(), (g * x).sum((2, 3), keepdims=True))


@settings(max_examples=25, deadline=None)
@given(
    shape=st.sampled_from([(2, 3), (2, 3, 4), (1, 2, 3, 2)]),
    bias=st.booleans(),
    two=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_gradients_float64(shape, bias, two, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if two:
        inputs = [x, rng.standard_normal(shape[:2])]
        layer = scale(bottoms=["x", "s"], axis=0, bias_term=bias)
    else:
        inputs, layer = [x], scale(bias_term=bias, scale_init=_uniform())
    assert check_gradients(layer, inputs, seed=seed)["checked"] > 0


def _uniform():
    return GaussianInitializer(mean=1.0, std=0.5)


@pytest.mark.parametrize("two", [False, True])
def test_agrees_with_reference_on_each_backend(backend, two):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 5, 2))
    if two:
        check_layer(scale(bottoms=["x", "s"], bias_term=True), [x, rng.standard_normal(4)], backend)
    else:
        check_layer(scale(bias_term=True, scale_init=_uniform()), [x], backend)


def test_neuron_is_applied_and_back_propagated():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 2))
    layer = scale(bias_term=True, neuron=Neurons.ReLU(), scale_init=_uniform())
    h = run_layer(layer, [x])
    s, b = (p.blob.to_host() for p in h.state.parameters)
    np.testing.assert_allclose(h.tops()[0], np.maximum(x * s[:, None] + b[:, None], 0))
    assert check_gradients(layer, [x])["checked"] > 0


def test_mismatched_second_bottom_is_refused():
    with pytest.raises(ShapeError, match=r"ScaleLayer\('scale'\): the second bottom 's'"):
        run_layer(scale(bottoms=["x", "s"]), [np.ones((2, 3, 4)), np.ones((4,))])


def test_bad_fields():
    with pytest.raises(LayerConfigError, match="'bias_term'"):
        scale(bias_term=1)
    with pytest.raises(LayerConfigError, match="'bottoms'"):
        scale(bottoms=["a", "b", "c"])
    with pytest.raises(ShapeError, match="axis=4"):
        run_layer(scale(axis=4), [np.ones((2, 3))])


SMOKE_CASES = {
    "ScaleLayer": Case(
        lambda t: L("ScaleLayer", bias_term=True, bottoms=["x"], tops=["y"]),
        [normal(2, 3, 2, 2)],
        shapes=[(2, 3, 2, 2)],
    ),
}
