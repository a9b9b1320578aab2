"""How many of BVLC Caffe's train/test nets (../shared/data/caffe/zoo) convert into experiment
files that `mocha summary` loads (both nets built), with the options a user would give.

    python benchmarks/caffe_zoo.py            # prints one line per net and the count

Caffe runs these nets from its root folder, with data its example scripts make (LMDBs, HDF5
lists, mean files); none of it is here, so this script stands in for it in a scratch
"Caffe root": HDF5 lists with random data of the example's shapes and mean `.binaryproto`
files of the images' size. The image size of LMDB/LevelDB `Data` layers is given with
`input_shape`, as on the command line. Not part of the test suite (it takes about a minute).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ZOO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "caffe" / "zoo"
MNIST, CIFAR, IMAGENET = (1, 28, 28), (3, 32, 32), (3, 256, 256)
NETS = {  # the 18 nets of the zoo without an Input layer, and the image size they read
    "examples/cifar10/cifar10_full_sigmoid_train_test.prototxt": CIFAR,
    "examples/cifar10/cifar10_full_sigmoid_train_test_bn.prototxt": CIFAR,
    "examples/cifar10/cifar10_full_train_test.prototxt": CIFAR,
    "examples/cifar10/cifar10_quick_train_test.prototxt": CIFAR,
    "examples/feature_extraction/imagenet_val.prototxt": IMAGENET,
    "examples/finetune_pascal_detection/pascal_finetune_trainval_test.prototxt": IMAGENET,
    "examples/hdf5_classification/nonlinear_auto_test.prototxt": None,
    "examples/hdf5_classification/nonlinear_auto_train.prototxt": None,
    "examples/hdf5_classification/nonlinear_train_val.prototxt": None,
    "examples/hdf5_classification/train_val.prototxt": None,
    "examples/mnist/lenet_train_test.prototxt": MNIST,
    "examples/mnist/mnist_autoencoder.prototxt": MNIST,
    "examples/pycaffe/linreg.prototxt": None,
    "examples/siamese/mnist_siamese_train_test.prototxt": (2, 28, 28),
    "models/bvlc_alexnet/train_val.prototxt": IMAGENET,
    "models/bvlc_googlenet/train_val.prototxt": IMAGENET,
    "models/bvlc_reference_caffenet/train_val.prototxt": IMAGENET,
    "models/finetune_flickr_style/train_val.prototxt": IMAGENET,
}


def stand_ins(root: Path) -> None:
    """The files the nets name, with random contents of the right shapes."""
    import h5py

    from mocha.plugins.formats.caffe.schema import BlobProto

    data = root / "examples/hdf5_classification/data"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        with h5py.File(data / f"{split}.h5", "w") as f:
            f["data"] = rng.normal(size=(100, 4)).astype(np.float32)
            f["label"] = rng.integers(0, 2, size=(100, 1)).astype(np.float32)
        (data / f"{split}.txt").write_text(f"{data / f'{split}.h5'}\n")
    for path, shape in (
        ("examples/cifar10/mean.binaryproto", CIFAR),
        ("data/ilsvrc12/imagenet_mean.binaryproto", IMAGENET),
    ):
        blob = BlobProto()
        blob.shape.dim.extend((1, *shape))
        blob.data.extend(rng.uniform(0, 255, size=int(np.prod(shape))).tolist())
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(blob.SerializeToString())


def main() -> int:
    from mocha.interop import caffe

    ok = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stand_ins(root)
        os.chdir(root)
        for i, (rel, shape) in enumerate(NETS.items()):
            out = root / f"out{i}"
            try:
                conv = caffe.convert(ZOO / rel, input_shape=shape, name=f"net{i}")
                paths = caffe.write_experiment(conv, out)
            except caffe.CaffeError as exc:
                print(f"convert  {rel}: {str(exc).split(': ', 1)[-1][:160]}")
                continue
            run = subprocess.run(
                [sys.executable, "-m", "mocha", "summary", str(paths["experiment"])],
                capture_output=True,
                text=True,
            )
            if run.returncode == 0:
                ok += 1
                print(f"loads    {rel}")
            else:
                print(f"load     {rel}: {(run.stdout + run.stderr).strip().splitlines()[-1][:160]}")
    print(f"{ok} of {len(NETS)} convert into files that `mocha summary` loads")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
