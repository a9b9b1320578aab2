"""One measurement of `mocha bench`, in a fresh process: `python -m mocha.cli._bench_child
'{"framework": "mocha"|"torch", "net": "lenet"|"cifar10", "threads": T, "iters": N, ...}'`.

It prints one line `RESULT {json}` on stdout. Mocha is measured the way a user runs it: a
`DefaultBackend(threads=T)` (`DefaultBackend()` for T "default"), a `MemoryDataLayer`
(shuffled), `solve()` with SGD (momentum 0.9, weight decay 0.0005, `LRPolicy.Inv`) and a
`TrainingSummary` every 100 iterations; PyTorch runs the same net with `torch.optim.SGD`
over the same shuffled mini-batches. Measured:

* `first_iter_s`: from the process's start (imports included, the dataset read excluded) to
  the end of the first training iteration (the numba cache is warm after the first run);
* `train_it_s`: training iterations per second over `iters` iterations (Mocha: a second
  `solve()`, timed by its own `state.timing`, whose breakdown gives `loop`);
* `peak_rss_mb`: the process's peak resident memory (VmHWM) after training;
* `latency_ms`: median time of one forward of a batch-1 test-phase net ending in a softmax;
* `sgemm_gflops` (Mocha's child only): float32 1024³ matrix products with BLAS at T threads;
* `env`: the BLAS libraries and thread pools (threadpoolctl) while training.

Every time measured on a GPU ends with a synchronization (`backend.synchronize()`,
`torch.cuda.synchronize()`): queued kernels count where they run. `"torch_device": "cuda"`
runs PyTorch eager on the GPU (each mini-batch copied to it, as Mocha's data layer does).
"""

from __future__ import annotations

import json
import os
import sys
import time

T_START = time.perf_counter()

NETS = {
    "lenet": {"shape": (1, 28, 28), "batch": 64},
    "cifar10": {"shape": (3, 32, 32), "batch": 100},
}


def load_data(spec: dict) -> tuple:
    """(x, y, description): real MNIST digits for LeNet when `mnist_dir` holds them, else
    synthetic data of the net's input shape."""
    import numpy as np

    net, n = spec["net"], spec.get("samples", 4096)
    if net == "lenet" and spec.get("mnist_dir"):
        from mocha.datasets.mnist import load_arrays

        x, y = load_arrays(spec["mnist_dir"], "train", limit=n)
        return x, y, f"MNIST digits ({len(x)} training images)"
    rng = np.random.default_rng(0)
    shape = NETS[net]["shape"]
    x = rng.standard_normal((n, *shape), dtype=np.float32) * np.float32(0.25)
    y = rng.integers(0, 10, (n, 1)).astype(np.float32)
    return x, y, f"synthetic {'x'.join(map(str, shape))} data ({n} samples)"


def mocha_layers(net: str) -> list:
    """The computation layers: the manual's LeNet, or Mocha's CIFAR-10 "full" net."""
    from mocha import (
        ConvolutionLayer,
        InnerProductLayer,
        LRNLayer,
        Neurons,
        Pooling,
        PoolingLayer,
    )

    if net == "lenet":
        return [
            ConvolutionLayer(
                name="conv1", n_filter=20, kernel=(5, 5), bottoms=["data"], tops=["conv1"]
            ),
            PoolingLayer(
                name="pool1", kernel=(2, 2), stride=(2, 2), bottoms=["conv1"], tops=["pool1"]
            ),
            ConvolutionLayer(
                name="conv2", n_filter=50, kernel=(5, 5), bottoms=["pool1"], tops=["conv2"]
            ),
            PoolingLayer(
                name="pool2", kernel=(2, 2), stride=(2, 2), bottoms=["conv2"], tops=["pool2"]
            ),
            InnerProductLayer(
                name="ip1", output_dim=500, neuron=Neurons.ReLU(), bottoms=["pool2"], tops=["ip1"]
            ),
            InnerProductLayer(name="ip2", output_dim=10, bottoms=["ip1"], tops=["out"]),
        ]
    lrn = {"kernel": 3, "scale": 5e-5, "power": 0.75, "mode": "within_channel"}
    return [
        ConvolutionLayer(
            name="conv1", n_filter=32, kernel=(5, 5), pad=(2, 2), bottoms=["data"], tops=["conv1"]
        ),
        PoolingLayer(
            name="pool1",
            kernel=(3, 3),
            stride=(2, 2),
            neuron=Neurons.ReLU(),
            bottoms=["conv1"],
            tops=["pool1"],
        ),
        LRNLayer(name="norm1", **lrn, bottoms=["pool1"], tops=["norm1"]),
        ConvolutionLayer(
            name="conv2",
            n_filter=32,
            kernel=(5, 5),
            pad=(2, 2),
            neuron=Neurons.ReLU(),
            bottoms=["norm1"],
            tops=["conv2"],
        ),
        PoolingLayer(
            name="pool2",
            kernel=(3, 3),
            stride=(2, 2),
            pooling=Pooling.Mean(),
            bottoms=["conv2"],
            tops=["pool2"],
        ),
        LRNLayer(name="norm2", **lrn, bottoms=["pool2"], tops=["norm2"]),
        ConvolutionLayer(
            name="conv3",
            n_filter=64,
            kernel=(5, 5),
            pad=(2, 2),
            neuron=Neurons.ReLU(),
            bottoms=["norm2"],
            tops=["conv3"],
        ),
        PoolingLayer(
            name="pool3",
            kernel=(3, 3),
            stride=(2, 2),
            pooling=Pooling.Mean(),
            bottoms=["conv3"],
            tops=["pool3"],
        ),
        InnerProductLayer(name="ip1", output_dim=10, bottoms=["pool3"], tops=["out"]),
    ]


def median_time(step, samples: int, sync=lambda: None) -> float:
    """Median seconds of one call of `step` (after 3 warm-up calls), each call ended by
    `sync()` (waiting for a GPU's queued work: `backend.synchronize`)."""
    for _ in range(3):
        step()
    sync()
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def blas_env() -> list[dict]:
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [
        {
            **{k: i.get(k) for k in keys},
            "library": os.path.basename(i.get("filepath") or "").split(".so")[0],
        }
        for i in threadpool_info()
    ]


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sgemm_gflops(threads: int, seconds: float = 0.5) -> float:
    """float32 GFLOP/s of 1024³ products with BLAS at `threads` threads."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    n = 1024
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    c = np.empty((n, n), np.float32)
    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(a, b, out=c)
        count, t0 = 0, time.perf_counter()
        while count < 3 or time.perf_counter() - t0 < seconds:
            np.matmul(a, b, out=c)
            count += 1
        return 2.0 * n**3 * count / (time.perf_counter() - t0) / 1e9


def child_mocha(spec: dict) -> dict:
    import mocha
    from mocha import (
        LRPolicy,
        MemoryDataLayer,
        MomPolicy,
        Net,
        SoftmaxLayer,
        SoftmaxLossLayer,
        Solver,
        TrainingSummary,
        add_coffee_break,
        make_solver_parameters,
        solve,
    )

    t_data = time.perf_counter()
    x, y, data = load_data(spec)
    t_data = time.perf_counter() - t_data
    T = spec["threads"]
    backend = mocha.DefaultBackend(threads=None if T == "default" else T)
    mocha.init(backend)
    net = Net(
        "train",
        backend,
        [
            MemoryDataLayer(
                name="data",
                data=[x, y],
                batch_size=NETS[spec["net"]]["batch"],
                shuffle=True,
                tops=["data", "label"],
            ),
            *mocha_layers(spec["net"]),
            SoftmaxLossLayer(name="loss", bottoms=["out", "label"]),
        ],
    )

    def solver(max_iter: int) -> Solver:
        params = make_solver_parameters(
            mocha.SGD(),
            max_iter=max_iter,
            regu_coef=0.0005,
            lr_policy=LRPolicy.Inv(0.01, 0.0001, 0.75),
            mom_policy=MomPolicy.Fixed(0.9),
        )
        s = Solver(mocha.SGD(), params)
        add_coffee_break(s, TrainingSummary(), every_n_iter=100)
        return s

    solve(solver(1), net)
    out: dict = {"first_iter_s": time.perf_counter() - T_START - t_data, "data": data}
    out["env"] = blas_env()  # while the backend is initialized: the pools it trains with
    out["pools"] = backend.thread_info()
    state = solve(solver(spec["iters"]), net)
    out["train_it_s"] = state.timing.iterations / state.timing.total
    out["loop"] = state.timing.summary()
    out["pools"] = backend.thread_info()  # after training: what the default's adaptation chose
    out["peak_rss_mb"] = peak_rss_mb()
    out["backend"] = type(backend).__name__
    infer = Net(
        "infer",
        backend,
        [
            MemoryDataLayer(name="data", data=[x], batch_size=1, tops=["data"]),
            *mocha_layers(spec["net"]),
            SoftmaxLayer(name="prob", bottoms=["out"], tops=["prob"]),
        ],
        phase="test",
    )
    infer.init()
    out["latency_ms"] = 1e3 * median_time(
        infer.forward, spec["latency_samples"], backend.synchronize
    )
    mocha.shutdown(backend)
    out["sgemm_gflops"] = sgemm_gflops(backend.threads, spec.get("sgemm_seconds", 0.5))
    return out


def torch_model(net: str):
    import torch
    from torch import nn

    if net == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 20, 5),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(20, 50, 5),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(800, 500),
            nn.ReLU(),
            nn.Linear(500, 10),
        )

    class WithinChannelLRN(nn.Module):  # Caffe's WITHIN_CHANNEL LRN (k=3)
        def forward(self, x):
            s = nn.functional.avg_pool2d(x * x, 3, stride=1, padding=1, count_include_pad=True)
            return x * torch.pow(1.0 + 5e-5 * s, -0.75)

    def pool(kind):  # Caffe rounds the output size up: ceil_mode
        return (
            nn.MaxPool2d(3, 2, ceil_mode=True)
            if kind == "max"
            else nn.AvgPool2d(3, 2, ceil_mode=True)
        )

    return nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2),
        pool("max"),
        nn.ReLU(),
        WithinChannelLRN(),
        nn.Conv2d(32, 32, 5, padding=2),
        nn.ReLU(),
        pool("mean"),
        WithinChannelLRN(),
        nn.Conv2d(32, 64, 5, padding=2),
        nn.ReLU(),
        pool("mean"),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 10),
    )


def child_torch(spec: dict) -> dict:
    t_data = time.perf_counter()
    x, y, data = load_data(spec)
    t_data = time.perf_counter() - t_data
    import torch

    if spec["threads"] != "default":  # else PyTorch's own default
        torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    device = spec.get("torch_device", "cpu")
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    x, y = torch.from_numpy(x), torch.from_numpy(y[:, 0]).long()
    model = torch_model(spec["net"]).to(device)
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.SGD(
        [{"params": weights, "weight_decay": 0.0005}, {"params": biases}], lr=0.01, momentum=0.9
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: (1 + 0.0001 * it) ** -0.75)
    loss_fn = torch.nn.CrossEntropyLoss()
    bs, n = NETS[spec["net"]]["batch"], x.shape[0]
    order, cursor = torch.randperm(n), [0]

    def step() -> float:
        if cursor[0] + bs > n:
            order[:], cursor[0] = torch.randperm(n), 0
        idx = order[cursor[0] : cursor[0] + bs]
        cursor[0] += bs
        opt.zero_grad(set_to_none=False)
        # the batch is copied to the device each step, as Mocha's MemoryDataLayer does
        loss = loss_fn(model(x[idx].to(device)), y[idx].to(device))
        loss.backward()
        opt.step()
        sched.step()
        return loss.item()

    step()
    out: dict = {"first_iter_s": time.perf_counter() - T_START - t_data, "data": data}
    out["env"] = blas_env()
    sync()
    t0 = time.perf_counter()
    for _ in range(spec["iters"]):
        step()
    sync()
    out["train_it_s"] = spec["iters"] / (time.perf_counter() - t0)
    out["peak_rss_mb"] = peak_rss_mb()
    out["backend"] = f"torch {torch.__version__} ({device})"
    model.eval()
    one = x[:1].clone().to(device)

    def infer():
        with torch.inference_mode():
            return torch.softmax(model(one), dim=1)

    out["latency_ms"] = 1e3 * median_time(infer, spec["latency_samples"], sync)
    return out


def main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    out = child_torch(spec) if spec["framework"] == "torch" else child_mocha(spec)
    out["pid"] = os.getpid()
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
