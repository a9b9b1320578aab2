import h5py
import numpy as np
import pytest

import mocha
from mocha import DataError, DataTransformers, LayerConfigError, MemoryDataLayer, Net, ShapeError
from mocha.plugins.components.transformers import ChannelOrder, Scale, SubMean
from mocha.testing import reference_backend


def fed(x, transformers, batch_size=3, backend=None):
    net = Net(
        "t",
        backend or reference_backend(),
        [
            MemoryDataLayer(
                data=[x],
                tops=["data"],
                batch_size=batch_size,
                transformers=[("data", t) for t in transformers],
            ),
        ],
    )
    net.forward()
    return net.output_blobs["data"].to_host()


def test_registered_names():
    assert DataTransformers.SubMean is SubMean and mocha.DataTransformers.Scale is Scale


@pytest.mark.parametrize("with_batch_axis", [False, True])
def test_submean_from_a_blob_or_array(with_batch_axis):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 3))
    mean = x.mean(0, keepdims=with_batch_axis)
    backend = reference_backend()
    blob = backend.from_host(mean)
    for given in (blob, mean):
        np.testing.assert_allclose(
            fed(x, [SubMean(mean_blob=given)], backend=backend), x[:3] - x.mean(0)
        )


def test_submean_from_an_hdf5_mean_file_caffe_shape(tmp_path):
    x = np.random.default_rng(1).standard_normal((4, 1, 2, 2)).astype(np.float32)
    path = tmp_path / "mean.h5"
    with h5py.File(path, "w") as f:
        f["mean"] = x.mean(0, keepdims=True)  # (1, C, H, W), as Caffe's dump_mean_file
    out = fed(x, [SubMean(mean_file=str(path))], backend=reference_backend("float32"))
    np.testing.assert_allclose(out, x[:3] - x.mean(0), rtol=1e-6, atol=1e-6)


def test_transformers_run_in_list_order():
    x = np.full((3, 2), 4.0)
    mean = np.ones(2)
    np.testing.assert_array_equal(fed(x, [SubMean(mean_blob=mean), Scale(0.5)]), 1.5)
    np.testing.assert_array_equal(fed(x, [Scale(scale=0.5), SubMean(mean_blob=mean)]), 1.0)


def test_scale_default_is_identity():
    x = np.random.default_rng(2).standard_normal((3, 4))
    np.testing.assert_array_equal(fed(x, [Scale()]), x)


def test_submean_errors(tmp_path):
    with pytest.raises(LayerConfigError, match="SubMean.*mean_blob or the path"):
        SubMean()
    x = np.ones((3, 2, 3))
    with pytest.raises(
        ShapeError,
        match=r"SubMean: the mean from mean_blob has shape \(3, 2\)"
        r".*samples of shape \(2, 3\)",
    ):
        fed(x, [SubMean(mean_blob=np.ones((3, 2)))])
    with pytest.raises(DataError, match="does not exist"):
        fed(x, [SubMean(mean_file=str(tmp_path / "nope.h5"))])
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f["avg"] = np.ones((2, 3))
    with pytest.raises(DataError, match=r"no dataset 'mean' \(it has \['avg'\]\)"):
        fed(x, [SubMean(mean_file=str(path))])
    with h5py.File(path, "w") as f:
        f["mean"] = np.ones((2, 2))
    with pytest.raises(ShapeError, match="mean_file"):
        fed(x, [SubMean(mean_file=str(path))])


def test_scale_error():
    with pytest.raises(LayerConfigError, match="'scale' = 'x'"):
        Scale("x")


def test_channel_order_reorders_the_channel_axis():
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    assert DataTransformers.ChannelOrder is ChannelOrder
    np.testing.assert_array_equal(fed(x, [ChannelOrder()], batch_size=2), x[:, ::-1])
    np.testing.assert_array_equal(fed(x, [ChannelOrder([1, 2, 0])], batch_size=2), x[:, [1, 2, 0]])


def test_channel_order_errors():
    with pytest.raises(LayerConfigError, match="order"):
        ChannelOrder((0, 0, 1))
    with pytest.raises(ShapeError, match="ChannelOrder: order \\[2, 1, 0\\] has 3 channels"):
        fed(np.zeros((2, 4, 1, 1), np.float32), [ChannelOrder()], batch_size=2)
