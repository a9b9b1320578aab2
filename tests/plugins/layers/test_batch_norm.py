import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_smoke import Case, L, normal

import mocha
from mocha import LayerConfigError, ShapeError, add_coffee_break, registry_reset
from mocha.plugins.layers.batch_norm import BatchNormLayer
from mocha.testing import check_gradients, check_layer, run_layer


def bn(**kw):
    kw.setdefault("bottoms", ["x"])
    kw.setdefault("tops", ["y"])
    return BatchNormLayer(**kw)


def oracle(x, mean, var, eps=1e-5, gamma=None, beta=None):
    """y = (x − μ)/sqrt(σ² + eps) [γ + β] per channel (axis 1), written out with NumPy."""
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    mean, var = np.asarray(mean, float), np.asarray(var, float)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if gamma is not None:
        y = y * gamma.reshape(shape) + beta.reshape(shape)
    return y


def batch_stats(x):
    axes = (0, *range(2, x.ndim))
    return x.mean(axis=axes), x.var(axis=axes)


def stats(h):
    return {p.name: p.blob.to_host().copy() for p in h.state.parameters}


@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (7, 4), (2, 3, 5)])
def test_training_forward_uses_batch_statistics(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 3 + 1
    h = run_layer(bn(affine=True), [x])
    h.state.parameters[3].blob.copy_from(np.array([0.5, 2.0, -1.0, 3.0][: shape[1]]))
    h.state.parameters[4].blob.copy_from(np.array([0.1, -0.2, 0.3, 0.0][: shape[1]]))
    h.forward()
    gamma, beta = (p.blob.to_host() for p in h.state.parameters[3:])
    np.testing.assert_allclose(h.tops()[0], oracle(x, *batch_stats(x), 1e-5, gamma, beta))


def test_evaluation_uses_stored_sums_over_the_scale_factor():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 4, 4))
    h = run_layer(bn(eps=1e-3), [x], phase="test")
    sm, sv = np.array([2.0, -4.0]), np.array([8.0, 0.5])
    for p, v in zip(h.state.parameters, (sm, sv, np.array([4.0]))):
        p.blob.copy_from(v)
    h.forward()
    np.testing.assert_allclose(h.tops()[0], oracle(x, sm / 4, sv / 4, 1e-3), rtol=1e-12)
    h.state.parameters[2].blob.copy_from(np.array([0.0]))  # Caffe: a zero factor means 0, 0
    h.forward()
    np.testing.assert_allclose(h.tops()[0], x / np.sqrt(1e-3), rtol=1e-12)


@pytest.mark.parametrize("flag, batch", [(True, False), (False, True)])
def test_use_global_stats_overrides_the_phase(flag, batch):
    x = np.random.default_rng(2).standard_normal((4, 3, 2, 2))
    h = run_layer(bn(use_global_stats=flag, momentum=0.1), [x], phase="test" if batch else "train")
    expect = oracle(x, *batch_stats(x)) if batch else oracle(x, np.zeros(3), np.ones(3))
    np.testing.assert_allclose(h.tops()[0], expect, rtol=1e-12)


def test_caffe_rule_updates_the_moving_sums_at_backward():
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((2, 3, 2, 3)) for _ in range(3)]
    h = run_layer(bn(moving_average_fraction=0.9), [xs[0]])
    assert not stats(h)["scale_factor"].any()  # the forward alone changes nothing
    sm, sv, sf, m = np.zeros(3), np.zeros(3), 0.0, 2 * 2 * 3
    for x in xs:
        h.inputs[0].copy_from(x)
        h.forward()
        h.backward([np.ones(x.shape)])
        mu, var = batch_stats(x)
        sf, sm, sv = 0.9 * sf + 1, 0.9 * sm + mu, 0.9 * sv + var * m / (m - 1)
    got = stats(h)
    np.testing.assert_allclose(got["scale_factor"], [sf], rtol=1e-15)
    np.testing.assert_allclose(got["mean"], sm, rtol=1e-14)
    np.testing.assert_allclose(got["variance"], sv, rtol=1e-14)
    # the test phase then normalizes with sums / factor
    h.state.phase = "test"
    h.forward()
    np.testing.assert_allclose(h.tops()[0], oracle(xs[-1], sm / sf, sv / sf), rtol=1e-12)


def test_pytorch_rule_is_an_exponential_moving_average():
    rng = np.random.default_rng(4)
    h = run_layer(bn(momentum=0.1), [np.zeros((5, 2))])
    assert stats(h)["variance"].tolist() == [1.0, 1.0] and stats(h)["scale_factor"] == [1.0]
    rm, rv = np.zeros(2), np.ones(2)
    for _ in range(3):
        x = rng.standard_normal((5, 2))
        h.inputs[0].copy_from(x)
        h.forward()
        h.backward([np.ones(x.shape)])
        rm = 0.9 * rm + 0.1 * x.mean(axis=0)
        rv = 0.9 * rv + 0.1 * x.var(axis=0, ddof=1)  # torch: unbiased running variance
    np.testing.assert_allclose(stats(h)["mean"], rm, rtol=1e-14)
    np.testing.assert_allclose(stats(h)["variance"], rv, rtol=1e-14)
    assert stats(h)["scale_factor"] == [1.0]


def test_fraction_one_is_pytorchs_cumulative_average():
    rng = np.random.default_rng(9)
    xs = [rng.standard_normal((4, 2)) + i for i in range(3)]
    h = run_layer(bn(moving_average_fraction=1.0), [xs[0]])
    for x in xs:
        h.inputs[0].copy_from(x)
        h.forward()
        h.backward([np.ones(x.shape)])
    got = stats(h)
    assert got["scale_factor"].tolist() == [3.0]  # PyTorch's num_batches_tracked
    means = np.mean([x.mean(axis=0) for x in xs], axis=0)
    np.testing.assert_allclose(got["mean"] / got["scale_factor"], means, rtol=1e-14)


def test_test_phase_and_global_stats_never_update():
    x = np.random.default_rng(5).standard_normal((3, 2, 2, 2))
    for kw, phase in (({}, "test"), ({"use_global_stats": True}, "train")):
        h = run_layer(bn(**kw), [x], phase=phase)
        h.backward([np.ones(x.shape)])
        assert not any(v.any() for v in stats(h).values())


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 4),
    c=st.integers(1, 3),
    hw=st.sampled_from([(), (1,), (2, 3), (3, 1)]),
    affine=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_gradients_float64_with_batch_statistics(n, c, hw, affine, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, *hw)) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)
    assert check_gradients(bn(affine=affine), [x], seed=seed)["checked"] > 0


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_gradients_float64_with_stored_statistics(n, c, seed):
    x = np.random.default_rng(seed).standard_normal((n, c, 2, 2))
    layer = bn(momentum=0.1, use_global_stats=True)  # constants μ = 0, σ² = 1
    # the statistics are not learned: their "gradient" is left out of the check
    assert check_gradients(layer, [x], seed=seed, check_params=False)["checked"] > 0


@pytest.mark.parametrize("kw", [{"affine": True}, {"momentum": 0.1, "use_global_stats": True}])
@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (6, 5)])
def test_agrees_with_reference_on_each_backend(backend, kw, shape):
    x = np.random.default_rng(6).standard_normal(shape) * 2 + 0.5
    check_layer(bn(**kw), [x], backend, check_params="affine" in kw)


def test_statistics_are_saved_and_loaded_with_the_model(tmp_path):
    rng = np.random.default_rng(7)
    backend = mocha.make_backend("numpy", dtype="float64", seed=0)
    x = rng.standard_normal((4, 3, 2, 2))

    def net():
        registry_reset(backend)
        return mocha.Net(
            "n",
            backend,
            [
                mocha.MemoryDataLayer(name="d", data=[x], tops=["x"], batch_size=4),
                bn(name="bn", affine=True),
            ],
            phase="test",
        )

    a = net()
    a.init()
    for p, v in zip(a.state_of("bn").parameters, ([1.0, 2, 3], [4.0, 5, 6], [2.0])):
        p.blob.copy_from(np.array(v))
    mocha.save_network(str(tmp_path / "m.h5"), a)
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert f["bn___scale_factor"][()].tolist() == [2.0]
    b = net()
    b.init()
    mocha.load_network(str(tmp_path / "m.h5"), b)
    a.forward()
    b.forward()
    np.testing.assert_array_equal(b.output_blobs["y"].to_host(), a.output_blobs["y"].to_host())
    np.testing.assert_allclose(b.output_blobs["y"].to_host(), oracle(x, [0.5, 1, 1.5], [2, 2.5, 3]))


def _train(folder, max_iter, backend_name, load_from=""):
    rng = np.random.default_rng(8)
    x, labels = rng.standard_normal((12, 2, 3, 3)), rng.integers(0, 3, (12, 1)).astype(float)
    backend = mocha.make_backend(backend_name, dtype="float64", seed=1)
    backend.init()
    registry_reset(backend)
    net = mocha.Net(
        "bn",
        backend,
        [
            mocha.MemoryDataLayer(name="d", data=[x, labels], batch_size=4, shuffle=True),
            mocha.ConvolutionLayer(name="conv", n_filter=3, kernel=2, bottoms=["data"], tops=["c"]),
            bn(name="bn", bottoms=["c"], tops=["b"], affine=True),
            bn(name="bn2", bottoms=["b"], tops=["b2"], momentum=0.1),
            mocha.InnerProductLayer(name="ip", output_dim=3, bottoms=["b2"], tops=["out"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["out", "label"]),
        ],
    )
    params = mocha.make_solver_parameters(
        mocha.SGD(), max_iter=max_iter, mom_policy=mocha.MomPolicy.Fixed(0.9), load_from=load_from
    )
    solver = mocha.Solver(mocha.SGD(), params)
    add_coffee_break(solver, mocha.Snapshot(str(folder)), every_n_iter=3)
    state = mocha.solve(solver, net)
    weights = {f"{s.layer.name}.{p.name}": p.blob.to_host().copy() for s, p in _params(net)}
    return state, weights


def _params(net):
    return [(s, p) for s in net.states for p in s.parameters]


def test_resume_is_bitwise_exact_with_moving_statistics(tmp_path, backend_name):
    ref_state, ref = _train(tmp_path / "ref", 8, backend_name)
    _train(tmp_path / "b", 5, backend_name)  # snapshots 0 and 3, stops at 5
    state, got = _train(tmp_path / "c", 8, backend_name, str(tmp_path / "b/snapshot-000003.h5"))
    assert state.obj_val == ref_state.obj_val
    assert ref["bn.scale_factor"][0] > 1  # the statistics did move
    for key, value in ref.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_neuron_is_applied_after_the_normalization():
    x = np.random.default_rng(10).standard_normal((5, 3, 2))
    layer = bn(neuron=mocha.Neurons.ReLU(), affine=True)
    h = run_layer(layer, [x])
    np.testing.assert_allclose(h.tops()[0], np.maximum(oracle(x, *batch_stats(x)), 0))
    assert check_gradients(layer, [x])["checked"] > 0


def test_defaults_are_caffes():
    layer = bn()
    assert (layer.name, layer.eps, layer.moving_average_fraction, layer.momentum) == (
        "batchnorm",
        1e-5,
        0.999,
        0.0,
    )
    assert layer.use_global_stats is None and layer.affine is False


@pytest.mark.parametrize(
    "field, value",
    [("eps", 0), ("momentum", 1.5), ("moving_average_fraction", -0.1), ("use_global_stats", 1)],
)
def test_bad_fields_name_layer_field_and_value(field, value):
    with pytest.raises(LayerConfigError, match=rf"BatchNormLayer\(name='n'\).*'{field}'"):
        bn(name="n", **{field: value})


def test_a_blob_without_channels_is_refused():
    with pytest.raises(ShapeError, match=r"BatchNormLayer\('batchnorm'\).*'x' has shape \(5,\)"):
        run_layer(bn(), [np.ones(5)])


SMOKE_CASES = {
    "BatchNormLayer": Case(
        lambda t: L("BatchNormLayer", affine=True, bottoms=["x"], tops=["y"]),
        [normal(4, 3, 3, 2)],
        shapes=[(4, 3, 3, 2)],
    ),
}
