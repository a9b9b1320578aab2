import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

import mocha
from mocha import LayerConfigError, Neurons, ShapeError
from mocha.plugins.components.initializers import ConstantInitializer
from mocha.plugins.layers.convolution import ConvolutionLayer
from mocha.testing import check_gradients, check_layer, run_layer


def oracle(x, w, b, pad, stride, groups):
    """Naive grouped cross-correlation with zero padding (loops over every output cell)."""
    N, C, H, W = x.shape
    F, Cg, kh, kw = w.shape
    (ph, pw), (sh, sw) = pad, stride
    oh, ow = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, F, oh, ow))
    for n in range(N):
        for f in range(F):
            g = f // (F // groups)
            for i in range(oh):
                for j in range(ow):
                    total = b[f]
                    for c in range(Cg):
                        for p in range(kh):
                            for q in range(kw):
                                h, v = i * sh - ph + p, j * sw - pw + q
                                if 0 <= h < H and 0 <= v < W:
                                    total += w[f, c, p, q] * x[n, g * Cg + c, h, v]
                    y[n, f, i, j] = total
    return y


def conv(**kw):
    kw.setdefault("bottoms", ["x"])
    kw.setdefault("tops", ["y"])
    return ConvolutionLayer(name=kw.pop("name", "conv"), **kw)


@pytest.mark.parametrize(
    "shape, n_filter, kernel, stride, pad, groups",
    [
        ((2, 3, 5, 5), 4, (3, 3), (1, 1), (0, 0), 1),
        ((1, 2, 7, 6), 3, (3, 2), (2, 3), (1, 2), 1),  # rectangular kernel, odd sizes
        ((2, 4, 5, 7), 6, (2, 3), (2, 1), (1, 0), 2),  # groups
        ((1, 6, 4, 4), 3, (1, 1), (1, 1), (0, 0), 3),  # 1x1 kernel, 3 groups
        ((1, 1, 3, 3), 2, (5, 5), (1, 1), (1, 1), 1),  # kernel larger than the image
        ((2, 2, 6, 6), 2, (3, 3), (4, 4), (2, 2), 1),  # stride larger than the kernel
    ],
)
def test_forward_matches_naive_oracle(shape, n_filter, kernel, stride, pad, groups):
    x = np.random.default_rng(0).standard_normal(shape)
    layer = conv(
        n_filter=n_filter,
        kernel=kernel,
        stride=stride,
        pad=pad,
        n_group=groups,
        bias_init=ConstantInitializer(0.5),
    )
    h = run_layer(layer, [x])
    w, b = (p.blob.to_host() for p in h.state.parameters)
    assert w.shape == (n_filter, shape[1] // groups, *kernel)
    assert b.shape == (n_filter,)
    np.testing.assert_allclose(h.tops()[0], oracle(x, w, b, pad, stride, groups), atol=1e-12)


def test_int_kernel_means_both_dims_and_output_uses_floor():
    layer = conv(n_filter=2, kernel=3, stride=2, pad=1)
    assert layer.kernel == (3, 3) and layer.stride == (2, 2) and layer.pad == (1, 1)
    h = run_layer(layer, [np.ones((1, 1, 6, 5))])
    assert h.tops()[0].shape == (1, 2, 3, 3)  # floor((6+2-3)/2)+1 = 3, floor((5+2-3)/2)+1 = 3


@given(
    n=st.integers(1, 2),
    groups=st.integers(1, 2),
    cg=st.integers(1, 2),
    fg=st.integers(1, 2),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    ph=st.integers(0, 2),
    pw=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_gradients_float64(n, groups, cg, fg, h, w, kh, kw, sh, sw, ph, pw, seed):
    assume(h + 2 * ph >= kh and w + 2 * pw >= kw)
    x = np.random.default_rng(seed).standard_normal((n, groups * cg, h, w))
    layer = conv(
        n_filter=groups * fg,
        kernel=(kh, kw),
        stride=(sh, sw),
        pad=(ph, pw),
        n_group=groups,
        bias_init=ConstantInitializer(0.1),
    )
    counts = check_gradients(layer, [x], seed=seed)  # bottom, filter and bias gradients
    assert counts["checked"] > 0


def test_two_bottoms_accumulate_parameter_gradients():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((2, 2, 4, 4))
    layer = conv(n_filter=3, kernel=2, bottoms=["a", "b"], tops=["ya", "yb"])
    check_gradients(layer, [a, b])
    h = run_layer(layer, [a, b])
    ga, gb = rng.standard_normal((2, 2, 3, 3, 3))
    h.backward([ga, gb])
    db = h.state.parameters[1].gradient.to_host()
    np.testing.assert_allclose(db, ga.sum(axis=(0, 2, 3)) + gb.sum(axis=(0, 2, 3)))


def test_backward_overwrites_gradients_instead_of_accumulating():
    x = np.random.default_rng(2).standard_normal((1, 1, 4, 4))
    h = run_layer(conv(n_filter=1, kernel=2), [x])
    g = np.ones((1, 1, 3, 3))
    h.backward([g])
    first = [h.diffs[0].to_host(), h.state.parameters[0].gradient.to_host()]
    h.backward([g])
    np.testing.assert_allclose(h.diffs[0].to_host(), first[0])
    np.testing.assert_allclose(h.state.parameters[0].gradient.to_host(), first[1])


def test_nullblob_bottom_diff_still_gives_parameter_gradients():
    x = np.random.default_rng(3).standard_normal((2, 1, 3, 3))
    h = run_layer(conv(n_filter=2, kernel=2), [x], no_grad=[0])
    h.backward([np.ones((2, 2, 2, 2))])
    assert h.diffs[0].is_null
    np.testing.assert_allclose(h.state.parameters[1].gradient.to_host(), [8.0, 8.0])


def test_relu_neuron_gradients():
    x = np.random.default_rng(4).standard_normal((2, 2, 4, 4))
    check_gradients(conv(n_filter=3, kernel=3, pad=1, neuron=Neurons.ReLU()), [x])


def test_agrees_with_reference_on_each_backend(backend):
    x = np.random.default_rng(5).standard_normal((3, 4, 7, 6))
    layer = conv(n_filter=4, kernel=(3, 2), stride=(2, 1), pad=1, n_group=2, neuron=Neurons.Tanh())
    check_layer(layer, [x], backend)


@pytest.mark.parametrize(
    "field, value",
    [
        ("kernel", 0),
        ("kernel", (3, 0)),
        ("stride", (1, 0)),
        ("pad", -1),
        ("n_filter", 0),
        ("n_group", 0),
        ("kernel", (1, 2, 3)),
    ],
)
def test_bad_fields_name_layer_field_and_value(field, value):
    with pytest.raises(LayerConfigError, match=rf"ConvolutionLayer\(name='conv'\).*'{field}'"):
        conv(**{field: value})


def test_name_is_required():
    with pytest.raises(TypeError):
        ConvolutionLayer(bottoms=["x"], tops=["y"])


def test_groups_must_divide_filters_and_channels():
    with pytest.raises(LayerConfigError, match="n_filter.*n_group=2"):
        conv(n_filter=3, n_group=2)
    with pytest.raises(ShapeError, match="3 channels.*n_group=2"):
        run_layer(conv(n_filter=2, n_group=2), [np.ones((1, 3, 4, 4))])


def test_non_4d_input_is_refused():
    with pytest.raises(ShapeError, match=r"bottom 'x' has shape \(2, 3, 4\).*4-D"):
        run_layer(conv(n_filter=2), [np.ones((2, 3, 4))])


def test_kernel_that_does_not_fit_is_refused_at_setup():
    with pytest.raises(ShapeError, match=r"kernel=\(5, 5\).*\(3, 3\)"):
        run_layer(conv(n_filter=1, kernel=5, pad=0), [np.ones((1, 1, 3, 3))])


def test_bottoms_of_different_shapes_are_refused():
    layer = conv(n_filter=1, bottoms=["a", "b"], tops=["c", "d"])
    with pytest.raises(ShapeError, match="same shape"):
        run_layer(layer, [np.ones((1, 1, 3, 3)), np.ones((1, 1, 4, 3))])


def test_param_key_shares_the_filters_inside_a_net():
    from mocha import MemoryDataLayer, Net, registry_reset
    from mocha.testing import reference_backend

    backend = reference_backend()
    x = np.random.default_rng(6).standard_normal((4, 2, 5, 5))
    net = Net(
        "shared",
        backend,
        [
            MemoryDataLayer(data=[x], batch_size=2, tops=["data"]),
            conv(
                name="a", param_key="k", n_filter=2, kernel=3, pad=1, bottoms=["data"], tops=["ya"]
            ),
            conv(name="b", param_key="k", n_filter=2, kernel=3, pad=1, bottoms=["ya"], tops=["yb"]),
        ],
    )
    states = {s.layer.name: s for s in net.states}
    assert states["b"].filter.blob is states["a"].filter.blob
    assert states["b"].filter.gradient is not states["a"].filter.gradient
    net.forward()
    w, b = states["a"].filter.blob.to_host(), states["a"].bias.blob.to_host()
    ya = oracle(x[:2], w, b, (1, 1), (1, 1), 1)
    np.testing.assert_allclose(
        states["b"].blobs[0].to_host(), oracle(ya, w, b, (1, 1), (1, 1), 1), atol=1e-12
    )
    net.shutdown()
    registry_reset(backend)


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "ConvolutionLayer": Case(
        lambda t: L(
            "ConvolutionLayer",
            name="conv",
            n_filter=4,
            kernel=3,
            pad=1,
            stride=2,
            n_group=2,
            neuron=mocha.Neurons.Tanh(),
            bottoms=["x"],
            tops=["y"],
        ),
        [normal(2, 4, 5, 5)],
        shapes=[(2, 4, 3, 3)],
    ),
}
