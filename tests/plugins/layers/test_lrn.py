import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

import mocha
from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.lrn import LRNLayer, LRNMode
from mocha.testing import check_gradients, check_layer, run_layer


def oracle(x, g, kernel, scale, shift, power, mode):
    """Mocha's LRN test oracle written out with loops: y and dx for the top gradient g."""
    N, C, H, W = x.shape
    pre = (kernel - 1) // 2
    post = kernel - 1 - pre
    n = kernel if mode == "across" else kernel * kernel
    y, dx = np.zeros_like(x), np.zeros_like(x)
    for b, c, h, w in np.ndindex(*x.shape):
        if mode == "across":
            window = [(b, cc, h, w) for cc in range(c - pre, c + post + 1) if 0 <= cc < C]
        else:
            window = [
                (b, c, hh, ww)
                for hh in range(h - pre, h + post + 1)
                for ww in range(w - pre, w + post + 1)
                if 0 <= hh < H and 0 <= ww < W
            ]
        i = (b, c, h, w)
        S = shift + scale / n * sum(x[j] ** 2 for j in window)
        y[i] = x[i] / S**power
        dx[i] += g[i] * S ** (-power)
        for j in window:
            dx[j] += -power * (2 * scale / n) * S ** (-power - 1) * x[j] * x[i] * g[i]
    return y, dx


def lrn(**kw):
    kw.setdefault("bottoms", ["x"])
    kw.setdefault("tops", ["y"])
    return LRNLayer(**kw)


@pytest.mark.parametrize("mode", ["across", "within"])
@pytest.mark.parametrize(
    "shape, kernel, scale, shift, power",
    [
        ((2, 5, 3, 3), 3, 1.0, 1.0, 0.75),
        ((1, 3, 4, 5), 5, 0.7, 2.0, 0.5),  # window wider than the channels / the image
        ((2, 4, 3, 2), 4, 1.5, 1.0, 0.75),  # even kernel: asymmetric window
        ((1, 2, 3, 3), 1, 2.0, 0.5, 1.0),
    ],
)
def test_forward_and_backward_match_the_mocha_oracle(shape, kernel, scale, shift, power, mode):
    rng = np.random.default_rng(0)
    (x,) = rng.standard_normal((1, *shape))
    m = LRNMode.AcrossChannel() if mode == "across" else LRNMode.WithinChannel()
    h = run_layer(lrn(kernel=kernel, scale=scale, shift=shift, power=power, mode=m), [x])
    g = rng.standard_normal(shape)
    y_ref, dx_ref = oracle(x, g, kernel, scale, shift, power, mode)
    np.testing.assert_allclose(h.tops()[0], y_ref, rtol=1e-12, atol=1e-12)
    h.backward([g])
    np.testing.assert_allclose(h.diffs[0].to_host(), dx_ref, rtol=1e-10, atol=1e-12)


def test_channel_dim_selects_the_normalized_axis():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5))
    g = rng.standard_normal(x.shape)
    h = run_layer(lrn(kernel=3, scale=2.0, channel_dim=-1), [x])
    h.backward([g])
    # normalizing along the width is normalizing along the channels of the moved array
    y_ref, dx_ref = oracle(np.moveaxis(x, 3, 1), np.moveaxis(g, 3, 1), 3, 2.0, 1.0, 0.75, "across")
    np.testing.assert_allclose(h.tops()[0], np.moveaxis(y_ref, 1, 3), rtol=1e-12)
    np.testing.assert_allclose(
        h.diffs[0].to_host(), np.moveaxis(dx_ref, 1, 3), rtol=1e-10, atol=1e-12
    )


@given(
    n=st.integers(1, 2),
    c=st.integers(1, 5),
    hw=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    kernel=st.integers(1, 5),
    scale=st.floats(0.1, 3.0),
    shift=st.floats(0.5, 2.0),
    power=st.floats(0.25, 1.5),
    mode=st.sampled_from(["across_channel", "within_channel"]),
    seed=st.integers(0, 2**16),
)
def test_gradients_float64(n, c, hw, kernel, scale, shift, power, mode, seed):
    x = np.random.default_rng(seed).standard_normal((n, c, *hw))
    layer = lrn(kernel=kernel, scale=scale, shift=shift, power=power, mode=mode)
    assert check_gradients(layer, [x], seed=seed)["checked"] > 0


@pytest.mark.parametrize("mode", [LRNMode.AcrossChannel(), LRNMode.WithinChannel()])
def test_agrees_with_reference_on_each_backend(backend, mode):
    x = np.random.default_rng(3).standard_normal((2, 6, 5, 4))
    check_layer(lrn(kernel=3, scale=5e-1, power=0.75, mode=mode), [x], backend)


def test_defaults_match_the_manual():
    layer = lrn()
    assert (layer.name, layer.kernel, layer.scale, layer.shift, layer.power) == (
        "lrn",
        5,
        1.0,
        1.0,
        0.75,
    )
    assert layer.mode == mocha.LRNMode.AcrossChannel()
    assert lrn(mode=LRNMode.WithinChannel).mode == LRNMode.WithinChannel()
    assert lrn(mode="WithinChannel").mode == LRNMode.WithinChannel()
    assert lrn(mode="across_channel").mode == LRNMode.AcrossChannel()


def test_no_bottom_gradient_wanted():
    h = run_layer(lrn(kernel=3), [np.ones((1, 3, 2, 2))], no_grad=[0])
    assert h.state.blobs_diff[0].is_null
    h.backward()  # must not fail


@pytest.mark.parametrize(
    "field, value", [("kernel", 0), ("mode", "sideways"), ("channel_dim", 0), ("power", "big")]
)
def test_bad_fields_name_layer_field_and_value(field, value):
    with pytest.raises(LayerConfigError, match=rf"LRNLayer\(name='n'\).*'{field}'"):
        lrn(name="n", **{field: value})


def test_exactly_one_bottom():
    with pytest.raises(LayerConfigError, match="bottoms"):
        lrn(bottoms=["a", "b"], tops=["c", "d"])


def test_non_4d_input_is_refused():
    with pytest.raises(ShapeError, match=r"LRNLayer\('lrn'\).*'x' has shape \(2, 3\).*4-D"):
        run_layer(lrn(), [np.ones((2, 3))])


def test_batch_axis_is_refused():
    with pytest.raises(ShapeError, match="channel_dim=-4"):
        run_layer(lrn(channel_dim=-4), [np.ones((1, 2, 2, 2))])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "LRNLayer": Case(
        lambda t: L("LRNLayer", kernel=3, bottoms=["x"], tops=["y"]),
        [normal(2, 5, 3, 3)],
        shapes=[(2, 5, 3, 3)],
    ),
}
