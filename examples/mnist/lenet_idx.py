"""Train the manual's LeNet on real MNIST digits read straight from the IDX files.

    python examples/mnist/lenet_idx.py [--data ../shared/data/mnist] [--backend numpy]
                                       [--max-iter 2000] [--seed 0]

The network of the manual's tutorial: conv 20 5×5 → max pool 2×2/2 → conv 50 5×5 → max pool
2×2/2 → inner product 500 + ReLU → inner product 10 → SoftmaxLoss; SGD with momentum 0.9,
`LRPolicy.Inv(0.01, 0.0001, 0.75)`, regu_coef 0.0005, mini-batches of 64 from a shuffled
MemoryDataLayer. It prints TrainingSummary lines and the accuracy on the test images.

`mocha.datasets.mnist.load_arrays` reads the official files (`train-images-idx3-ubyte[.gz]`,
...), gzipped or not; pixels are scaled to [0, 1) and labels become 0-based float class indices
(N, 1).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

import mocha
from mocha import (
    AccuracyLayer,
    ConvolutionLayer,
    InnerProductLayer,
    LRPolicy,
    MemoryDataLayer,
    MomPolicy,
    Net,
    Neurons,
    PoolingLayer,
    SoftmaxLossLayer,
    Solver,
    TrainingSummary,
    add_coffee_break,
    make_backend,
    make_solver_parameters,
    solve,
)
from mocha.datasets.mnist import load_arrays

# the offline mirror beside the repository (../shared/data/mnist), or $MOCHA_MNIST_DIR
DEFAULT_DATA = os.environ.get(
    "MOCHA_MNIST_DIR", str(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist")
)


def load_mnist(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 1, 28, 28) float32 in [0, 1), labels (N, 1) float32) of "train" or "t10k"."""
    return load_arrays(folder, split)


def lenet_layers() -> list:
    """The shared computation layers of the tutorial's LeNet."""
    return [
        ConvolutionLayer(
            name="conv1", n_filter=20, kernel=(5, 5), bottoms=["data"], tops=["conv1"]
        ),
        PoolingLayer(name="pool1", kernel=(2, 2), stride=(2, 2), bottoms=["conv1"], tops=["pool1"]),
        ConvolutionLayer(
            name="conv2", n_filter=50, kernel=(5, 5), bottoms=["pool1"], tops=["conv2"]
        ),
        PoolingLayer(name="pool2", kernel=(2, 2), stride=(2, 2), bottoms=["conv2"], tops=["pool2"]),
        InnerProductLayer(
            name="ip1", output_dim=500, neuron=Neurons.ReLU(), bottoms=["pool2"], tops=["ip1"]
        ),
        InnerProductLayer(name="ip2", output_dim=10, bottoms=["ip1"], tops=["ip2"]),
    ]


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder with the IDX files")
    parser.add_argument("--backend", default="default")
    parser.add_argument("--max-iter", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--summary-every", type=int, default=100)
    args = parser.parse_args(argv)

    x_train, y_train = load_mnist(args.data, "train")
    x_test, y_test = load_mnist(args.data, "t10k")
    backend = make_backend(args.backend, seed=args.seed)
    mocha.init(backend)

    common = lenet_layers()
    train_net = Net(
        "lenet-train",
        backend,
        [
            MemoryDataLayer(data=[x_train, y_train], batch_size=64, shuffle=True),
            *common,
            SoftmaxLossLayer(name="loss", bottoms=["ip2", "label"]),
        ],
    )
    test_batch = max(d for d in range(1, 501) if len(x_test) % d == 0)  # one exact pass
    test_net = Net(
        "lenet-test",
        backend,
        [
            MemoryDataLayer(data=[x_test, y_test], batch_size=test_batch),
            *common,  # the same layer objects: the parameters are shared with the training net
            AccuracyLayer(name="accuracy", bottoms=["ip2", "label"]),
        ],
        phase="test",
    )

    method = mocha.SGD()
    params = make_solver_parameters(
        method,
        max_iter=args.max_iter,
        regu_coef=0.0005,
        mom_policy=MomPolicy.Fixed(0.9),
        lr_policy=LRPolicy.Inv(0.01, 0.0001, 0.75),
    )
    solver = Solver(method, params)
    add_coffee_break(
        solver, TrainingSummary("iter", "obj_val", "learning_rate"), every_n_iter=args.summary_every
    )
    solve(solver, train_net)

    test_net.reset_statistics()
    test_net.forward_epoch()
    accuracy = test_net.statistics()["accuracy"]
    print(f"test accuracy: {100 * accuracy:.2f}% on {len(x_test)} MNIST test images")
    train_net.shutdown()
    test_net.shutdown()
    mocha.shutdown(backend)
    return accuracy


if __name__ == "__main__":
    main()
