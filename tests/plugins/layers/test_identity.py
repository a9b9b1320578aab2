import numpy as np
import pytest
from layer_smoke import Case, L, normal

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


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "IdentityLayer": Case(
        lambda t: L("IdentityLayer", bottoms=["a", "b"], tops=["c", "d"]),
        [normal(3, 4), normal(2, 2)],
        shapes=[(3, 4), (2, 2)],
    ),
}
