"""Per-layer wall time of one training iteration (forward and backward of every layer).

    python benchmarks/profile_layers.py --backend numba --net lenet --threads 1
    python benchmarks/profile_layers.py --backend numba --net cifar10 --threads 2
    python benchmarks/profile_layers.py --net alexnet --iters 3 --batch 8   # vgg11, resnet18 too

Uses the nets of `benchmarks/lenet.py` (and `mocha bench`'s big nets from
`mocha.cli._bench_big`); the thread count is the backend's (`--threads`, default: the cores
available). Prints milliseconds per iteration and each layer's share, averaged over `--iters`
iterations after one warm-up iteration.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numba")
    parser.add_argument(
        "--net", choices=("lenet", "cifar10", "alexnet", "vgg11", "resnet18"), default="lenet"
    )
    parser.add_argument("--batch", type=int, default=8, help="batch of the big nets")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    from lenet import NETS, _data, mocha_layers

    import mocha
    from mocha import MemoryDataLayer, Net, SoftmaxLossLayer, make_backend

    backend = make_backend(args.backend, threads=args.threads)
    mocha.init(backend)
    if args.net in ("lenet", "cifar10"):
        spec = NETS[args.net]
        x, y = _data(spec["shape"])
    else:
        from mocha.cli import _bench_big as big

        x, y = big._data({"net": args.net, "batch": args.batch})
        spec = {"train_batch": args.batch}
        mocha_layers = big.mocha_layers  # noqa: F811
    net = Net(
        "profile",
        backend,
        [
            MemoryDataLayer(
                name="data",
                data=[x, y],
                batch_size=spec["train_batch"],
                shuffle=True,
                tops=["data", "label"],
            ),
            *mocha_layers(args.net),
            SoftmaxLossLayer(name="loss", bottoms=["out", "label"]),
        ],
    )
    net.init()
    fw: dict[str, float] = {}
    bw: dict[str, float] = {}

    def clock() -> float:  # a GPU's queued kernels count in the layer that launched them
        backend.synchronize()
        return time.perf_counter()

    for it in range(args.iters + 1):
        if it == 1:
            fw.clear()
            bw.clear()
        for state, inputs, _diffs, layer in net._run_plan:  # what Net.forward does
            t = clock()
            state.forward(backend, inputs)
            if layer.has_neuron and not layer.neuron.is_identity:
                for blob in state.blobs:
                    layer.neuron.forward(backend, blob)
            fw[layer.name] = fw.get(layer.name, 0.0) + clock() - t
        for state, inputs, diffs, layer in reversed(net._run_plan):  # Net.backward
            if not layer.can_do_bp:
                continue
            t = clock()
            if layer.has_neuron and not layer.neuron.is_identity:
                for blob, diff in zip(state.blobs, state.blobs_diff):
                    if not diff.is_null:
                        layer.neuron.backward(backend, blob, diff)
            state.backward(backend, inputs, diffs)
            if layer.has_param and not state.frozen:
                for p in state.parameters:
                    p.regularizer.gradient(backend, p.blob, p.gradient, 0.0005)
            bw[layer.name] = bw.get(layer.name, 0.0) + clock() - t
    n = args.iters
    print(
        f"{args.net} on {args.backend} at {backend.threads} thread(s), ms per iteration "
        f"(forward / backward):"
    )
    total = (sum(fw.values()) + sum(bw.values())) / n
    for name in fw:
        f, b = fw[name] / n, bw.get(name, 0.0) / n
        share = 100 * (f + b) / total
        print(f"  {name:8s} {f * 1e3:8.3f} / {b * 1e3:8.3f}   {share:5.1f}%")
    print(f"  total    {total * 1e3:8.2f} ms  ({1 / total:.1f} forward+backward per second)")


if __name__ == "__main__":
    main()
