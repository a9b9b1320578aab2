"""AccuracyLayer (semantics §3.15): argmax with ties to the first maximum, spatial labels,
class axis choice, running mean over batches, reset, errors."""

import numpy as np
import pytest
from hypothesis import given
from layer_smoke import Case, L, labels, normal
from loss_oracles import class_problems, random_labels

from mocha import DataError, LayerConfigError, ShapeError
from mocha.plugins.layers.accuracy import AccuracyLayer
from mocha.testing import run_layer

# class_problems() writes the class axis negatively too (numpy order, on purpose)
pytestmark = pytest.mark.filterwarnings("ignore:.*in Mocha.jl:UserWarning")


def layer(**kw):
    return AccuracyLayer(name="acc", bottoms=["pred", "label"], **kw)


def accuracy_oracle(pred, label, axis):
    moved = np.moveaxis(pred, axis, -1)
    lab_shape = list(pred.shape)
    lab_shape[axis] = 1
    lab = np.moveaxis(label.reshape(lab_shape), axis, -1)[..., 0]
    hits = []
    for loc in np.ndindex(lab.shape):
        v = list(moved[loc])
        hits.append(v.index(max(v)) == int(lab[loc]))  # list.index: the first maximum
    return sum(hits) / len(hits)


@given(problem=class_problems())
def test_accuracy_matches_the_oracle_on_any_rank_and_axis(problem):
    shape, axis, dim, seed = problem
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, 3, shape).astype(float)  # small integers: many ties
    label = random_labels(rng, shape, axis)
    h = run_layer(layer(dim=dim), [pred, label])
    assert h.state.accuracy == pytest.approx(accuracy_oracle(pred, label, axis))
    assert h.state.n_accum == label.size


def test_ties_go_to_the_first_maximum():
    pred = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0]])
    assert run_layer(layer(), [pred, np.array([[0.0], [1.0]])]).state.accuracy == 1.0
    assert run_layer(layer(), [pred, np.array([[1.0], [2.0]])]).state.accuracy == 0.0


def test_spatial_labels_count_every_location():
    pred = np.zeros((1, 2, 2, 2))
    pred[0, 1, 0, :] = 1.0  # class 1 on the top row, class 0 (first max) on the bottom row
    label = np.array([[[[1.0, 1.0], [0.0, 1.0]]]])
    h = run_layer(layer(), [pred, label])
    assert h.state.accuracy == pytest.approx(3 / 4)
    assert h.state.n_accum == 4


def test_running_mean_over_batches_error_and_reset():
    pred = np.array([[0.0, 1.0], [1.0, 0.0]])
    h = run_layer(layer(report_error=True), [pred, np.array([[1.0], [0.0]])])  # 2 of 2
    h.inputs[1].data[...] = np.array([[0.0], [0.0]])  # 1 of 2
    h.forward()
    h.inputs[1].data[...] = np.array([[0.0], [1.0]])  # 0 of 2
    h.forward()
    assert h.state.dump_statistics() == {
        "acc-accuracy": pytest.approx(0.5),
        "acc-error": pytest.approx(0.5),
    }
    assert h.state.statistics_summary() == "Accuracy (avg over 6) = 50.0000%"
    h.state.reset_statistics()
    assert (h.state.accuracy, h.state.n_accum) == (0.0, 0)
    h.forward()
    assert h.state.accuracy == 0.0 and h.state.n_accum == 2


def test_without_report_error_only_the_accuracy_is_dumped():
    h = run_layer(layer(), [np.eye(2), np.array([[0.0], [1.0]])])
    assert h.state.dump_statistics() == {"acc-accuracy": 1.0}


def test_errors_name_the_layer_blob_and_value():
    with pytest.raises(DataError, match=r"AccuracyLayer\('acc'\): label 5\.0 in blob 'label'"):
        run_layer(layer(), [np.eye(2), np.array([[0.0], [5.0]])])
    with pytest.raises(ShapeError, match="label blob 'label' has 3 elements, expected 2"):
        run_layer(layer(), [np.eye(2), np.zeros((3, 1))])
    with pytest.raises(LayerConfigError, match=r"'dim' = 0"):
        layer(dim=0)


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "AccuracyLayer": Case(
        lambda t: L("AccuracyLayer", bottoms=["p", "y"]), [normal(4, 3), labels(3, 4, 1)]
    ),
}


def top_k_oracle(pred, label, axis, k):
    """Caffe's top-k: the label's score has fewer than k scores strictly above it."""
    moved = np.moveaxis(pred, axis, -1)
    lab_shape = list(pred.shape)
    lab_shape[axis] = 1
    lab = np.moveaxis(label.reshape(lab_shape), axis, -1)[..., 0]
    hits = [
        sum(s > moved[loc][int(lab[loc])] for s in moved[loc]) < k for loc in np.ndindex(lab.shape)
    ]
    return sum(hits) / len(hits)


@given(problem=class_problems())
def test_top_k_matches_the_oracle(problem):
    shape, axis, dim, seed = problem
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, 4, shape).astype(float)  # ties: a tied label counts as a hit
    label = random_labels(rng, shape, axis)
    for k in (2, 3):
        h = run_layer(layer(dim=dim, top_k=k), [pred, label])
        assert h.state.accuracy == pytest.approx(top_k_oracle(pred, label, axis, k))


def test_top_k_counts_the_label_among_the_k_best():
    pred = np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    label = np.array([[2.0], [2.0], [1.0]])
    assert run_layer(layer(), [pred, label]).state.accuracy == pytest.approx(0.0)
    assert run_layer(layer(top_k=2), [pred, label]).state.accuracy == pytest.approx(2 / 3)
    assert run_layer(layer(top_k=3), [pred, label]).state.accuracy == pytest.approx(1.0)
    with pytest.raises(LayerConfigError, match="top_k"):
        layer(top_k=0)
