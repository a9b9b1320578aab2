"""A small data-parallel training job for tests/distributed (run under mpiexec, or alone).

    python mpi_child.py OUT_PREFIX --method sgd,adam --dtype float64,float32 --batch B
                        --iters T [--distributed] [--snapdir DIR] [--every E]
                        [--kill-rank R --kill-at K] [--perturb-rank R --perturb-at K]

Shuffled MemoryData (50 samples, so batches wrap across epochs and every epoch draws a new
permutation), InnerProduct + ReLU (L2 regularizer, L2 norm constraint), InnerProduct,
SoftmaxLoss; a validation net (Accuracy, 23 samples in batches of 5, so the last batch wraps)
evaluated every 10 iterations. `B` is the global batch size. Each rank writes its parameters to
`OUT_PREFIX-<method>-<dtype>.rank<r>.h5` and a JSON file (same name, `.json`) with the final
objective, the objective of every iteration and the validation statistics; one run per
combination of the comma-separated methods and dtypes. `--kill-rank R --kill-at K` SIGKILLs
rank R in the coffee breaks of iteration K; `--perturb-rank R --perturb-at K` nudges a weight
of rank R there (the divergence check must catch it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal

import numpy as np

import mocha
import mocha.distributed
from mocha.plugins.components.constraints import L2Cons


class KillAt(mocha.CoffeeBreak):
    all_ranks = True  # runs on every rank; only the chosen one dies

    def __init__(self, rank: int, iteration: int) -> None:
        self.rank, self.iteration = rank, iteration

    def enjoy(self, lounge, solver, net, state):
        if state.iter == self.iteration and net.backend.parallel.rank == self.rank:
            os.kill(os.getpid(), signal.SIGKILL)


class Perturb(mocha.CoffeeBreak):
    all_ranks = True

    def __init__(self, rank: int, iteration: int) -> None:
        self.rank, self.iteration = rank, iteration

    def enjoy(self, lounge, solver, net, state):
        if state.iter == self.iteration and net.backend.parallel.rank == self.rank:
            net.state_of("ip2").parameters[0].blob.data[0, 0] += 1e-6


class Record(mocha.CoffeeBreak):
    """Keeps the objective of every iteration (on every rank)."""

    all_ranks = True

    def __init__(self) -> None:
        self.objective: dict[int, float] = {}

    def enjoy(self, lounge, solver, net, state):
        self.objective[state.iter] = state.obj_val


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--method", default="sgd")
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--distributed", action="store_true")
    parser.add_argument("--snapdir", default="")
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--kill-rank", type=int, default=-1)
    parser.add_argument("--kill-at", type=int, default=-1)
    parser.add_argument("--perturb-rank", type=int, default=-1)
    parser.add_argument("--perturb-at", type=int, default=-1)
    parser.add_argument("--batchnorm", action="store_true")
    args = parser.parse_args(argv)
    for method in args.method.split(","):
        for dtype in args.dtype.split(","):
            train(args, method, dtype)


def train(args: argparse.Namespace, method_name: str, dtype: str) -> None:

    rng = np.random.default_rng(5)
    x = rng.standard_normal((50, 6))
    y = rng.integers(0, 3, (50, 1)).astype(np.float64)
    vx = rng.standard_normal((23, 6))
    vy = rng.integers(0, 3, (23, 1)).astype(np.float64)
    backend = mocha.make_backend("numpy", dtype=dtype, seed=11)
    mocha.init(backend)
    rank = 0
    if args.distributed:
        rank = mocha.distributed.enable(backend, check_every=7).rank
    layers = [
        mocha.InnerProductLayer(
            name="ip1",
            output_dim=8,
            neuron=mocha.Neurons.ReLU(),
            weight_cons=L2Cons(threshold=1.5),
            bottoms=["data"],
            tops=["ip1"],
        ),
        mocha.InnerProductLayer(name="ip2", output_dim=3, bottoms=["ip1"], tops=["ip2"]),
    ]
    if args.batchnorm:  # ip1 -> bn -> ip2
        layers[1] = mocha.InnerProductLayer(name="ip2", output_dim=3, bottoms=["bn"], tops=["ip2"])
        bn = mocha.BatchNormLayer(
            name="bn", momentum=0.1, affine=True, bottoms=["ip1"], tops=["bn"]
        )
        layers.insert(1, bn)
    net = mocha.Net(
        "train",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[x, y], batch_size=args.batch, shuffle=True),
            *layers,
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip2", "label"]),
        ],
    )
    test_net = mocha.Net(
        "test",
        backend,
        [
            mocha.MemoryDataLayer(name="vdata", data=[vx, vy], batch_size=5),
            *layers,
            mocha.AccuracyLayer(name="acc", bottoms=["ip2", "label"]),
        ],
        phase="test",
    )
    method = {"sgd": mocha.SGD, "adam": mocha.Adam}[method_name]()
    extra = {}
    if method_name == "sgd":
        extra = {
            "lr_policy": mocha.LRPolicy.Inv(0.1, 0.01, 0.75),
            "mom_policy": mocha.MomPolicy.Fixed(0.9),
        }
    params = mocha.make_solver_parameters(
        method, max_iter=args.iters, regu_coef=0.01, load_from=args.snapdir, **extra
    )
    solver = mocha.Solver(method, params)
    record = Record()
    mocha.add_coffee_break(solver, record, every_n_iter=1)
    validation = mocha.ValidationPerformance(test_net)
    mocha.add_coffee_break(solver, validation, every_n_iter=10)
    if args.snapdir:
        mocha.add_coffee_break(solver, mocha.Snapshot(args.snapdir), every_n_iter=args.every)
    if args.kill_at >= 0:
        mocha.add_coffee_break(solver, KillAt(args.kill_rank, args.kill_at), every_n_iter=1)
    if args.perturb_at >= 0:
        mocha.add_coffee_break(solver, Perturb(args.perturb_rank, args.perturb_at), every_n_iter=1)
    state = mocha.solve(solver, net)
    out = f"{args.out}-{method_name}-{dtype}.rank{rank}"
    mocha.save_network(f"{out}.h5", net)
    with open(f"{out}.json", "w") as f:
        json.dump(
            {
                "objective": state.obj_val,
                "validation": validation.last_statistics,
                "trace": {str(k): v for k, v in record.objective.items()},
            },
            f,
        )
    test_net.shutdown()
    net.shutdown()
    mocha.shutdown(backend)


if __name__ == "__main__":
    main()
