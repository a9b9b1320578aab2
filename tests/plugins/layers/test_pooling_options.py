"""PoolingLayer's options for imported models: floor rounding (`ceil_mode = false`), global
pooling, and the mean's divisor (`count_include_pad`), against a naive oracle written from the
docstring's formulas."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mocha import LayerConfigError
from mocha.plugins.layers.pooling import PoolingLayer
from mocha.testing import check_gradients, check_layer, run_layer


def out_size(n, k, p, s, any_pad, ceil):
    if not ceil:
        return (n + 2 * p - k) // s + 1
    out = -(-(n + 2 * p - k) // s) + 1
    if any_pad and (out - 1) * s >= n + p:
        out -= 1
    return out


def oracle(x, kernel, stride, pad, mode, ceil=True, include_pad=None, g=None):
    """Naive pooling (max, or mean with the divisor of `include_pad`) and its gradient."""
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    any_pad = ph > 0 or pw > 0
    oh, ow = out_size(H, kh, ph, sh, any_pad, ceil), out_size(W, kw, pw, sw, any_pad, ceil)
    y, dx = np.zeros((N, C, oh, ow)), np.zeros_like(x)
    for n, c, i, j in np.ndindex(N, C, oh, ow):
        a, b = i * sh - ph, j * sw - pw
        h0, h1, w0, w1 = max(a, 0), min(a + kh, H), max(b, 0), min(b + kw, W)
        window = x[n, c, h0:h1, w0:w1]
        gij = 0.0 if g is None else g[n, c, i, j]
        if mode == "max":
            t = int(np.argmax(window.ravel()))
            y[n, c, i, j] = window.ravel()[t]
            dx[n, c, h0 + t // window.shape[1], w0 + t % window.shape[1]] += gij
            continue
        if include_pad is None:
            div = kh * kw
        elif include_pad:
            div = (min(a + kh, H + ph) - a) * (min(b + kw, W + pw) - b)
        else:
            div = (h1 - h0) * (w1 - w0)
        y[n, c, i, j] = window.sum() / div
        dx[n, c, h0:h1, w0:w1] += gij / div
    return y, dx


def pool(**kw):
    kw.setdefault("bottoms", ["x"])
    kw.setdefault("tops", ["y"])
    return PoolingLayer(**kw)


def test_floor_rounding_gives_pytorchs_56_where_caffe_gives_57():
    x = np.zeros((1, 1, 112, 112))
    assert run_layer(pool(kernel=3, stride=2, pad=1), [x]).tops()[0].shape == (1, 1, 57, 57)
    floor = pool(kernel=3, stride=2, pad=1, ceil_mode=False)
    assert run_layer(floor, [x]).tops()[0].shape == (1, 1, 56, 56)


def test_the_three_divisors_at_a_window_beyond_the_padded_image():
    # H = W = 4, kernel 3, stride 2, pad 1, ceil: windows start at -1, 1, 3; the last one
    # covers [3, 6): 1 cell of the image, 2 of the padded image (which ends at 5), 3 in all
    x = np.ones((1, 1, 4, 4))
    last = {}
    for include in (None, True, False):
        h = run_layer(
            pool(kernel=3, stride=2, pad=1, pooling="mean", count_include_pad=include), [x]
        )
        last[include] = h.tops()[0][0, 0, 2, 2]
    assert last == {None: 1 / 9, True: 1 / 4, False: 1.0}


CASES = [
    ((1, 2, 7, 6), (3, 3), (2, 2), (1, 1)),
    ((2, 1, 6, 5), (3, 2), (3, 2), (1, 1)),
    ((1, 2, 5, 5), (2, 2), (2, 2), (0, 0)),
    ((1, 1, 8, 3), (3, 1), (2, 1), (1, 0)),
]


@pytest.mark.parametrize("shape, kernel, stride, pad", CASES)
@pytest.mark.parametrize(
    "mode, ceil, include",
    [("max", False, None), ("mean", False, None), ("mean", True, True), ("mean", True, False),
     ("mean", False, True), ("mean", False, False)],
)  # fmt: skip
def test_forward_and_backward_match_the_oracle(shape, kernel, stride, pad, mode, ceil, include):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    layer = pool(
        kernel=kernel, stride=stride, pad=pad, pooling=mode, ceil_mode=ceil,
        count_include_pad=include,
    )  # fmt: skip
    h = run_layer(layer, [x])
    g = rng.standard_normal(h.tops()[0].shape)
    y_ref, dx_ref = oracle(x, kernel, stride, pad, mode, ceil, include, g)
    np.testing.assert_allclose(h.tops()[0], y_ref, rtol=1e-12)
    h.backward([g])
    np.testing.assert_allclose(h.diffs[0].to_host(), dx_ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("mode", ["max", "mean"])
def test_global_pooling_pools_each_whole_plane(mode):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((2, 3, 2, 7))
    h = run_layer(
        pool(global_pooling=True, pooling=mode, bottoms=["a", "b"], tops=["p", "q"]), [a, b]
    )
    for x, y in zip((a, b), h.tops()):
        expect = x.max(axis=(2, 3)) if mode == "max" else x.mean(axis=(2, 3))
        np.testing.assert_allclose(y, expect[:, :, None, None], rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    hw=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    p=st.tuples(st.integers(0, 1), st.integers(0, 1)),
    ceil=st.booleans(),
    include=st.sampled_from([None, True, False]),
    seed=st.integers(0, 2**16),
)
def test_mean_gradients_float64(hw, k, s, p, ceil, include, seed):
    assume(all(pi < ki and ki <= n + 2 * pi for pi, ki, n in zip(p, k, hw)))
    layer = pool(
        kernel=k, stride=s, pad=p, pooling="mean", ceil_mode=ceil, count_include_pad=include
    )
    x = np.random.default_rng(seed).standard_normal((2, 2, *hw))
    try:
        run_layer(layer, [x])
    except Exception:  # an empty window (refused at setup) is not this test's subject
        assume(False)
    assert check_gradients(layer, [x], seed=seed)["checked"] > 0


@pytest.mark.parametrize(
    "kw",
    [
        {"pooling": "mean", "count_include_pad": True},
        {"pooling": "mean", "count_include_pad": False, "ceil_mode": False},
        {"pooling": "max", "ceil_mode": False},
    ],
)
def test_agrees_with_reference_on_each_backend(backend, kw):
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 6))
    check_layer(pool(kernel=3, stride=2, pad=1, **kw), [x], backend)
    check_layer(pool(global_pooling=True, **kw), [x], backend)


def test_bad_option_values():
    with pytest.raises(LayerConfigError, match="'pad'.*global pooling takes pad 0"):
        pool(global_pooling=True, pad=1)
    with pytest.raises(LayerConfigError, match="'ceil_mode'"):
        pool(ceil_mode="floor")
    with pytest.raises(LayerConfigError, match="'count_include_pad'"):
        pool(count_include_pad=0)
