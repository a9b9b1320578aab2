"""Child process of test_resume.py: train a small net with snapshots, maybe die on purpose.

    python resume_child.py METHOD SNAPDIR OUT.h5 MAX_ITER [--kill-at K] [--kill-in-write K]
                           [--every E] [--stats FILE] [--sleep SECONDS]

Shuffled MemoryData (the batch size does not divide the data, so batches wrap across epochs and
every epoch draws a new permutation), InnerProduct + ReLU, Dropout, InnerProduct, SoftmaxLoss,
trained with `load_from=SNAPDIR` and a Snapshot break every E iterations. `--kill-at K`
SIGKILLs the process in the coffee breaks of iteration K (after the snapshot breaks);
`--kill-in-write K` SIGKILLs it in the middle of writing the snapshot of iteration K (half of
its bytes are on disk). When training ends, the parameters go to OUT.h5. The backend is the
test session's (MOCHA_BACKEND, inherited; the emulated GPU too), NumPy by default.
"""

from __future__ import annotations

import argparse
import os
import signal
import time

import numpy as np

import mocha
from mocha.testing import session_backend_name


class KillAt(mocha.CoffeeBreak):
    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def enjoy(self, lounge, solver, net, state):
        if state.iter == self.iteration:
            os.kill(os.getpid(), signal.SIGKILL)


class Sleep(mocha.CoffeeBreak):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def enjoy(self, lounge, solver, net, state):
        time.sleep(self.seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("method")
    parser.add_argument("snapdir")
    parser.add_argument("out")
    parser.add_argument("max_iter", type=int)
    parser.add_argument("--kill-at", type=int, default=-1)
    parser.add_argument("--kill-in-write", type=int, default=-1)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--stats", default="")
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()

    if args.kill_in_write >= 0:
        import mocha.core.io.model as model_module

        original = model_module.write_file

        def dying_write(path, data, where):
            if os.path.basename(path).startswith(f".snapshot-{args.kill_in_write:06d}"):
                with open(path, "wb") as out:  # half the file reaches the disk
                    out.write(bytes(data)[: len(data) // 2])
                    out.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            original(path, data, where)

        model_module.write_file = dying_write

    rng = np.random.default_rng(123)
    x = rng.standard_normal((22, 5)).astype(np.float32)
    y = rng.integers(0, 3, (22, 1)).astype(np.float32)
    backend = mocha.make_backend(session_backend_name(), seed=7)
    mocha.init(backend)
    print(f"backend: {backend.name}", flush=True)
    net = mocha.Net(
        "resume",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[x, y], batch_size=6, shuffle=True),
            mocha.InnerProductLayer(
                name="ip1",
                output_dim=16,
                neuron=mocha.Neurons.ReLU(),
                bottoms=["data"],
                tops=["ip1"],
            ),
            mocha.DropoutLayer(name="drop", ratio=0.3, bottoms=["ip1"]),
            mocha.InnerProductLayer(name="ip2", output_dim=3, bottoms=["ip1"], tops=["ip2"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip2", "label"]),
        ],
    )
    method = {
        "sgd": mocha.SGD,
        "nesterov": mocha.Nesterov,
        "adam": mocha.Adam,
        "adagrad": mocha.Adagrad,
        "adadelta": mocha.Adadelta,
    }[args.method]()
    extra = {}
    if args.method in ("sgd", "nesterov"):  # policies that change with the iteration
        extra = {
            "lr_policy": mocha.LRPolicy.Inv(0.1, 0.01, 0.75),
            "mom_policy": mocha.MomPolicy.Linear(0.5, 0.1, 5, 0.9),
        }
    params = mocha.make_solver_parameters(
        method, max_iter=args.max_iter, load_from=args.snapdir, **extra
    )
    solver = mocha.Solver(method, params)
    if args.stats:
        mocha.setup_coffee_lounge(solver, save_into=args.stats, every_n_iter=1)
        mocha.add_coffee_break(solver, mocha.TrainingSummary("iter", "obj_val"), every_n_iter=1)
    mocha.add_coffee_break(solver, mocha.Snapshot(args.snapdir), every_n_iter=args.every)
    if args.kill_at >= 0:
        mocha.add_coffee_break(solver, KillAt(args.kill_at), every_n_iter=1)
    if args.sleep > 0:
        mocha.add_coffee_break(solver, Sleep(args.sleep), every_n_iter=1)
    mocha.solve(solver, net)
    mocha.save_network(args.out, net)
    net.shutdown()
    mocha.shutdown(backend)


if __name__ == "__main__":
    main()
