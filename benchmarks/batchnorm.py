"""BatchNorm forward + backward in training (batch statistics, affine) on one batch, Mocha's
BatchNormLayer vs PyTorch's BatchNorm2d, in the same process, at the same thread count.

    python benchmarks/batchnorm.py                      # (64, 64, 56, 56) float32, 2 threads
    python benchmarks/batchnorm.py --shape 32,64,56,56 --threads 1 --repeat 20

Prints the median milliseconds of forward, backward and both for each, and the ratio
Mocha / PyTorch (the target: at most 1.2). PyTorch is not a dependency: `pip install torch`.
Both sides run the same work: batch mean and variance per channel, normalize, scale and
shift; the gradients of the input, the scale and the shift; Mocha also folds the batch
statistics into its moving averages (in its backward), PyTorch updates its running stats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm-up (compilation, first-touch of the buffers)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def bench_mocha(x: np.ndarray, g: np.ndarray, threads: int, repeat: int, backend_name: str):
    import mocha
    from mocha.core.layer import SetupContext

    backend = mocha.make_backend(backend_name, dtype="float32", threads=threads)
    backend.init()
    layer = mocha.lookup("layers", "BatchNormLayer")(bottoms=["x"], tops=["y"], affine=True)
    inputs, diffs = [backend.from_host(x)], [backend.zeros(x.shape)]
    state = layer.state_cls(layer, backend, inputs, diffs, SetupContext(phase="train"))
    for p in state.parameters:
        p.initializer.init(backend, p.blob)
    state.blobs_diff[0].copy_from(g)

    def fwd():
        state.forward(backend, inputs)

    def fwd_bwd():
        state.forward(backend, inputs)
        state.backward(backend, inputs, diffs)

    out = {"forward": _median_ms(fwd, repeat), "forward+backward": _median_ms(fwd_bwd, repeat)}
    backend.shutdown()
    return out


def bench_torch(x: np.ndarray, g: np.ndarray, threads: int, repeat: int):
    import torch

    torch.set_num_threads(threads)
    bn = torch.nn.BatchNorm2d(x.shape[1]).train()
    xt = torch.from_numpy(x).requires_grad_(True)
    gt = torch.from_numpy(g)

    def fwd():
        with torch.no_grad():
            bn(xt)

    def fwd_bwd():
        xt.grad = None
        bn.zero_grad(set_to_none=True)
        bn(xt).backward(gt)

    return {"forward": _median_ms(fwd, repeat), "forward+backward": _median_ms(fwd_bwd, repeat)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="64,64,56,56")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--backend", default="numba")
    args = parser.parse_args(argv)
    shape = tuple(int(v) for v in args.shape.split(","))
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape, dtype=np.float32) * 2 + 0.5).astype(np.float32)
    g = rng.standard_normal(shape, dtype=np.float32)
    mine = bench_mocha(x, g, args.threads, args.repeat, args.backend)
    try:
        theirs = bench_torch(x, g, args.threads, args.repeat)
    except ImportError:
        theirs = None
    print(f"BatchNorm {shape} float32, {args.threads} thread(s), median of {args.repeat}")
    print(f"{'':18s}{'mocha ms':>10s}{'torch ms':>10s}{'ratio':>8s}")
    for key, ms in mine.items():
        if theirs is None:
            print(f"{key:18s}{ms:10.2f}{'-':>10s}{'-':>8s}")
        else:
            print(f"{key:18s}{ms:10.2f}{theirs[key]:10.2f}{ms / theirs[key]:8.2f}")
    if theirs is None:
        print("PyTorch is not installed (pip install torch): no ratio", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
