import h5py
import numpy as np
import pytest
from layer_smoke import Case, L, normal

from mocha import DataError, LayerConfigError, MemoryDataLayer, Net
from mocha.plugins.layers.hdf5_output import HDF5OutputLayer
from mocha.testing import reference_backend


def net_writing(path, x, y, **kwargs):
    return Net(
        "out",
        reference_backend(),
        [
            MemoryDataLayer(data=[x, y], batch_size=2),
            HDF5OutputLayer(filename=path, bottoms=["data", "label"], **kwargs),
        ],
    )


def test_three_forwards_append_three_batches(tmp_path):
    path = tmp_path / "out.h5"
    x = np.arange(24.0).reshape(6, 2, 2)
    y = np.arange(6.0).reshape(6, 1)
    net = net_writing(path, x, y, datasets=["feat", "target"])
    for _ in range(3):
        net.forward()
    net.shutdown()
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["feat", "target"]
        np.testing.assert_array_equal(f["feat"][()], x)
        np.testing.assert_array_equal(f["target"][()], y)
        assert f["feat"].dtype == np.float64
        assert f["feat"].chunks == (2, 2, 2)
        assert f["feat"].maxshape == (None, 2, 2)


def test_default_dataset_names_are_the_bottoms_and_file_closed_at_shutdown(tmp_path):
    path = tmp_path / "o.h5"
    net = net_writing(path, np.ones((2, 3)), np.zeros((2, 1)))
    net.forward()
    state = net.state_of("hdf5-output")
    net.shutdown()
    assert not state.file  # closed
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["data", "label"]
        assert f["data"].shape == (2, 3)


def test_refuses_to_overwrite_unless_forced(tmp_path):
    path = tmp_path / "exists.h5"
    path.write_bytes(b"")  # even an empty file counts
    with pytest.raises(
        DataError,
        match=r"HDF5OutputLayer\('hdf5-output'\).*already exists.*"
        r"force_overwrite=True",
    ):
        net_writing(path, np.ones((2, 3)), np.zeros((2, 1)))
    assert path.read_bytes() == b""
    with pytest.warns(UserWarning, match="overwriting"):
        net = net_writing(path, np.ones((2, 3)), np.zeros((2, 1)), force_overwrite=True)
    net.forward()
    net.shutdown()
    with h5py.File(path, "r") as f:
        assert f["data"].shape == (2, 3)


def test_config_errors(tmp_path):
    with pytest.raises(LayerConfigError, match="'datasets'.*one name per bottom"):
        HDF5OutputLayer(filename=str(tmp_path / "a.h5"), bottoms=["a", "b"], datasets=["x"])
    with pytest.raises(LayerConfigError, match="distinct"):
        HDF5OutputLayer(filename=str(tmp_path / "a.h5"), bottoms=["a", "b"], datasets=["x", "x"])
    with pytest.raises(LayerConfigError, match="'filename'"):
        HDF5OutputLayer(filename="", bottoms=["a"])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "HDF5OutputLayer": Case(
        lambda t: L("HDF5OutputLayer", filename=str(t / "out.h5"), bottoms=["a", "b"]),
        [normal(3, 2), normal(3, 4, 2)],
        compare=False,
    ),
}
