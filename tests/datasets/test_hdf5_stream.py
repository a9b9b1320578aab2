"""mocha.datasets.hdf5_stream: reading rows by slab or point selection, chunk sizes never
change the batches."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mocha.datasets import hdf5_stream
from mocha.datasets.hdf5_stream import BatchStream, FileInfo, _read_rows, read_source_list


@pytest.mark.parametrize("mode", ["slab", "points"])
def test_read_rows_any_order(tmp_path, monkeypatch, mode):
    if mode == "points":
        monkeypatch.setattr(hdf5_stream, "_SLAB_DENSITY", 0)
        monkeypatch.setattr(hdf5_stream, "_SLAB_SMALL_BYTES", 0)
    data = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["x"] = data
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "a.h5", "r") as f:
        for size in (1, 2, 7, 50):
            rows = rng.permutation(50)[:size]
            np.testing.assert_array_equal(_read_rows(f["x"], rows, 12), data[rows])
        np.testing.assert_array_equal(_read_rows(f["x"], np.arange(4, 9), 12), data[4:9])


@pytest.mark.parametrize("shuffle", [False, True])
def test_chunk_size_does_not_change_batches(tmp_path, shuffle):
    files = []
    for i, n in enumerate((11, 3, 8)):
        with h5py.File(tmp_path / f"f{i}.h5", "w") as f:
            f["data"] = np.arange(100 * i, 100 * i + n, dtype=np.float64).reshape(n, 1)
        files.append(FileInfo(str(tmp_path / f"f{i}.h5"), n))

    def batches(chunk):
        s = BatchStream(files, ("data",), [(1,)], 5, shuffle, 42, chunk, "float32", "t")
        out = [s.next_batch()[0].ravel().tolist() for _ in range(12)]
        s.close()
        return out

    reference = batches(1000)
    for chunk in (1, 2, 5, 7):
        assert batches(chunk) == reference


def test_source_list_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "l.txt").write_text("  a.h5  \n\n../b.h5\n/abs/c.h5\n")
    assert read_source_list(tmp_path / "sub" / "l.txt", "t") == [
        str(tmp_path / "sub" / "a.h5"),
        str(tmp_path / "b.h5"),
        "/abs/c.h5",
    ]
