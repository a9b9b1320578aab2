"""BinaryAccuracyLayer (semantics §3.15): threshold on predictions and labels, running mean."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal, signs

from mocha import LayerConfigError, ShapeError
from mocha.plugins.layers.binary_accuracy import BinaryAccuracyLayer
from mocha.testing import run_layer


def layer(**kw):
    return BinaryAccuracyLayer(name="bacc", bottoms=["pred", "label"], **kw)


@given(
    n=st.integers(1, 6),
    k=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    threshold=st.sampled_from([0.0, 0.5]),
)
def test_accuracy_matches_the_oracle(n, k, seed, threshold):
    rng = np.random.default_rng(seed)
    pred = rng.uniform(-1, 1.5, (n, k))
    label = (
        rng.choice([-1.0, 1.0], (n, k))
        if threshold == 0
        else rng.integers(0, 2, (n, k)).astype(float)
    )
    h = run_layer(layer(threshold=threshold), [pred, label])
    correct = sum(
        bool(p > threshold) == bool(t > threshold) for p, t in zip(pred.ravel(), label.ravel())
    )
    assert h.state.dump_statistics()["bacc-accuracy"] == pytest.approx(correct / pred.size)


def test_threshold_applies_to_the_labels_too():
    pred, label = np.array([[0.3], [0.7]]), np.array([[0.0], [1.0]])
    assert run_layer(layer(threshold=0.5), [pred, label]).state.accuracy == 1.0
    # with threshold 0, a label of 0 counts as "negative" and 0.3 as "positive"
    assert run_layer(layer(), [pred, label]).state.accuracy == 0.5


def test_running_mean_over_batches_error_and_reset():
    h = run_layer(layer(report_error=True), [np.array([[1.0], [1.0]]), np.array([[1.0], [-1]])])
    h.inputs[0].data[...] = -1.0  # 1 of 2 right again
    h.forward()
    h.inputs[0].data[...] = np.array([[1.0], [-1.0]])  # 2 of 2 right
    h.forward()
    stats = h.state.dump_statistics()
    assert stats == {"bacc-accuracy": pytest.approx(4 / 6), "bacc-error": pytest.approx(2 / 6)}
    assert h.state.statistics_summary().endswith("(avg over 6) = 66.6667%")
    h.state.reset_statistics()
    assert h.state.n_accum == 0 and h.state.accuracy == 0.0


def test_errors():
    with pytest.raises(ShapeError, match=r"BinaryAccuracyLayer\('bacc'\).*'pred' \(2, 1\)"):
        run_layer(layer(), [np.zeros((2, 1)), np.zeros((3, 1))])
    with pytest.raises(LayerConfigError, match=r"'threshold' = nan"):
        layer(threshold=float("nan"))


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "BinaryAccuracyLayer": Case(
        lambda t: L("BinaryAccuracyLayer", bottoms=["p", "y"]), [normal(4, 3), signs(4, 3)]
    ),
}
