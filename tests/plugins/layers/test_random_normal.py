import numpy as np
import pytest
from layer_smoke import Case, L

from mocha import InnerProductLayer, LayerConfigError, MemoryDataLayer, MochaError, Net
from mocha.plugins.layers.random_normal import RandomNormalLayer
from mocha.testing import reference_backend, run_layer


def test_shapes_and_standard_normal_statistics():
    layer = RandomNormalLayer(tops=["a", "b"], output_dims=(3, 4), batch_sizes=[500, 2])
    h = run_layer(layer, [])
    a, b = h.tops()
    assert a.shape == (500, 3, 4) and b.shape == (2, 3, 4)
    assert abs(a.mean()) < 0.05 and abs(a.std() - 1) < 0.05


def test_fresh_noise_each_forward_reproducible_from_the_seed():
    layer = RandomNormalLayer(tops=["z"], output_dims=5, batch_sizes=3)
    h1 = run_layer(layer, [], backend=reference_backend(seed=7))
    h2 = run_layer(layer, [], backend=reference_backend(seed=7))
    np.testing.assert_array_equal(h1.tops()[0], h2.tops()[0])
    first = h1.tops()[0]
    h1.state.forward(h1.backend, [])
    assert not np.array_equal(first, h1.tops()[0])


def test_eltype_and_backend_dtype():
    h = run_layer(
        RandomNormalLayer(tops=["z"], output_dims=2, batch_sizes=1),
        [],
        backend=reference_backend("float32"),
    )
    assert h.state.blobs[0].dtype == np.float32
    h = run_layer(
        RandomNormalLayer(tops=["z"], output_dims=2, batch_sizes=1, eltype="float64"),
        [],
        backend=reference_backend("float32"),
    )
    assert h.state.blobs[0].dtype == np.float64


def test_net_epoch_comes_from_a_data_layer_that_counts_passes():
    # A16: Mocha's RandomNormal has no epoch and broke get_epoch when it came first
    net = Net(
        "gen",
        reference_backend(),
        [
            RandomNormalLayer(tops=["z"], output_dims=2, batch_sizes=2),
            MemoryDataLayer(data=[np.ones((3, 2))], tops=["x"], batch_size=2),
            InnerProductLayer(name="ip", output_dim=1, bottoms=["z"], tops=["y"]),
        ],
    )
    assert net.epoch == 0
    net.forward_epoch()
    assert net.epoch == 1
    only_noise = Net(
        "noise", reference_backend(), [RandomNormalLayer(tops=["z"], output_dims=2, batch_sizes=2)]
    )
    only_noise.forward()
    assert only_noise.epoch == 0
    with pytest.raises(MochaError, match="no data layer that counts epochs"):
        only_noise.forward_epoch()


def test_errors():
    with pytest.raises(LayerConfigError, match="'batch_sizes'.*one batch size per top"):
        RandomNormalLayer(tops=["a", "b"], output_dims=(2,), batch_sizes=[3])
    with pytest.raises(LayerConfigError, match=r"'output_dims' = \(2, 0\)"):
        RandomNormalLayer(tops=["a"], output_dims=(2, 0), batch_sizes=[3])
    with pytest.raises(LayerConfigError, match="'eltype' = 'int8'"):
        RandomNormalLayer(tops=["a"], output_dims=2, batch_sizes=1, eltype="int8")
    with pytest.raises(LayerConfigError, match="bottoms"):
        RandomNormalLayer(tops=["a"], bottoms=["x"], output_dims=2, batch_sizes=1)


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "RandomNormalLayer": Case(
        lambda t: L("RandomNormalLayer", tops=["r1", "r2"], output_dims=(2, 3), batch_sizes=(4, 2)),
        shapes=[(4, 2, 3), (2, 2, 3)],
    ),
}
