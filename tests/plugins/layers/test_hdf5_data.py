"""HDF5DataLayer and AsyncHDF5DataLayer: §3.1 oracles, shuffling, cursors, bad data."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from layer_smoke import Case, L, hdf5_source

from mocha import DataError, LayerConfigError, Net, SetupContext
from mocha.plugins.backends.numpy_backend import NumpyBackend
from mocha.plugins.layers.async_hdf5_data import AsyncHDF5DataLayer
from mocha.plugins.layers.hdf5_data import HDF5DataLayer

LAYERS = [
    pytest.param(lambda **kw: HDF5DataLayer(**kw), id="sync"),
    pytest.param(lambda **kw: AsyncHDF5DataLayer(chunk_size=2, **kw), id="async"),
]


def write_h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            f.create_dataset(name, data=value)
    return path


def make_source(tmp_path, sizes, dim=3, start=0, name="list.txt"):
    """Files of `sizes` samples holding consecutive values; returns the list and all data."""
    lines, chunks = [], []
    value = start
    for i, n in enumerate(sizes):
        data = (np.arange(value, value + n * dim, dtype=np.float32).reshape(n, dim)) / 10
        label = np.arange(value, value + n, dtype=np.float32).reshape(n, 1)
        value += n * dim
        sub = tmp_path / "parts"
        sub.mkdir(exist_ok=True)
        write_h5(sub / f"f{i}.h5", data=data, label=label)
        lines.append(f"parts/f{i}.h5")
        chunks.append((data, label))
    source = tmp_path / name
    source.write_text("\n" + "\n\n".join(lines) + "\n  \n")  # blank lines are skipped
    data = np.concatenate([c[0] for c in chunks])
    label = np.concatenate([c[1] for c in chunks])
    return source, data, label


def build(layer, seed=0):
    backend = NumpyBackend(seed=seed)
    state = layer.state_cls(layer, backend, [], [], SetupContext())
    return backend, state


@pytest.mark.parametrize("make", LAYERS)
def test_three_files_wrap_around_oracle(tmp_path, make):
    source, data, label = make_source(tmp_path, [5, 1, 2])
    backend, state = build(make(source=source, batch_size=3))
    got_d, got_l = [], []
    for _ in range(8):
        state.forward(backend, [])
        got_d.append(state.blobs[0].data.copy())
        got_l.append(state.blobs[1].data.copy())
    np.testing.assert_array_equal(np.concatenate(got_d), np.concatenate([data] * 3))
    np.testing.assert_array_equal(np.concatenate(got_l), np.concatenate([label] * 3))
    assert state.epoch == 3
    state.shutdown(backend)


@pytest.mark.parametrize("make", LAYERS)
def test_epoch_counted_mid_batch(tmp_path, make):
    source, _, _ = make_source(tmp_path, [5, 1, 2])
    backend, state = build(make(source=source, batch_size=3))
    epochs = []
    for _ in range(4):
        state.forward(backend, [])
        epochs.append(state.epoch)
    # samples 0-2, 3-5, 6-7+0 (the pass ends inside the batch), 1-3
    assert epochs == [0, 0, 1, 1]
    state.shutdown(backend)


@pytest.mark.parametrize("make", LAYERS)
@pytest.mark.parametrize("b,n", [(4, 6), (6, 4)])
def test_shuffle_covers_every_sample(tmp_path, make, b, n):
    source = tmp_path / "s.txt"
    write_h5(tmp_path / "a.h5", data=np.arange(n, dtype=np.float32).reshape(n, 1))
    source.write_text("a.h5\n")
    backend, state = build(make(source=source, batch_size=b, shuffle=True, tops=["data"]))
    seen = []
    for _ in range(n):
        state.forward(backend, [])
        seen.extend(state.blobs[0].data.ravel().tolist())
    assert sorted(seen) == sorted(list(range(n)) * b)
    assert state.epoch == b
    state.shutdown(backend)


def test_shuffle_is_a_permutation_per_pass_and_differs(tmp_path):
    source, data, _ = make_source(tmp_path, [7, 5])
    backend, state = build(HDF5DataLayer(source=source, batch_size=12, shuffle=True))
    passes = []
    for _ in range(3):
        state.forward(backend, [])
        assert state.epoch == len(passes) + 1
        passes.append(state.blobs[1].data.ravel().copy())
    for p in passes:
        assert sorted(p.tolist()) == sorted(
            (np.concatenate([np.arange(0, 7), np.arange(21, 26)])).tolist()
        )
    assert not all(np.array_equal(passes[0], p) for p in passes[1:])


def test_same_seed_same_batches_sync_and_async(tmp_path):
    source, _, _ = make_source(tmp_path, [7, 3, 9])
    _, sync = build(HDF5DataLayer(source=source, batch_size=4, shuffle=True), seed=5)
    backend, asyn = build(
        AsyncHDF5DataLayer(source=source, batch_size=4, shuffle=True, chunk_size=3), seed=5
    )
    for _ in range(20):
        sync.forward(backend, [])
        asyn.forward(backend, [])
        for a, b in zip(sync.blobs, asyn.blobs):
            np.testing.assert_array_equal(a.data, b.data)
        assert sync.epoch == asyn.epoch
        assert sync.get_cursor() == asyn.get_cursor()
    sync.shutdown(backend)
    asyn.shutdown(backend)


@pytest.mark.parametrize("make", LAYERS)
def test_cursor_round_trip_resumes_exactly(tmp_path, make):
    source, _, _ = make_source(tmp_path, [7, 3, 9])
    layer = make(source=source, batch_size=4, shuffle=True)
    backend, state = build(layer, seed=3)
    for _ in range(6):
        state.forward(backend, [])
    cursor = json.loads(json.dumps(state.get_cursor()))  # what a snapshot stores
    expected = []
    for _ in range(10):
        state.forward(backend, [])
        expected.append((state.blobs[0].data.copy(), state.epoch))
    state.shutdown(backend)
    backend2, resumed = build(layer, seed=3)
    resumed.set_cursor(cursor)
    assert resumed.epoch == 1
    for want, epoch in expected:
        resumed.forward(backend2, [])
        np.testing.assert_array_equal(resumed.blobs[0].data, want)
        assert resumed.epoch == epoch
    resumed.shutdown(backend2)


def test_async_shutdown_joins_thread(tmp_path):
    source, _, _ = make_source(tmp_path, [5])
    backend, state = build(AsyncHDF5DataLayer(source=source, batch_size=2, prefetch=1))
    thread = state._producer.thread
    state.forward(backend, [])
    state.shutdown(backend)
    assert not thread.is_alive()
    with pytest.raises(DataError, match="after shutdown"):
        state.forward(backend, [])


def test_caffe_layout_loads_unchanged_and_rank1_labels(tmp_path):
    data = np.random.default_rng(0).random((6, 1, 4, 4), dtype=np.float32)
    write_h5(tmp_path / "m.h5", data=data, label=np.arange(6, dtype=np.float32).reshape(6, 1))
    write_h5(tmp_path / "c.h5", data=data, label=np.arange(6, dtype=np.float64))
    for name in ("m", "c"):
        (tmp_path / f"{name}.txt").write_text(f"{tmp_path / name}.h5\n")  # absolute path
        backend, state = build(HDF5DataLayer(source=tmp_path / f"{name}.txt", batch_size=6))
        state.forward(backend, [])
        assert state.blobs[0].shape == (6, 1, 4, 4) and state.blobs[1].shape == (6, 1)
        np.testing.assert_array_equal(state.blobs[0].data, data)
        np.testing.assert_array_equal(state.blobs[1].data.ravel(), np.arange(6))
        state.shutdown(backend)


def test_transformers_applied_to_their_top(tmp_path):
    from mocha.core.components import DataTransformer

    class Double(DataTransformer):
        def transform(self, backend, blob):
            blob.data *= 2

    source, data, label = make_source(tmp_path, [4])
    backend, state = build(
        HDF5DataLayer(
            source=source, batch_size=4, transformers=[("data", Double()), ("data", Double())]
        )
    )
    state.forward(backend, [])
    np.testing.assert_allclose(state.blobs[0].data, 4 * data)
    np.testing.assert_array_equal(state.blobs[1].data, label)
    with pytest.raises(LayerConfigError, match="no top named 'pixels'"):
        build(HDF5DataLayer(source=source, batch_size=4, transformers=[("pixels", Double())]))


def test_in_a_net_with_epoch(tmp_path):
    source, _, _ = make_source(tmp_path, [5, 1, 2])
    backend = NumpyBackend()
    net = Net("t", backend, [HDF5DataLayer(source=source, batch_size=3)])
    net.forward_epoch()
    assert net.epoch == 1
    net.shutdown()


# -- bad data: each message names the file and the dataset --------------------------------


def _one_file(tmp_path, **datasets):
    write_h5(tmp_path / "bad.h5", **datasets)
    (tmp_path / "bad.txt").write_text("bad.h5\n")
    return tmp_path / "bad.txt"


@pytest.mark.parametrize("make", LAYERS)
def test_missing_source_list(tmp_path, make):
    with pytest.raises(DataError, match=r"source list file .*nowhere\.txt.* does not exist"):
        build(make(source=tmp_path / "nowhere.txt", batch_size=2))


def test_empty_source_list(tmp_path):
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(DataError, match="lists no HDF5 file"):
        build(HDF5DataLayer(source=tmp_path / "empty.txt", batch_size=2))


def test_missing_listed_file(tmp_path):
    (tmp_path / "l.txt").write_text("gone.h5\n")
    with pytest.raises(DataError, match=r"HDF5 file .*gone\.h5.*listed in .*l\.txt.* not exist"):
        build(HDF5DataLayer(source=tmp_path / "l.txt", batch_size=2))


def test_not_hdf5(tmp_path):
    (tmp_path / "x.h5").write_text("hello")
    (tmp_path / "l.txt").write_text("x.h5\n")
    with pytest.raises(DataError, match=r"cannot open .*x\.h5.* as HDF5"):
        build(HDF5DataLayer(source=tmp_path / "l.txt", batch_size=2))


def test_missing_dataset(tmp_path):
    source = _one_file(tmp_path, data=np.zeros((3, 2), np.float32))
    with pytest.raises(
        DataError,
        match=r"HDF5DataLayer\('hdf5-data'\).*bad\.h5.* has no dataset "
        r"'label'.*datasets in the file: data",
    ):
        build(HDF5DataLayer(source=source, batch_size=2))


def test_non_numeric_dtype(tmp_path):
    source = _one_file(
        tmp_path, data=np.zeros((3, 2), np.float32), label=np.array([b"a", b"b", b"c"])
    )
    with pytest.raises(
        DataError,
        match=r"dataset 'label' in .*bad\.h5.* has dtype \|S1, not a "
        r"numeric",
    ):
        build(HDF5DataLayer(source=source, batch_size=2))


def test_scalar_dataset(tmp_path):
    source = _one_file(tmp_path, data=np.zeros((3, 2), np.float32), label=np.float32(1))
    with pytest.raises(DataError, match=r"dataset 'label' in .*bad\.h5.* is a scalar"):
        build(HDF5DataLayer(source=source, batch_size=2))


def test_different_lengths(tmp_path):
    source = _one_file(
        tmp_path, data=np.zeros((3, 2), np.float32), label=np.zeros((4, 1), np.float32)
    )
    with pytest.raises(
        DataError,
        match=r"datasets in .*bad\.h5.* have different numbers of "
        r"samples \('data': 3, 'label': 4\)",
    ):
        build(HDF5DataLayer(source=source, batch_size=2))


def test_rank_differs_between_files(tmp_path):
    write_h5(
        tmp_path / "a.h5",
        data=np.zeros((3, 1, 2, 2), np.float32),
        label=np.zeros((3, 1), np.float32),
    )
    write_h5(
        tmp_path / "b.h5", data=np.zeros((3, 4), np.float32), label=np.zeros((3, 1), np.float32)
    )
    (tmp_path / "l.txt").write_text("a.h5\nb.h5\n")
    with pytest.raises(
        DataError,
        match=r"dataset 'data' in .*b\.h5.* has shape \(3, 4\) \(rank "
        r"2\).*\(1, 2, 2\) found in .*a\.h5",
    ):
        build(HDF5DataLayer(source=tmp_path / "l.txt", batch_size=2))


@pytest.mark.parametrize("make", LAYERS)
def test_nan_in_data(tmp_path, make):
    data = np.zeros((4, 2), np.float32)
    data[2, 1] = np.nan
    source = _one_file(tmp_path, data=data, label=np.zeros((4, 1), np.float32))
    backend, state = build(make(source=source, batch_size=2))
    with pytest.raises(
        DataError,
        match=r"dataset 'data' in .*bad\.h5.* holds NaN or infinite "
        r"values \(first at sample 2: nan\)",
    ):
        for _ in range(2):
            state.forward(backend, [])
    state.shutdown(backend)


def test_config_errors():
    with pytest.raises(LayerConfigError, match="batch_size"):
        HDF5DataLayer(source="x.txt", batch_size=0)
    with pytest.raises(LayerConfigError, match="chunk_size"):
        AsyncHDF5DataLayer(source="x.txt", batch_size=2, chunk_size=0)
    with pytest.raises(LayerConfigError, match="bottoms"):
        HDF5DataLayer(source="x.txt", batch_size=2, bottoms=["x"])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "AsyncHDF5DataLayer": Case(
        lambda t: L(
            "AsyncHDF5DataLayer", source=hdf5_source(t), batch_size=4, prefetch=2, chunk_size=3
        ),
        shapes=[(4, 2, 3), (4, 1)],
    ),
    "HDF5DataLayer": Case(
        lambda t: L("HDF5DataLayer", source=hdf5_source(t), batch_size=4),
        shapes=[(4, 2, 3), (4, 1)],
    ),
}
