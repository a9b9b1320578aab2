"""The train/test split of a data provider depends on numpy and the seed only (issue 11,
item 5): the same `split_seed` gives the same rows with and without scikit-learn."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mocha.core.errors import DataError
from mocha.datasets.split import split_indices
from mocha.experiment.providers import load_provider, register_data_provider

RNG = np.random.default_rng(3)
DATA = np.arange(200, dtype=np.float32).reshape(100, 2)
LABELS = np.repeat(np.arange(3), [50, 30, 20]).astype(np.float32).reshape(-1, 1)
register_data_provider("test:split", lambda: {"data": DATA, "label": LABELS})


def without_sklearn(monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn...` raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.model_selection", None)
    with pytest.raises(ImportError):
        import sklearn.model_selection  # noqa: F401


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("seed", [0, 7])
def test_same_rows_with_and_without_scikit_learn(monkeypatch, split, seed):
    pytest.importorskip("sklearn")
    with_sklearn = load_provider("test:split", split=split, split_seed=seed)
    without_sklearn(monkeypatch)
    without = load_provider("test:split", split=split, split_seed=seed)
    for a, b in zip(with_sklearn, without):
        np.testing.assert_array_equal(a, b)


def test_split_partitions_is_stratified_and_seeded():
    train, test = split_indices(100, 0.2, seed=1, labels=LABELS)
    assert len(test) == 20 and len(train) == 80
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(100))
    assert np.bincount(LABELS[test, 0].astype(int)).tolist() == [10, 6, 4]  # 20% of each class
    again = split_indices(100, 0.2, seed=1, labels=LABELS)
    np.testing.assert_array_equal(again[1], test)
    other = split_indices(100, 0.2, seed=2, labels=LABELS)
    assert not np.array_equal(other[1], test)


def test_split_sizes_and_rounding():
    labels = np.repeat(np.arange(4), [7, 5, 3, 2])
    train, test = split_indices(17, 0.25, seed=0, labels=labels)
    assert len(test) == 5 and len(train) == 12  # ⌈17 · 0.25⌉, as scikit-learn counts
    counts = np.bincount(labels[test], minlength=4)
    assert counts.sum() == 5 and all(counts <= [7, 5, 3, 2])
    assert abs(counts - np.array([7, 5, 3, 2]) * 5 / 17).max() < 1  # each class its share
    _, unlabelled = split_indices(10, 0.5, seed=0)
    assert len(unlabelled) == 5
    with pytest.raises(DataError, match="test_fraction"):
        split_indices(10, 1.0, seed=0)
    with pytest.raises(DataError, match="cannot split 1 row"):
        split_indices(1, 0.5, seed=0)
