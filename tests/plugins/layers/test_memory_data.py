"""MemoryDataLayer: §3.1's exact oracle (9 samples, batch 6, SubMean), set_data, cursors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from layer_smoke import Case, L

from mocha import DataError, DataTransformer, SetupContext
from mocha.plugins.backends.numpy_backend import NumpyBackend
from mocha.plugins.layers.memory_data import MemoryDataLayer


class SubMean(DataTransformer):
    """x[n] -= mean for every sample n (the semantics of DataTransformers.SubMean)."""

    def __init__(self, mean):
        self.mean = np.asarray(mean)

    def transform(self, backend, blob):
        blob.data -= backend.asarray(self.mean)


def build(layer, seed=0):
    backend = NumpyBackend(seed=seed)
    return backend, layer.state_cls(layer, backend, [], [], SetupContext())


def test_nine_samples_batch_six_oracle_with_submean():
    data = np.random.default_rng(0).random((9, 2, 3)).astype(np.float32)
    mean = data.mean(0)
    layer = MemoryDataLayer(
        data=[data], tops=["data"], batch_size=6, transformers=[("data", SubMean(mean))]
    )
    backend, state = build(layer)
    expected = [
        (data[0:6], 0),
        (np.concatenate([data[6:9], data[0:3]]), 1),
        (data[3:9], 2),
    ]
    for want, epoch in expected:
        state.forward(backend, [])
        np.testing.assert_allclose(state.blobs[0].data, want - mean, rtol=1e-6, atol=1e-7)
        assert state.epoch == epoch


def test_set_data_replaces_arrays_without_rebuilding():
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    y = np.arange(4, dtype=np.float32).reshape(4, 1)
    backend, state = build(MemoryDataLayer(data=[x, y], batch_size=2))
    state.forward(backend, [])
    blob_before = state.blobs[0]
    x2, y2 = x + 100, y + 10
    state.set_data([x2[:3], y2[:3]])  # a different number of samples is fine
    state.forward(backend, [])
    assert state.blobs[0] is blob_before
    np.testing.assert_array_equal(state.blobs[0].data, x2[:2])
    np.testing.assert_array_equal(state.blobs[1].data, y2[:2])
    state.forward(backend, [])  # wraps around the 3 new samples
    np.testing.assert_array_equal(state.blobs[0].data, x2[[2, 0]])
    with pytest.raises(
        DataError,
        match=r"new array for top 'data' has sample shape \(3,\), the "
        r"net was built for \(2,\)",
    ):
        state.set_data([np.zeros((4, 3)), y])
    with pytest.raises(DataError, match="same number of samples"):
        state.set_data([x, y[:3]])


def test_shuffle_every_value_b_times_and_cursor_round_trip():
    n, b = 6, 4
    x = np.arange(n, dtype=np.float32).reshape(n, 1)
    layer = MemoryDataLayer(data=[x], tops=["data"], batch_size=b, shuffle=True)
    backend, state = build(layer, seed=1)
    seen = []
    for _ in range(n):
        state.forward(backend, [])
        seen += state.blobs[0].data.ravel().tolist()
    assert sorted(seen) == sorted(list(range(n)) * b)
    cursor = json.loads(json.dumps(state.get_cursor()))
    rng_state = backend.rng_state()
    want = []
    for _ in range(5):
        state.forward(backend, [])
        want.append(state.blobs[0].data.copy())
    backend2, resumed = build(layer, seed=1)
    resumed.set_cursor(cursor)
    backend2.set_rng_state(rng_state)
    for w in want:
        resumed.forward(backend2, [])
        np.testing.assert_array_equal(resumed.blobs[0].data, w)


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "MemoryDataLayer": Case(
        lambda t: L(
            "MemoryDataLayer",
            data=[np.arange(30.0).reshape(5, 2, 3), np.arange(5.0).reshape(5, 1)],
            batch_size=2,
        ),
        shapes=[(2, 2, 3), (2, 1)],
    ),
}
