import numpy as np
import pytest

from mocha import LayerConfigError
from mocha.plugins.layers.identity import IdentityLayer
from mocha.testing import check_gradients, check_layer, run_layer


def test_tops_alias_bottoms_and_diffs():
    x = np.arange(6.0).reshape(2, 3)
    h = run_layer(IdentityLayer(bottoms=["a"], tops=["b"]), [x])
    assert h.state.blobs[0] is h.inputs[0]
    assert h.state.blobs_diff[0] is h.diffs[0]
    np.testing.assert_array_equal(h.tops()[0], x)


def test_gradient_passes_through_unchanged():
    x = np.random.default_rng(0).standard_normal((3, 2, 2))
    check_gradients(IdentityLayer(bottoms=["a"], tops=["b"]), [x])


def test_agrees_with_reference(backend):
    x = np.random.default_rng(1).standard_normal((2, 5))
    check_layer(IdentityLayer(bottoms=["a", "b"], tops=["c", "d"]), [x, 2 * x], backend)


def test_needs_as_many_tops_as_bottoms():
    with pytest.raises(LayerConfigError, match="tops"):
        IdentityLayer(bottoms=["a", "b"], tops=["c"])
