"""BVLC's own train/test nets (../shared/data/caffe/zoo): each converts, and with random weights
the converted TEST net's output matches an independent NumPy forward pass of Caffe's
definitions (caffe_reference.py) on the transformed data (mean, scale, BGR order)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("google.protobuf")

from caffe_helpers import write_caffemodel  # noqa: E402
from caffe_reference import reference_forward  # noqa: E402

from mocha.interop import caffe  # noqa: E402

ZOO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "caffe" / "zoo"
pytestmark = pytest.mark.skipif(not ZOO.is_dir(), reason="needs ../shared/data/caffe/zoo")

CIFAR_MEAN, IMAGENET_MEAN = (
    "examples/cifar10/mean.binaryproto",
    "data/ilsvrc12/imagenet_mean.binaryproto",
)
IMAGENET = (3, 233, 229)  # stored image size (any size the 227 crop fits)
SLOW = pytest.mark.slow  # 60 M weights to write and read: about a minute each

NETS = [  # (prototxt, sample shape, output blob, scale, mean file, crop)
    ("examples/hdf5_classification/train_val.prototxt", (4,), "fc1", 1.0, None, 0),
    ("examples/hdf5_classification/nonlinear_train_val.prototxt", (4,), "fc2", 1.0, None, 0),
    ("examples/hdf5_classification/nonlinear_auto_train.prototxt", (4,), "ip2", 1.0, None, 0),
    ("examples/hdf5_classification/nonlinear_auto_test.prototxt", (4,), "ip2", 1.0, None, 0),
    ("examples/mnist/lenet_train_test.prototxt", (1, 28, 28), "ip2", 0.00390625, None, 0),
    ("examples/cifar10/cifar10_quick_train_test.prototxt", (3, 32, 32), "ip2", 1, CIFAR_MEAN, 0),
    ("examples/cifar10/cifar10_full_train_test.prototxt", (3, 32, 32), "ip1", 1, CIFAR_MEAN, 0),
    (
        "examples/cifar10/cifar10_full_sigmoid_train_test.prototxt",
        (3, 32, 32),
        "ip1",
        1.0,
        CIFAR_MEAN,
        0,
    ),
    (
        "examples/cifar10/cifar10_full_sigmoid_train_test_bn.prototxt",
        (3, 32, 32),
        "ip1",
        1.0,
        CIFAR_MEAN,
        0,
    ),
    *[
        pytest.param(rel, IMAGENET, out, 1.0, IMAGENET_MEAN, 227, marks=SLOW, id=rel)
        for rel, out in (
            ("models/bvlc_alexnet/train_val.prototxt", "fc8"),
            ("models/bvlc_reference_caffenet/train_val.prototxt", "fc8"),
            ("models/finetune_flickr_style/train_val.prototxt", "fc8_flickr"),
            ("examples/feature_extraction/imagenet_val.prototxt", "fc8"),
        )
    ],
    pytest.param(  # mean_value 104, 117, 123 (B, G, R) in the file; its Concat-ed inceptions
        "models/bvlc_googlenet/train_val.prototxt",
        (3, 230, 226),
        "loss3/classifier",
        1.0,
        (104.0, 117.0, 123.0),
        224,
        marks=SLOW,
        id="models/bvlc_googlenet/train_val.prototxt",
    ),
]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("rel,shape,output,scale,mean_file,crop", NETS)
def test_train_test_net_matches_the_reference(tmp_path, rel, shape, output, scale, mean_file, crop):
    import mocha
    from mocha.backend_choice import make_backend
    from mocha.plugins.formats.caffe.schema import BlobProto

    rng = np.random.default_rng(7)
    mean = np.zeros(shape)
    if isinstance(mean_file, tuple):  # the file's own mean_value, per (BGR) channel
        mean = np.asarray(mean_file)[:, None, None] * np.ones(shape)
    elif mean_file:  # the file Caffe's example script would have made
        mean = rng.uniform(0, 255, size=shape)
        blob = BlobProto()
        blob.shape.dim.extend((1, *shape))
        blob.data.extend(mean.astype(np.float32).ravel().tolist())
        path = tmp_path / mean_file
        path.parent.mkdir(parents=True)
        path.write_bytes(blob.SerializeToString())
        mean = mean.astype(np.float32).astype(np.float64)
    if len(shape) == 1:  # the HDF5 lists Caffe's example script writes
        import h5py

        data = tmp_path / "examples" / "hdf5_classification" / "data"
        data.mkdir(parents=True)
        for split in ("train", "test"):
            with h5py.File(data / f"{split}.h5", "w") as f:
                f["data"] = rng.normal(size=(20, *shape)).astype(np.float32)
                f["label"] = np.zeros((20, 1), np.float32)
            (data / f"{split}.txt").write_text(f"{data / f'{split}.h5'}\n")
    x = rng.uniform(
        0, 255, size=(2 if crop else 8, *shape)
    )  # predict batches it as the TEST net does
    bgr = x[:, ::-1] if len(shape) == 3 and shape[0] == 3 else x  # Caffe reads colour images as BGR
    ready = (bgr - mean) * scale
    if crop:  # Caffe's TEST phase: the centred crop of the transformed image
        h, w = (shape[1] - crop) // 2, (shape[2] - crop) // 2
        ready = ready[:, :, h : h + crop, w : w + crop]
    blobs, weights = reference_forward(ZOO / rel, ready, rng)
    write_caffemodel(tmp_path / "w.caffemodel", weights)
    cwd = Path.cwd()
    try:
        import os

        os.chdir(tmp_path)  # relative mean_file paths are Caffe-root relative
        conv = caffe.convert(ZOO / rel, tmp_path / "w.caffemodel", input_shape=shape, name="n")
    finally:
        os.chdir(cwd)
    paths = caffe.write_experiment(conv, tmp_path / "out")
    backend = make_backend("numpy", dtype="float64")
    backend.init()
    try:
        got = mocha.predict(
            caffe.load_layers(conv, "test", tmp_path / "out"),
            x,
            model=paths["model"],
            output=conv.blobs[output],
            backend=backend,
        ).outputs
    finally:
        backend.shutdown()
    want = blobs[output]
    assert np.abs(want).max() > 1e-3
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())
