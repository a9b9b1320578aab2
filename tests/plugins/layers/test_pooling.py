import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

import mocha
from mocha import LayerConfigError, Neurons, ShapeError
from mocha.plugins.layers.pooling import Pooling, PoolingLayer, pooled_size
from mocha.testing import check_gradients, check_layer, run_layer


def out_size(n, k, p, s, any_pad):
    out = -(-(n + 2 * p - k) // s) + 1  # integer ceil
    if any_pad and (out - 1) * s >= n + p:
        out -= 1
    return out


def oracle(x, kernel, stride, pad, mode, g=None):
    """Naive pooling over clipped windows; returns y, and dx for top gradient g."""
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    any_pad = ph > 0 or pw > 0
    oh, ow = out_size(H, kh, ph, sh, any_pad), out_size(W, kw, pw, sw, any_pad)
    y = np.zeros((N, C, oh, ow))
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(oh):
                for j in range(ow):
                    h0, w0 = i * sh - ph, j * sw - pw
                    h1, w1 = min(h0 + kh, H), min(w0 + kw, W)
                    h0, w0 = max(h0, 0), max(w0, 0)
                    window = x[n, c, h0:h1, w0:w1]
                    gij = 0.0 if g is None else g[n, c, i, j]
                    if mode == "max":
                        a = int(np.argmax(window.ravel()))  # first maximum, row-major
                        y[n, c, i, j] = window.ravel()[a]
                        dx[n, c, h0 + a // window.shape[1], w0 + a % window.shape[1]] += gij
                    else:
                        y[n, c, i, j] = window.sum() / (kh * kw)
                        dx[n, c, h0:h1, w0:w1] += gij / (kh * kw)
    return y, dx


def pool(**kw):
    kw.setdefault("bottoms", ["x"])
    kw.setdefault("tops", ["y"])
    return PoolingLayer(**kw)


CASES = [
    ((2, 3, 4, 4), (2, 2), (2, 2), (0, 0)),
    ((1, 2, 5, 5), (2, 2), (2, 2), (0, 0)),  # last window cut by the rounded-up size
    ((1, 2, 7, 6), (3, 3), (2, 2), (0, 0)),  # CIFAR-style 3x3/s2, clipped border windows
    ((1, 2, 7, 6), (3, 2), (2, 1), (1, 1)),  # padding, rectangular kernel
    ((2, 1, 6, 5), (3, 3), (3, 2), (2, 1)),  # pad < kernel, clipped both sides
    ((1, 1, 3, 8), (1, 3), (1, 3), (0, 1)),  # padding on one axis only
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0)),
]


@pytest.mark.parametrize("mode", ["max", "mean"])
@pytest.mark.parametrize("shape, kernel, stride, pad", CASES)
def test_forward_and_backward_match_naive_oracle(shape, kernel, stride, pad, mode):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    layer = pool(kernel=kernel, stride=stride, pad=pad, pooling=mode)
    h = run_layer(layer, [x])
    g = rng.standard_normal(h.tops()[0].shape)
    y_ref, dx_ref = oracle(x, kernel, stride, pad, mode, g)
    np.testing.assert_allclose(h.tops()[0], y_ref, atol=1e-12)
    h.backward([g])
    np.testing.assert_allclose(h.diffs[0].to_host(), dx_ref, atol=1e-12)


def test_output_size_rounds_up_like_mocha_issue_232():
    h = run_layer(pool(kernel=2, stride=2), [np.zeros((1, 1, 45, 45))])
    assert h.tops()[0].shape == (1, 1, 23, 23)
    assert pooled_size(45, 2, 0, 2, False) == 23
    # with padding the last window may not start at or beyond H + pad: 3 -> 2 here
    assert pooled_size(3, 2, 1, 2, True) == 2


def test_mean_divides_by_the_full_window_at_the_cut_border():
    x = np.ones((1, 1, 5, 5))
    y = run_layer(pool(kernel=2, stride=2, pooling=Pooling.Mean()), [x]).tops()[0][0, 0]
    np.testing.assert_allclose(y, [[1, 1, 0.5], [1, 1, 0.5], [0.5, 0.5, 0.25]])


@pytest.mark.parametrize("seed", range(5))
def test_max_ties_go_to_the_first_maximum_in_row_major_order(seed):
    x = np.random.default_rng(seed).integers(0, 2, size=(2, 2, 6, 7)).astype(float)
    h = run_layer(pool(kernel=(3, 2), stride=(2, 2), pad=(1, 1)), [x])
    g = np.arange(h.tops()[0].size, dtype=float).reshape(h.tops()[0].shape) + 1
    h.backward([g])
    np.testing.assert_allclose(h.diffs[0].to_host(), oracle(x, (3, 2), (2, 2), (1, 1), "max", g)[1])


def test_tie_in_one_window_picks_top_left():
    x = np.full((1, 1, 2, 2), 7.0)
    h = run_layer(pool(kernel=2, stride=2), [x])
    h.backward([np.ones((1, 1, 1, 1))])
    np.testing.assert_array_equal(h.diffs[0].to_host()[0, 0], [[1, 0], [0, 0]])


def test_overlapping_windows_accumulate_max_gradient():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0
    h = run_layer(pool(kernel=2, stride=1), [x])  # the centre is the max of all 4 windows
    h.backward([np.ones((1, 1, 2, 2))])
    assert h.diffs[0].to_host()[0, 0, 1, 1] == 4.0


def test_negative_inputs_ignore_padding():
    x = -np.ones((1, 1, 2, 2)) - np.arange(4).reshape(1, 1, 2, 2)
    y = run_layer(pool(kernel=2, stride=1, pad=1), [x]).tops()[0][0, 0]
    assert y.max() < 0  # padding is never read, so no 0 from the padding wins
    assert y[0, 0] == -1 and y[2, 2] == -4


def test_several_bottoms_of_different_shapes():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((3, 1, 5, 7))
    h = run_layer(pool(kernel=2, stride=2, bottoms=["a", "b"], tops=["ya", "yb"]), [a, b])
    ya, yb = h.tops()
    np.testing.assert_allclose(ya, oracle(a, (2, 2), (2, 2), (0, 0), "max")[0])
    np.testing.assert_allclose(yb, oracle(b, (2, 2), (2, 2), (0, 0), "max")[0])


@given(
    n=st.integers(1, 2),
    c=st.integers(1, 2),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    ph=st.integers(0, 2),
    pw=st.integers(0, 2),
    mode=st.sampled_from(["max", "mean"]),
    seed=st.integers(0, 2**16),
)
def test_gradients_float64(n, c, h, w, kh, kw, sh, sw, ph, pw, mode, seed):
    any_pad = ph > 0 or pw > 0
    for size, k, p, s in ((h, kh, ph, sh), (w, kw, pw, sw)):
        o = out_size(size, k, p, s, any_pad)
        assume(o >= 1)
        assume(all(min(i * s - p + k, size) > max(i * s - p, 0) for i in range(o)))
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    layer = pool(kernel=(kh, kw), stride=(sh, sw), pad=(ph, pw), pooling=mode)
    assert check_gradients(layer, [x], seed=seed)["checked"] > 0


def test_relu_neuron_is_applied():
    x = np.random.default_rng(2).standard_normal((1, 2, 4, 4))
    y = run_layer(pool(kernel=2, stride=2, neuron=Neurons.ReLU()), [x]).tops()[0]
    np.testing.assert_allclose(y, np.maximum(oracle(x, (2, 2), (2, 2), (0, 0), "max")[0], 0))


@pytest.mark.parametrize("mode", [Pooling.Max(), Pooling.Mean()])
def test_agrees_with_reference_on_each_backend(backend, mode):
    x = np.random.default_rng(3).standard_normal((3, 4, 7, 6))
    check_layer(pool(kernel=3, stride=2, pad=1, pooling=mode), [x], backend)


def test_pooling_spellings():
    assert pool(pooling="mean").pooling == mocha.Pooling.Mean()
    assert pool(pooling=Pooling.Max).pooling == Pooling.Max()
    assert pool().pooling == Pooling.Max() and pool().name == "pooling"
    with pytest.raises(LayerConfigError, match=r"'pooling' = 'median'"):
        pool(pooling="median")


@pytest.mark.parametrize(
    "field, value", [("kernel", 0), ("stride", (0, 1)), ("pad", (-1, 0)), ("kernel", "big")]
)
def test_bad_fields_name_layer_field_and_value(field, value):
    with pytest.raises(LayerConfigError, match=rf"PoolingLayer\(name='p'\).*'{field}'"):
        pool(name="p", **{field: value})


def test_window_in_the_padding_is_refused():
    with pytest.raises(ShapeError, match=r"PoolingLayer\('p'\).*window 0 along the height.*'x'"):
        run_layer(pool(name="p", kernel=2, stride=1, pad=(2, 0)), [np.ones((1, 1, 4, 4))])


def test_window_beyond_the_image_is_refused():
    # stride 3 > kernel 1 on width 5: ceil(4/3)+1 = 3 windows, the last starts at 6 >= 5
    with pytest.raises(ShapeError, match=r"window 2 along the width.*\[6, 7\)"):
        run_layer(pool(kernel=(1, 1), stride=(1, 3)), [np.ones((1, 1, 5, 5))])


def test_non_4d_input_is_refused():
    with pytest.raises(ShapeError, match=r"bottom 'x' has shape \(2, 3\).*4-D"):
        run_layer(pool(), [np.ones((2, 3))])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "PoolingLayer": Case(
        lambda t: L("PoolingLayer", kernel=3, stride=2, pad=1, bottoms=["x"], tops=["y"]),
        [normal(2, 3, 5, 5)],
        shapes=[(2, 3, 3, 3)],
    ),
}
