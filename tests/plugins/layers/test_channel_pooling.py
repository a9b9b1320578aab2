import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.channel_pooling import ChannelPoolingLayer, channel_pooled_size
from mocha.plugins.layers.pooling import Pooling
from mocha.testing import check_gradients, check_layer, run_layer


def out_size(C, k, front, back, s):
    P = -(-(C + front + back - k) // s) + 1
    if (P - 1) * s >= C + front:
        P -= 1
    return P


def oracle(x, axis, kernel, stride, pad, mode, g=None):
    """Naive channel pooling: moves `axis` last and loops over the output channels."""
    xm = np.moveaxis(x, axis, -1)
    C = xm.shape[-1]
    P = out_size(C, kernel, pad[0], pad[1], stride)
    y = np.zeros(xm.shape[:-1] + (P,))
    dx = np.zeros_like(xm)
    gm = None if g is None else np.moveaxis(g, axis, -1)
    for idx in np.ndindex(*xm.shape[:-1]):
        for p in range(P):
            c0 = p * stride - pad[0]
            c1, c0 = min(c0 + kernel, C), max(c0, 0)
            window = xm[idx][c0:c1]
            gp = 0.0 if gm is None else gm[idx][p]
            if mode == "max":
                a = int(np.argmax(window))  # the smallest channel on ties
                y[idx][p] = window[a]
                dx[idx][c0 + a] += gp
            else:
                y[idx][p] = window.sum() / kernel
                dx[idx][c0:c1] += gp / kernel
    return np.moveaxis(y, -1, axis), np.moveaxis(dx, -1, axis)


def cpool(**kw):
    kw.setdefault("bottoms", ["x"])
    kw.setdefault("tops", ["y"])
    return ChannelPoolingLayer(**kw)


@pytest.mark.parametrize("mode", ["max", "mean"])
@pytest.mark.parametrize(
    "shape, axis, kernel, stride, pad",
    [
        ((2, 6, 3, 3), 1, 2, 2, (0, 0)),
        ((2, 7, 3), 1, 3, 2, (1, 1)),  # 3-D, padded both sides
        ((3, 5), 1, 2, 2, (0, 0)),  # 2-D, last window cut by the rounded-up size
        ((2, 3, 4, 5), -1, 3, 1, (1, 0)),  # pool along width, front padding only
        ((2, 3, 4, 5), 2, 4, 3, (2, 2)),
        ((1, 1, 2), 1, 1, 1, (0, 0)),
    ],
)
def test_forward_and_backward_match_naive_oracle(shape, axis, kernel, stride, pad, mode):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    h = run_layer(cpool(kernel=kernel, stride=stride, pad=pad, channel_dim=axis, pooling=mode), [x])
    g = rng.standard_normal(h.tops()[0].shape)
    y_ref, dx_ref = oracle(x, axis, kernel, stride, pad, mode, g)
    np.testing.assert_allclose(h.tops()[0], y_ref, atol=1e-12)
    h.backward([g])
    np.testing.assert_allclose(h.diffs[0].to_host(), dx_ref, atol=1e-12)


def test_output_size_rule_is_unconditional():
    # no padding: ceil((5-2)/2)+1 = 3, and (3-1)·2 = 4 < 5 keeps 3; with pad (0, 1): 3 too
    assert channel_pooled_size(5, 2, (0, 0), 2) == 3
    # C=4, k=2, s=2, pad=(0,2): ceil(4/2)+1 = 3 but (3-1)·2 = 4 >= 4 + 0, so 2
    assert channel_pooled_size(4, 2, (0, 2), 2) == 2
    h = run_layer(cpool(kernel=2, stride=2, pad=(0, 2)), [np.ones((1, 4, 1, 1))])
    assert h.tops()[0].shape == (1, 2, 1, 1)


def test_ties_go_to_the_smallest_channel():
    x = np.array([[3.0, 3.0, 1.0, 3.0]])
    h = run_layer(cpool(kernel=2, stride=1), [x])
    h.backward([np.ones((1, 3))])
    # windows {0,1} (a tie: channel 0 wins), {1,2} (channel 1), {2,3} (channel 3)
    np.testing.assert_array_equal(h.diffs[0].to_host(), [[1.0, 1.0, 0.0, 1.0]])


@given(
    n=st.integers(1, 2),
    c=st.integers(1, 7),
    rest=st.lists(st.integers(1, 3), max_size=2),
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    front=st.integers(0, 2),
    back=st.integers(0, 2),
    mode=st.sampled_from(["max", "mean"]),
    seed=st.integers(0, 2**16),
)
def test_gradients_float64(n, c, rest, k, s, front, back, mode, seed):
    P = out_size(c, k, front, back, s)
    assume(P >= 1)
    assume(all(min(p * s - front + k, c) > max(p * s - front, 0) for p in range(P)))
    x = np.random.default_rng(seed).standard_normal((n, c, *rest))
    layer = cpool(kernel=k, stride=s, pad=(front, back), pooling=mode)
    assert check_gradients(layer, [x], seed=seed)["checked"] > 0


@pytest.mark.parametrize("mode", [Pooling.Max(), Pooling.Mean()])
def test_agrees_with_reference_on_each_backend(backend, mode):
    x = np.random.default_rng(3).standard_normal((3, 8, 3, 2))
    check_layer(cpool(kernel=3, stride=2, pad=1, pooling=mode), [x], backend)


def test_defaults():
    layer = cpool()
    assert (layer.name, layer.kernel, layer.stride, layer.pad, layer.channel_dim) == (
        "channel-pooling",
        1,
        1,
        (0, 0),
        1,
    )
    assert layer.pooling == Pooling.Max()


@pytest.mark.parametrize(
    "field, value",
    [
        ("kernel", 0),
        ("stride", 0),
        ("pad", (0, -1)),
        ("channel_dim", 0),
        ("kernel", (2, 2)),
        ("pooling", "sum"),
    ],
)
def test_bad_fields_name_layer_field_and_value(field, value):
    with pytest.raises(LayerConfigError, match=rf"ChannelPoolingLayer\(name='cp'\).*'{field}'"):
        cpool(name="cp", **{field: value})


def test_batch_axis_is_refused():
    with pytest.raises(ShapeError, match=r"channel_dim=-3.*bottom 'x'"):
        run_layer(cpool(channel_dim=-3), [np.ones((2, 3, 4))])


def test_empty_window_is_refused():
    with pytest.raises(ShapeError, match=r"ChannelPoolingLayer\('cp'\).*window 0.*'x'"):
        run_layer(cpool(name="cp", kernel=2, pad=(2, 0)), [np.ones((1, 4, 2))])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "ChannelPoolingLayer": Case(
        lambda t: L("ChannelPoolingLayer", kernel=3, stride=2, pad=1, bottoms=["x"], tops=["y"]),
        [normal(2, 6, 3)],
        shapes=[(2, 4, 3)],
    ),
}
