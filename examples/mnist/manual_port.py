"""The manual's §1.1 "Training LeNet on MNIST", ported line by line from Julia to Python.

    python examples/mnist/manual_port.py [--max-iter 2000] [--backend cpu]
                                         [--workdir runs/manual_port] [--mirror DIR] [--plot F]

Only the spelling changes: `[:data]` → `["data"]`, `true` → `True`, `common_layers...` →
`*common_layers`, 1-based → 0-based indices, `.jld` → `.h5`. Like the tutorial, the script
works in a folder (`--workdir`, created) holding `data/` (prepared once, as
`mocha data mnist --mirror DIR --out data` does, from the offline MNIST mirror) and
`snapshots/`; it trains (§1.1.2–1.1.6), predicts one test image with the saved snapshot
(§1.1.7) and reads the learning curve back from the statistics file (§1.1.8).

The manual runs 10,000 iterations and snapshots every 5,000; `--max-iter` (default 2,000,
about 97% on the mirror's 2,000 test digits) shortens that, and the schedules of the coffee
breaks shrink with it so that short runs still validate and snapshot.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mocha import *  # noqa: F403 - the manual's `using Mocha`
from mocha import (  # the names used below, for readers and linters
    SGD,
    AccuracyLayer,
    ConvolutionLayer,
    CPUBackend,
    HDF5DataLayer,
    InnerProductLayer,
    LRPolicy,
    MemoryDataLayer,
    MomPolicy,
    Net,
    Neurons,
    PoolingLayer,
    Snapshot,
    SoftmaxLayer,
    SoftmaxLossLayer,
    Solver,
    TrainingSummary,
    ValidationPerformance,
    add_coffee_break,
    destroy,
    forward,
    get_layer,
    init,
    load_snapshot,
    load_statistics,
    make_backend,
    make_solver_parameters,
    setup_coffee_lounge,
    shutdown,
    solve,
)

ROOT = Path(__file__).resolve().parents[2]
# the offline mirror beside the repository (../shared/data/mnist), or $MOCHA_MNIST_DIR
DEFAULT_MIRROR = os.environ.get("MOCHA_MNIST_DIR", str(ROOT.parent / "shared" / "data" / "mnist"))


@contextlib.contextmanager
def working_in(folder: Path) -> Any:
    """Run the tutorial's relative paths (`data/`, `snapshots/`) inside `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)


def prepare_data(mirror: str) -> None:
    """§1.1.1: `data/train.txt` and `data/test.txt` listing HDF5 files (pixels / 256)."""
    if Path("data/train.txt").exists() and Path("data/test.txt").exists():
        return
    from mocha.datasets.mnist import prepare

    prepare("data", mirror=mirror)


def low_pass(x: list[float], window: int) -> list[float]:
    """§1.1.8: the mean of the last `window` + 1 values (fewer at the start)."""
    return [float(np.mean(x[max(0, i - window) : i + 1])) for i in range(len(x))]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", type=int, default=2000)
    parser.add_argument("--backend", default="cpu", help="cpu (the manual's), numpy, numba")
    parser.add_argument("--workdir", default=str(ROOT / "runs" / "manual_port"))
    parser.add_argument("--mirror", default=DEFAULT_MIRROR, help="folder of MNIST IDX files")
    parser.add_argument("--plot", default="", help="save the learning curve (matplotlib)")
    args = parser.parse_args(argv)
    max_iter = args.max_iter
    with working_in(Path(args.workdir)):
        prepare_data(args.mirror)
        return tutorial(max_iter, args.backend, args.plot)


def tutorial(max_iter: int, backend_name: str, plot: str) -> dict[str, Any]:
    # -- 1.1.2 Defining the Network Architecture ------------------------------------------
    data_layer = HDF5DataLayer(
        name="train-data", source="data/train.txt", batch_size=64, shuffle=True
    )
    conv_layer = ConvolutionLayer(
        name="conv1", n_filter=20, kernel=(5, 5), bottoms=["data"], tops=["conv1"]
    )
    pool_layer = PoolingLayer(
        name="pool1", kernel=(2, 2), stride=(2, 2), bottoms=["conv1"], tops=["pool1"]
    )
    conv2_layer = ConvolutionLayer(
        name="conv2", n_filter=50, kernel=(5, 5), bottoms=["pool1"], tops=["conv2"]
    )
    pool2_layer = PoolingLayer(
        name="pool2", kernel=(2, 2), stride=(2, 2), bottoms=["conv2"], tops=["pool2"]
    )
    fc1_layer = InnerProductLayer(
        name="ip1", output_dim=500, neuron=Neurons.ReLU(), bottoms=["pool2"], tops=["ip1"]
    )
    fc2_layer = InnerProductLayer(name="ip2", output_dim=10, bottoms=["ip1"], tops=["ip2"])
    loss_layer = SoftmaxLossLayer(name="loss", bottoms=["ip2", "label"])

    # -- 1.1.3 Configuring the Backend and Building the Network ---------------------------
    backend = CPUBackend() if backend_name == "cpu" else make_backend(backend_name)
    init(backend)

    common_layers = [conv_layer, pool_layer, conv2_layer, pool2_layer, fc1_layer, fc2_layer]
    net = Net("MNIST-train", backend, [data_layer, *common_layers, loss_layer])

    # -- 1.1.4 Configuring the Solver -----------------------------------------------------
    exp_dir = "snapshots"
    method = SGD()
    params = make_solver_parameters(
        method,
        max_iter=max_iter,
        regu_coef=0.0005,
        mom_policy=MomPolicy.Fixed(0.9),
        lr_policy=LRPolicy.Inv(0.01, 0.0001, 0.75),
        load_from=exp_dir,
    )
    solver = Solver(method, params)

    # -- 1.1.5 Coffee Breaks for the Solver (schedules shrink with a short max_iter) ------
    setup_coffee_lounge(
        solver, save_into=f"{exp_dir}/statistics.h5", every_n_iter=min(1000, max_iter)
    )
    add_coffee_break(solver, TrainingSummary(), every_n_iter=min(100, max_iter))
    add_coffee_break(solver, Snapshot(exp_dir), every_n_iter=min(5000, max_iter))

    data_layer_test = HDF5DataLayer(name="test-data", source="data/test.txt", batch_size=100)
    acc_layer = AccuracyLayer(name="test-accuracy", bottoms=["ip2", "label"])
    test_net = Net("MNIST-test", backend, [data_layer_test, *common_layers, acc_layer])
    validation = ValidationPerformance(test_net)
    add_coffee_break(solver, validation, every_n_iter=min(1000, max_iter))

    # -- 1.1.6 Training -------------------------------------------------------------------
    solve(solver, net)
    accuracy = validation.last_statistics["test-accuracy"]

    destroy(net)
    destroy(test_net)
    shutdown(backend)

    # -- 1.1.7 Using Saved Snapshots for Prediction ---------------------------------------
    backend = CPUBackend() if backend_name == "cpu" else make_backend(backend_name)
    init(backend)

    mem_data = MemoryDataLayer(
        name="data", tops=["data"], batch_size=1, data=[np.zeros((1, 1, 28, 28), dtype=np.float32)]
    )
    softmax_layer = SoftmaxLayer(name="prob", tops=["prob"], bottoms=["ip2"])

    # define common_layers as earlier

    run_net = Net("imagenet", backend, [mem_data, *common_layers, softmax_layer])
    load_snapshot(run_net, f"snapshots/snapshot-{max_iter:06d}.h5")

    with h5py.File("data/test.h5") as f:
        get_layer(run_net, "data").data[0][...] = f["data"][0:1]
        label = int(f["label"][0, 0])
        print("Correct label index:", label)  # 0-based in Python

    forward(run_net)
    print()
    print("Label probability vector:")
    probabilities = run_net.output_blobs["prob"].to_host()[0].copy()
    print(probabilities)
    destroy(run_net)
    shutdown(backend)

    # -- 1.1.8 Checking The Solver's Progress with Learning Curves ------------------------
    stats = load_statistics("snapshots/statistics.h5")
    ov = stats["obj_val"]
    xy = sorted(ov.items())
    x = np.array([i for (i, j) in xy], dtype=np.int64)
    y = np.array([j for (i, j) in xy], dtype=np.float64)
    window = int(round(len(xy) / 4.0))
    y_avg = low_pass(list(y), window)
    print(
        f"learning curve: {len(x)} points, objective {y[0]:.4f} -> {y[-1]:.4f} "
        f"(low-pass {y_avg[0]:.4f} -> {y_avg[-1]:.4f})"
    )
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plt.plot(x, y, linewidth=1, label="Raw")
        plt.plot(x, y_avg, linewidth=2, label="Low Pass")
        plt.xlabel("Iterations")
        plt.ylabel("Objective Value")
        plt.title("MNIST Learning Curve")
        plt.grid(True)
        plt.legend()
        plt.savefig(plot)
    print(f"test accuracy after {max_iter} iterations: {100 * accuracy:.2f}%")
    return {
        "accuracy": accuracy,
        "label": label,
        "probabilities": probabilities,
        "predicted": int(np.argmax(probabilities)),
        "curve": (x, y, y_avg),
    }


if __name__ == "__main__":
    main()
