"""mocha.datasets.convert: arrays, .npy/.npz and CSV into the HDF5 layout, read back by the
HDF5 data layer."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mocha import DataError, SetupContext
from mocha.datasets import convert
from mocha.plugins.backends.numpy_backend import NumpyBackend
from mocha.plugins.layers.hdf5_data import HDF5DataLayer


def read_back(list_file, batch_size):
    backend = NumpyBackend()
    layer = HDF5DataLayer(source=list_file, batch_size=batch_size)
    state = layer.state_cls(layer, backend, [], [], SetupContext())
    state.forward(backend, [])
    out = [b.data.copy() for b in state.blobs]
    state.shutdown(backend)
    return out


def test_nhwc_to_nchw_with_labels_and_list(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 4, 3, 2)).astype(np.uint8)  # N, H, W, C
    labels = np.array([0, 1, 2, 1, 0])
    h5 = convert.from_arrays(
        tmp_path / "d" / "train.h5", images, labels, layout="NHWC", scale=1 / 255
    )
    assert (tmp_path / "d" / "train.txt").read_text() == "train.h5\n"
    data, label = read_back(tmp_path / "d" / "train.txt", 5)
    assert data.shape == (5, 2, 4, 3) and label.shape == (5, 1)
    np.testing.assert_allclose(data, images.transpose(0, 3, 1, 2) / 255, rtol=1e-6)
    np.testing.assert_array_equal(label[:, 0], labels)
    with h5py.File(h5) as f:
        assert f["data"].dtype == np.float32


@pytest.mark.parametrize(
    "layout,shape,perm",
    [
        ("NCHW", (2, 3, 4, 5), None),
        ("CHWN", (3, 4, 5, 2), (3, 0, 1, 2)),
        ("NWHC", (2, 5, 4, 3), (0, 3, 2, 1)),
        ("NC", (2, 7), None),
        ("CN", (7, 2), (1, 0)),
    ],
)
def test_layouts(layout, shape, perm):
    a = np.arange(np.prod(shape)).reshape(shape)
    want = a if perm is None else a.transpose(perm)
    np.testing.assert_array_equal(convert.to_nchw(a, layout), want)


def test_grey_images_get_a_channel_axis():
    a = np.zeros((4, 28, 28))
    assert convert.to_nchw(a, "NHW").shape == (4, 1, 28, 28)
    assert convert.to_nchw(np.zeros((28, 28, 4)), "HWN").shape == (4, 1, 28, 28)


def test_layout_errors():
    with pytest.raises(
        DataError,
        match=r"layout 'NHWC' names 4 axes but the array has shape "
        r"\(2, 3\)",
    ):
        convert.to_nchw(np.zeros((2, 3)), "NHWC")
    with pytest.raises(DataError, match="must name each axis once"):
        convert.to_nchw(np.zeros((2, 3)), "NN")
    with pytest.raises(DataError, match="labels of shape \\(3,\\) do not fit 2 samples"):
        convert.from_arrays("x.h5", np.zeros((2, 3)), np.zeros(3))


def test_npy_and_npz(tmp_path):
    x = np.random.default_rng(1).random((6, 8, 8)).astype(np.float32)
    y = np.arange(6) % 3
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    convert.from_npy(tmp_path / "a.h5", tmp_path / "x.npy", tmp_path / "y.npy", layout="NHW")
    data, label = read_back(tmp_path / "a.txt", 6)
    np.testing.assert_array_equal(data[:, 0], x)
    np.savez(tmp_path / "b.npz", images=x, targets=y)
    convert.from_npz(
        tmp_path / "b.h5", tmp_path / "b.npz", data_key="images", label_key="targets", layout="NHW"
    )
    data2, label2 = read_back(tmp_path / "b.txt", 6)
    np.testing.assert_array_equal(data2, data)
    np.testing.assert_array_equal(label2, label)
    with pytest.raises(
        DataError,
        match=r"b\.npz: no array 'label'; arrays in the archive: "
        r"images, targets",
    ):
        convert.from_npz(tmp_path / "c.h5", tmp_path / "b.npz", data_key="images")


def test_npy_object_arrays_refused_without_pickle(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"o\.npy: cannot load without pickle"):
        convert.from_npy(tmp_path / "o.h5", tmp_path / "o.npy")


def test_csv_with_header_label_name_and_shape(tmp_path):
    rows = ["p0,p1,p2,p3,digit", "0,1,2,3,7", "4,5,6,7,2"]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    convert.from_csv(
        tmp_path / "t.h5",
        tmp_path / "t.csv",
        label_column="digit",
        sample_shape=(2, 2, 1),
        layout="HWC",
    )
    data, label = read_back(tmp_path / "t.txt", 2)
    assert data.shape == (2, 1, 2, 2)
    np.testing.assert_array_equal(data[1, 0], [[4, 5], [6, 7]])
    np.testing.assert_array_equal(label[:, 0], [7, 2])


def test_csv_without_header_and_errors(tmp_path):
    (tmp_path / "t.csv").write_text("1,0.5,0.25\n0,1.5,2.5\n")
    convert.from_csv(tmp_path / "t.h5", tmp_path / "t.csv")
    data, label = read_back(tmp_path / "t.txt", 2)
    np.testing.assert_array_equal(data, [[0.5, 0.25], [1.5, 2.5]])
    np.testing.assert_array_equal(label[:, 0], [1, 0])
    (tmp_path / "bad.csv").write_text("1,2\n3,x\n")
    with pytest.raises(DataError, match=r"bad\.csv: non-numeric value"):
        convert.from_csv(tmp_path / "bad.h5", tmp_path / "bad.csv", header=False)
    with pytest.raises(DataError, match=r"3 feature columns cannot be reshaped to \(2, 2\)"):
        convert.from_csv(
            tmp_path / "u.h5", tmp_path / "t.csv", label_column=None, sample_shape=(2, 2)
        )


def test_csv_ragged_rows_blank_lines_and_header_only(tmp_path):
    (tmp_path / "r.csv").write_text("1,2\n\n3,4,5\n")
    with pytest.raises(DataError, match=r"r\.csv: every row needs the same number"):
        convert.from_csv(tmp_path / "r.h5", tmp_path / "r.csv", header=False)
    (tmp_path / "h.csv").write_text("label,x\n")
    with pytest.raises(DataError, match=r"h\.csv: the CSV file holds no data rows"):
        convert.from_csv(tmp_path / "h.h5", tmp_path / "h.csv")
    (tmp_path / "b.csv").write_text("\nlabel,x\n1,0.5\n\n0,1.5\n")  # blank lines skipped
    convert.from_csv(tmp_path / "b.h5", tmp_path / "b.csv")
    data, label = read_back(tmp_path / "b.txt", 2)
    np.testing.assert_array_equal(data[:, 0], [0.5, 1.5])
    np.testing.assert_array_equal(label[:, 0], [1, 0])


def test_nan_refused_when_writing(tmp_path):
    x = np.zeros((3, 2))
    x[1, 1] = np.nan
    with pytest.raises(DataError, match=r"n\.h5: dataset 'data' holds NaN"):
        convert.from_arrays(tmp_path / "n.h5", x)
    assert not (tmp_path / "n.h5").exists()
