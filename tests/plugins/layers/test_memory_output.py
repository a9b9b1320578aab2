import numpy as np
import pytest
from layer_smoke import Case, L, normal

import mocha
from mocha import LayerConfigError, MemoryDataLayer, Net
from mocha.plugins.layers.memory_output import MemoryOutputLayer, reset_outputs
from mocha.testing import reference_backend


def test_collects_a_host_copy_per_forward_and_resets():
    x = np.arange(12.0).reshape(6, 2)
    y = np.arange(6.0).reshape(6, 1)
    net = Net(
        "mo",
        reference_backend(),
        [
            MemoryDataLayer(data=[x, y], batch_size=4),
            MemoryOutputLayer(bottoms=["data", "label"]),
        ],
    )
    for _ in range(3):
        net.forward()
    state = net.state_of("memory-output")
    assert [len(o) for o in state.outputs] == [3, 3]
    # wrap-around batches: samples 0-3, 4-5+0-1, 2-5
    np.testing.assert_array_equal(
        np.concatenate(state.outputs[0]), x[[0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]]
    )
    assert isinstance(state.outputs[1][0], np.ndarray)
    # copies, not views of the blob
    state.outputs[0][0][...] = -1
    assert net.output_blobs["data"].to_host().min() >= 0
    assert mocha.reset_outputs is reset_outputs
    reset_outputs(state)
    assert state.outputs == [[], []]


def test_needs_bottoms_and_no_tops():
    with pytest.raises(LayerConfigError, match="bottoms"):
        MemoryOutputLayer(bottoms=[])
    with pytest.raises(LayerConfigError, match="tops"):
        MemoryOutputLayer(bottoms=["x"], tops=["y"])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "MemoryOutputLayer": Case(
        lambda t: L("MemoryOutputLayer", bottoms=["a", "b"]),
        [normal(3, 2), normal(3, 4)],
        compare=False,
    ),
}
