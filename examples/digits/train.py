"""Train a two-layer MLP on scikit-learn's 8×8 digits (bundled with Mocha; offline, seconds).

    python examples/digits/train.py [--backend numpy|numba|default] [--max-iter 1000]

The 1,797 images are split 80/20 (stratified, fixed seed: the split of `mocha run
examples/digits/digits.toml`); the script prints TrainingSummary lines and the final accuracy
on the 20% held out. Needs no extra: the digits ship with Mocha.
"""

from __future__ import annotations

import argparse

import mocha
from mocha import (
    AccuracyLayer,
    InnerProductLayer,
    LRPolicy,
    MemoryDataLayer,
    MomPolicy,
    Net,
    Neurons,
    SoftmaxLossLayer,
    Solver,
    TrainingSummary,
    add_coffee_break,
    make_backend,
    make_solver_parameters,
    solve,
)


def load_split(seed: int = 0):
    from mocha.datasets.split import split_indices

    digits = mocha.lookup("data_providers", "sklearn:digits")()  # the bundled copy
    x = digits["data"]  # (1797, 64) float32 in [0, 1]
    y = digits["label"]  # 0-based labels, (N, 1)
    train, test = split_indices(len(x), 0.2, seed, labels=y[:, 0])
    return x[train], x[test], y[train], y[test]


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="default")
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    x_train, x_test, y_train, y_test = load_split(args.seed)
    backend = make_backend(args.backend, seed=args.seed)
    mocha.init(backend)

    common = [
        InnerProductLayer(
            name="ip1", output_dim=100, neuron=Neurons.ReLU(), bottoms=["data"], tops=["ip1"]
        ),
        InnerProductLayer(name="ip2", output_dim=10, bottoms=["ip1"], tops=["ip2"]),
    ]
    train_net = Net(
        "digits-train",
        backend,
        [
            MemoryDataLayer(data=[x_train, y_train], batch_size=64, shuffle=True),
            *common,
            SoftmaxLossLayer(name="loss", bottoms=["ip2", "label"]),
        ],
    )
    test_net = Net(
        "digits-test",
        backend,
        [
            MemoryDataLayer(data=[x_test, y_test], batch_size=len(x_test)),
            *common,  # the same layer objects: parameters are shared with the training net
            AccuracyLayer(name="accuracy", bottoms=["ip2", "label"]),
        ],
        phase="test",
    )

    params = make_solver_parameters(
        mocha.SGD(),
        max_iter=args.max_iter,
        regu_coef=0.0005,
        mom_policy=MomPolicy.Fixed(0.9),
        lr_policy=LRPolicy.Inv(0.05, 0.0001, 0.75),
    )
    solver = Solver(mocha.SGD(), params)
    add_coffee_break(solver, TrainingSummary("iter", "obj_val", "learning_rate"), every_n_iter=100)
    solve(solver, train_net)

    test_net.reset_statistics()
    test_net.forward_epoch()
    accuracy = test_net.statistics()["accuracy"]
    print(f"test accuracy: {100 * accuracy:.2f}% on {len(x_test)} held-out digits")
    train_net.shutdown()
    test_net.shutdown()
    mocha.shutdown(backend)
    return accuracy


if __name__ == "__main__":
    main()
