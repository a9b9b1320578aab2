"""LeNet (and the CIFAR-10 "full" net) on random data: Mocha's NumPy and Numba backends vs
PyTorch CPU, each in its own training loop. Run on demand, never as a test. For speed as a user
gets it (through `solve()` and the data layers, nothing set but the thread count) use
`mocha bench` instead (benchmarks/README.md); this older harness also compares the NumPy
reference backend and measures inference throughput:

    python benchmarks/lenet.py                       # LeNet, numpy/numba/torch, 1 and 2 threads
    python benchmarks/lenet.py --net cifar10 --seconds 5
    python benchmarks/lenet.py --frameworks numba,torch --threads 2 --repeat 3 --json out.json

Every (framework, threads, task) runs in a FRESH subprocess, so its peak RSS (VmHWM) and
its time to the first training iteration (from the first line of the child, imports and net
construction included) are its own. Thread counts are set through OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS, MKL_NUM_THREADS and NUMBA_NUM_THREADS in the child's environment (plus
torch.set_num_threads), and OPENBLAS_THREAD_TIMEOUT=4 (see --openblas-thread-timeout: idle
OpenBLAS workers otherwise spin for about 0.1 s after every matrix product and keep numba's
workers off the second core). OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from the child's
environment (they pin NumPy's OpenBLAS to an old kernel on some machines; see the README); the
kernel actually used is printed. With --repeat R each configuration runs R times and the best
value of each metric is kept (the machine may be shared).

Tasks: "train" (time to first iteration, training iterations/second at batch 64 (LeNet) or
100 (CIFAR-10), SGD with momentum and weight decay, data shuffled) and "infer" (images/second
at batch 100 and batch-1 latency of a test-phase net ending in a softmax).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from mocha.cli._bench_child import (  # the nets `mocha bench` runs
    mocha_layers,
    peak_rss_mb,
    torch_model,
)

T_START = time.perf_counter()

NETS = {
    "lenet": {"shape": (1, 28, 28), "train_batch": 64},
    "cifar10": {"shape": (3, 32, 32), "train_batch": 100},
}


# -- the child: one measurement ------------------------------------------------------------------
def _data(shape, n=2048, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    return (
        rng.random((n, *shape), dtype=np.float32),
        rng.integers(0, 10, (n, 1)).astype(np.float32),
    )


def _timed(step, seconds: float, warmup: int = 3, sync=lambda: None) -> float:
    """Calls per second of `step` over at least `seconds` (after `warmup` calls); `sync`
    waits for a GPU's queued work before each reading of the clock."""
    for _ in range(warmup):
        step()
    sync()
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        sync()
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds and n >= 5:
            return n / elapsed


def _latency(step, seconds: float, sync=lambda: None) -> float:
    """Median seconds of one call (each ended by `sync`)."""
    for _ in range(5):
        step()
    sync()
    times, t_end = [], time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < 20:
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def child_mocha(backend_name: str, task: str, net: str, seconds: float) -> dict:
    import mocha
    from mocha import (
        LRPolicy,
        MemoryDataLayer,
        MomPolicy,
        Net,
        SoftmaxLayer,
        SoftmaxLossLayer,
        Solver,
        make_backend,
        make_solver_parameters,
        solve,
    )
    from mocha.core.solver import apply_constraints

    spec = NETS[net]
    x, y = _data(spec["shape"])
    backend = make_backend(backend_name)
    mocha.init(backend)
    out: dict = {}
    if task == "train":
        nn = Net(
            "train",
            backend,
            [
                MemoryDataLayer(
                    name="data",
                    data=[x, y],
                    batch_size=spec["train_batch"],
                    shuffle=True,
                    tops=["data", "label"],
                ),
                *mocha_layers(net),
                SoftmaxLossLayer(name="loss", bottoms=["out", "label"]),
            ],
        )
        params = make_solver_parameters(
            mocha.SGD(),
            max_iter=1,
            regu_coef=0.0005,
            lr_policy=LRPolicy.Inv(0.01, 0.0001, 0.75),
            mom_policy=MomPolicy.Fixed(0.9),
        )
        solver = Solver(mocha.SGD(), params)
        state = solve(solver, nn)  # init, first forward, one iteration
        out["first_iter_s"] = time.perf_counter() - T_START

        def step():  # the body of solve()'s loop
            state.iter += 1
            nn.backward(0.0005)
            solver.method.update(solver, nn, state)
            apply_constraints(nn, state.iter)
            state.obj_val = nn.forward(0.0005)

        out["train_it_s"] = _timed(step, seconds, sync=backend.synchronize)
    else:
        nets = {}
        for bs in (100, 1):
            backend.param_registry.clear()
            nets[bs] = Net(
                f"infer{bs}",
                backend,
                [
                    MemoryDataLayer(name="data", data=[x], batch_size=bs, tops=["data"]),
                    *mocha_layers(net),
                    SoftmaxLayer(name="prob", bottoms=["out"], tops=["prob"]),
                ],
                phase="test",
            )
            nets[bs].init()
        sync = backend.synchronize
        out["infer_img_s"] = 100 * _timed(nets[100].forward, seconds, sync=sync)
        out["latency_ms"] = 1e3 * _latency(nets[1].forward, seconds / 2, sync=sync)
    out["impl"] = {
        k: backend.kernels.implementation_of(k) for k in ("conv_forward", "max_pool_forward")
    }
    return out


def child_torch(task: str, net: str, seconds: float, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    spec = NETS[net]
    x, y = _data(spec["shape"])
    x, y = torch.from_numpy(x), torch.from_numpy(y[:, 0]).long()
    model = torch_model(net)
    out: dict = {}
    if task == "train":
        weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
        opt = torch.optim.SGD(
            [{"params": weights, "weight_decay": 0.0005}, {"params": biases, "lr": 0.02}],
            lr=0.01,
            momentum=0.9,
        )
        loss_fn = torch.nn.CrossEntropyLoss()
        bs, n = spec["train_batch"], x.shape[0]
        order, cursor = torch.randperm(n), [0]

        def step():
            if cursor[0] + bs > n:
                order[:], cursor[0] = torch.randperm(n), 0
            idx = order[cursor[0] : cursor[0] + bs]
            cursor[0] += bs
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            return loss.item()

        step()
        out["first_iter_s"] = time.perf_counter() - T_START
        out["train_it_s"] = _timed(step, seconds)
    else:
        model.eval()
        batches = {bs: x[:bs].clone() for bs in (100, 1)}

        def infer(bs):
            with torch.inference_mode():
                return torch.softmax(model(batches[bs]), dim=1)

        out["infer_img_s"] = 100 * _timed(lambda: infer(100), seconds)
        out["latency_ms"] = 1e3 * _latency(lambda: infer(1), seconds / 2)
    out["impl"] = {"torch": torch.__version__}
    return out


def child_main(framework: str, threads: int, task: str, net: str, seconds: float) -> None:

    if framework == "torch":
        out = child_torch(task, net, seconds, threads)
    else:
        out = child_mocha(framework, task, net, seconds)
    from threadpoolctl import threadpool_info

    out["blas"] = sorted(
        {
            f"{i['internal_api']}:{i.get('architecture')}:{i['num_threads']}"
            for i in threadpool_info()
        }
    )
    out["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(out))


# -- the parent: run the matrix, print the table ---------------------------------------------------
def run_child(framework: str, threads: int, task: str, args) -> dict:
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    }
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    if args.openblas_thread_timeout:
        env["OPENBLAS_THREAD_TIMEOUT"] = str(args.openblas_thread_timeout)
    else:
        env.pop("OPENBLAS_THREAD_TIMEOUT", None)
    cmd = [
        sys.executable,
        __file__,
        "--child",
        framework,
        str(threads),
        task,
        args.net,
        str(args.seconds),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{framework}/{threads}/{task} failed:\n{proc.stdout}\n{proc.stderr}")


BEST = {
    "train_it_s": max,
    "infer_img_s": max,
    "latency_ms": min,
    "peak_rss_mb": min,
    "first_iter_s": min,
}
COLUMNS = [
    ("train_it_s", "train it/s", "{:.1f}"),
    ("infer_img_s", "infer img/s", "{:.0f}"),
    ("latency_ms", "b1 latency ms", "{:.2f}"),
    ("first_iter_s", "1st iter s", "{:.2f}"),
    ("peak_rss_mb", "peak RSS MB (train/infer)", "{}"),
]


def measure(args) -> dict:
    results: dict = {}
    for rep in range(args.repeat):
        for threads in args.threads:
            for fw in args.frameworks:
                for task in ("train", "infer"):
                    r = run_child(fw, threads, task, args)
                    cell = results.setdefault((fw, threads), {})
                    cell.setdefault("blas", r["blas"])
                    for key, value in r.items():
                        if key in BEST:
                            k = f"{key}_{task}" if key == "peak_rss_mb" else key
                            cell[k] = BEST[key](cell.get(k, value), value)
                    print(
                        f"  [{rep + 1}/{args.repeat}] {fw} {threads}t {task}: "
                        + ", ".join(f"{k}={v:.3g}" for k, v in r.items() if isinstance(v, float)),
                        file=sys.stderr,
                    )
    return results


def table(results: dict, args) -> str:
    def fmt(cell, key, spec):
        if key == "peak_rss_mb":
            return f"{cell['peak_rss_mb_train']:.0f} / {cell['peak_rss_mb_infer']:.0f}"
        return spec.format(cell[key])

    higher = {"train_it_s", "infer_img_s"}
    lines = [
        "| backend | threads | " + " | ".join(c[1] for c in COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for (fw, threads), cell in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        ref = results.get(("torch", threads))
        row = []
        for key, _, spec in COLUMNS:
            text = fmt(cell, key, spec)
            if ref is not None and fw != "torch" and key != "peak_rss_mb":
                ratio = cell[key] / ref[key] if key in higher else ref[key] / cell[key]
                text += f" ({ratio:.2f}×)"
            elif ref is not None and fw != "torch":
                ratio = ref["peak_rss_mb_train"] / cell["peak_rss_mb_train"]
                text += f" ({ratio:.2f}×)"
            row.append(text)
        name = "pytorch" if fw == "torch" else f"mocha-{fw}"
        lines.append(f"| {name} | {threads} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="LeNet / CIFAR-10 benchmark (see docstring)")
    parser.add_argument("--child", nargs=5, metavar=("FW", "THREADS", "TASK", "NET", "SEC"))
    parser.add_argument("--net", choices=sorted(NETS), default="lenet")
    parser.add_argument("--frameworks", default="numpy,numba,torch")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", default="")
    parser.add_argument(
        "--openblas-thread-timeout",
        type=int,
        default=4,
        help="OPENBLAS_THREAD_TIMEOUT for the children (0: leave unset); idle "
        "OpenBLAS threads otherwise spin ~0.1 s and starve numba's",
    )
    args = parser.parse_args(argv)
    if args.child:
        fw, threads, task, net, sec = args.child
        child_main(fw, int(threads), task, net, float(sec))
        return
    args.threads = [int(t) for t in args.threads.split(",")]
    args.frameworks = [f for f in args.frameworks.split(",") if f]
    if "torch" in args.frameworks:
        import importlib.util

        if importlib.util.find_spec("torch") is None:  # not imported: keep the parent small
            print("PyTorch is not installed: comparing the Mocha backends only", file=sys.stderr)
            args.frameworks.remove("torch")
    load = os.getloadavg()[0]
    print(
        f"{args.net}: {os.cpu_count()} CPUs, load average {load:.2f} at start, "
        f"{args.seconds:g} s per measurement, best of {args.repeat}, "
        f"OPENBLAS_THREAD_TIMEOUT={args.openblas_thread_timeout or 'unset'}",
        file=sys.stderr,
    )
    results = measure(args)
    print(table(results, args))
    print(
        "Ratios are vs PyTorch at the same thread count: > 1 is better for Mocha "
        "(throughput up, latency / time / memory down)."
    )
    for (fw, threads), cell in sorted(results.items()):
        print(f"  {fw} {threads}t BLAS: {', '.join(cell['blas'])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{fw}/{t}": c for (fw, t), c in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
