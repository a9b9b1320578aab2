"""Child process of test_thread_count_determinism.py: train a LeNet-sized net, save the
parameters.

    python thread_count_child.py THREADS MAX_ITER OUT.h5 [--snapdir DIR] [--every E]

The manual's LeNet (conv 20 and 50 filters 5×5, max pooling, ip 500 + ReLU, ip 10, softmax
loss) at batch 64 on seeded random MNIST-shaped data, SGD with momentum 0.9, weight decay
0.0005 and the Inv policy, on the Numba backend at THREADS threads (`threads=`; "default" for
the backend's default). With `--snapdir`, `load_from` that folder and a Snapshot break every E
iterations (a resumed run). THREADS, the parameters' digest and the thread choice go to stdout
as JSON.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import mocha


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("threads")
    parser.add_argument("max_iter", type=int)
    parser.add_argument("out")
    parser.add_argument("--snapdir", default="")
    parser.add_argument("--every", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(5)
    x = rng.random((256, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, (256, 1)).astype(np.float32)
    threads = None if args.threads == "default" else int(args.threads)
    backend = mocha.make_backend("numba", seed=3, threads=threads)
    mocha.init(backend)
    net = mocha.Net(
        "lenet",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[x, y], batch_size=64, shuffle=True),
            mocha.ConvolutionLayer(
                name="conv1", n_filter=20, kernel=(5, 5), bottoms=["data"], tops=["conv1"]
            ),
            mocha.PoolingLayer(
                name="pool1", kernel=(2, 2), stride=(2, 2), bottoms=["conv1"], tops=["pool1"]
            ),
            mocha.ConvolutionLayer(
                name="conv2", n_filter=50, kernel=(5, 5), bottoms=["pool1"], tops=["conv2"]
            ),
            mocha.PoolingLayer(
                name="pool2", kernel=(2, 2), stride=(2, 2), bottoms=["conv2"], tops=["pool2"]
            ),
            mocha.InnerProductLayer(
                name="ip1",
                output_dim=500,
                neuron=mocha.Neurons.ReLU(),
                bottoms=["pool2"],
                tops=["ip1"],
            ),
            mocha.InnerProductLayer(name="ip2", output_dim=10, bottoms=["ip1"], tops=["ip2"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip2", "label"]),
        ],
    )
    params = mocha.make_solver_parameters(
        mocha.SGD(),
        max_iter=args.max_iter,
        regu_coef=0.0005,
        mom_policy=mocha.MomPolicy.Fixed(0.9),
        lr_policy=mocha.LRPolicy.Inv(0.01, 0.0001, 0.75),
        load_from=args.snapdir,
    )
    solver = mocha.Solver(mocha.SGD(), params)
    if args.snapdir and args.every:
        mocha.add_coffee_break(solver, mocha.Snapshot(args.snapdir), every_n_iter=args.every)
    state = mocha.solve(solver, net)
    mocha.save_network(args.out, net)
    info = backend.thread_info()
    print(json.dumps({"threads": info["threads"], "iter": state.iter, "info": info}, default=str))
    net.shutdown()
    mocha.shutdown(backend)


if __name__ == "__main__":
    main()
