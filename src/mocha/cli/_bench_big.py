"""`mocha bench --net resnet18,alexnet,vgg11`: ImageNet-class nets, inference and training, Mocha
against PyTorch eager and onnxruntime, each (framework, thread count) in a fresh process.

    python -m mocha.cli._bench_big '{"framework": "mocha"|"torch"|"onnxruntime",
                                     "net": "alexnet"|"vgg11"|"resnet18", "threads": T, ...}'

The nets are torchvision's architectures written out in each framework (the same layer shapes;
random weights, which speed does not depend on): AlexNet and VGG-11 at 224×224, ResNet-18
**without BatchNorm** (Mocha has no BatchNorm layer yet: each conv → BN → ReLU is conv (with a
bias) → ReLU, in all three frameworks alike) at 225×225 (so that Mocha's Caffe-style pooling,
which rounds the output size up, gives torchvision's 57×57 after the stem). Batch `batch`
(8) of random images. Measured:

* `infer_ms`: the median time of a forward pass of the batch (Mocha: `net.forward()` of a
  test-phase net with a `MemoryDataLayer`; PyTorch: `model(x)` under `inference_mode`;
  onnxruntime: `session.run` of the ONNX file Mocha's own exporter writes from the same Mocha
  net, `intra_op_num_threads` = T), after `warmup` passes;
* `train_ms` (Mocha and PyTorch): the mean time of a training iteration (softmax loss, SGD
  with momentum 0.9 and weight decay 0.0005; Mocha through `solve()`, timed by
  `state.timing`), over `train_iters` iterations after one.

Threads: T as in `mocha bench` (Mocha `DefaultBackend(threads=T)`, PyTorch
`torch.set_num_threads(T)`, onnxruntime `intra_op_num_threads=T`); "default" leaves each
framework's default. The result is one `RESULT {json}` line on stdout.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BIG_NETS = {"alexnet": 224, "vgg11": 224, "resnet18": 225}
VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


def mocha_layers(net: str) -> list:
    """The net's computation layers in Mocha, from blob "data" to blob "out" (1000 classes)."""
    from mocha import ConvolutionLayer as Conv
    from mocha import (
        DropoutLayer,
        ElementWiseLayer,
        InnerProductLayer,
        Neurons,
        PoolingLayer,
        SplitLayer,
    )
    from mocha import Pooling as P

    relu = Neurons.ReLU()
    layers: list = []

    def conv(name, bottom, n, k, s=1, p=0, neuron=relu):
        layers.append(
            Conv(name=name, n_filter=n, kernel=(k, k), stride=(s, s), pad=(p, p),
                 neuron=neuron, bottoms=[bottom], tops=[name])
        )  # fmt: skip
        return name

    def pool(name, bottom, k, s, p=0, kind=None):
        layers.append(
            PoolingLayer(name=name, kernel=(k, k), stride=(s, s), pad=(p, p),
                         pooling=kind or P.Max(), bottoms=[bottom], tops=[name])
        )  # fmt: skip
        return name

    def head(bottom, sizes):
        for i, n in enumerate(sizes):
            name = f"fc{i + 6}"
            last = i == len(sizes) - 1
            layers.append(
                InnerProductLayer(name=name, output_dim=n, neuron=Neurons.Identity() if last
                                  else relu, bottoms=[bottom], tops=["out" if last else name])
            )  # fmt: skip
            if not last:
                layers.append(DropoutLayer(name=f"drop{i + 6}", ratio=0.5, bottoms=[name]))
            bottom = name

    if net == "alexnet":
        x = pool("pool1", conv("conv1", "data", 64, 11, 4, 2), 3, 2)
        x = pool("pool2", conv("conv2", x, 192, 5, 1, 2), 3, 2)
        x = conv("conv5", conv("conv4", conv("conv3", x, 384, 3, 1, 1), 256, 3, 1, 1), 256, 3, 1, 1)
        head(pool("pool5", x, 3, 2), [4096, 4096, 1000])
    elif net == "vgg11":
        x, i = "data", 0
        for v in VGG11:
            i += 1
            x = pool(f"pool{i}", x, 2, 2) if v == "M" else conv(f"conv{i}", x, v, 3, 1, 1)
        head(x, [4096, 4096, 1000])
    else:  # resnet18 without BatchNorm
        x = pool("pool1", conv("conv1", "data", 64, 7, 2, 3), 3, 2, 1)
        width = 64
        for stage, n in enumerate((64, 128, 256, 512)):
            for block in range(2):
                s = 2 if stage > 0 and block == 0 else 1
                b = f"s{stage}b{block}"
                layers.append(
                    SplitLayer(name=f"{b}split", no_copy=True, bottoms=[x],
                               tops=[f"{b}in", f"{b}short"])
                )  # fmt: skip
                y = conv(f"{b}c1", f"{b}in", n, 3, s, 1)
                y = conv(f"{b}c2", y, n, 3, 1, 1, Neurons.Identity())
                short = f"{b}short"
                if n != width:
                    short = conv(f"{b}down", short, n, 1, s, 0, Neurons.Identity())
                layers.append(
                    ElementWiseLayer(name=f"{b}add", bottoms=[y, short], tops=[f"{b}sum"])
                )
                layers.append(
                    PoolingLayer(name=f"{b}relu", kernel=(1, 1), neuron=relu,
                                 bottoms=[f"{b}sum"], tops=[f"{b}out"])
                )  # fmt: skip
                x, width = f"{b}out", n
        x = pool("gap", x, 8, 1, 0, P.Mean())  # 225×225 input: 8×8 at the last stage
        layers.append(InnerProductLayer(name="fc", output_dim=1000, bottoms=[x], tops=["out"]))
    return layers


def torch_model(net: str) -> Any:
    from torch import nn

    if net == "alexnet":
        return nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Flatten(), nn.Dropout(), nn.Linear(256 * 36, 4096), nn.ReLU(),
            nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000),
        )  # fmt: skip
    if net == "vgg11":
        layers, c = [], 3
        for v in VGG11:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
                c = v
        return nn.Sequential(
            *layers, nn.Flatten(), nn.Linear(512 * 49, 4096), nn.ReLU(), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 1000),
        )  # fmt: skip

    class Block(nn.Module):
        def __init__(self, cin: int, n: int, s: int) -> None:
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(cin, n, 3, s, 1), nn.Conv2d(n, n, 3, 1, 1)
            self.down = nn.Conv2d(cin, n, 1, s) if cin != n else None

        def forward(self, x):
            y = self.c2(self.c1(x).relu())
            return (y + (x if self.down is None else self.down(x))).relu()

    blocks, c = [], 64
    for stage, n in enumerate((64, 128, 256, 512)):
        for block in range(2):
            blocks.append(Block(c, n, 2 if stage > 0 and block == 0 else 1))
            c = n
    return nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1), *blocks,
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000),
    )  # fmt: skip


def _median_ms(step: Any, warmup: int, reps: int, sync: Any = lambda: None) -> float:
    """Median milliseconds of one call of `step`, each ended by `sync()` (a GPU's queue)."""
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def _data(spec: dict) -> tuple:
    import numpy as np

    size, n = BIG_NETS[spec["net"]], spec.get("batch", 8)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2 * n, 3, size, size), dtype=np.float32)
    y = rng.integers(0, 1000, (2 * n, 1)).astype(np.float32)
    return x, y


def _mocha_nets(spec: dict, backend: Any) -> tuple:
    import mocha

    x, y = _data(spec)
    n = spec.get("batch", 8)
    data = mocha.MemoryDataLayer(name="data", data=[x], batch_size=n, tops=["data"])
    infer = mocha.Net("infer", backend, [data, *mocha_layers(spec["net"])], phase="test")
    train = mocha.Net(
        "train",
        backend,
        [
            mocha.MemoryDataLayer(
                name="data", data=[x, y], batch_size=n, shuffle=True, tops=["data", "label"]
            ),
            *mocha_layers(spec["net"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["out", "label"]),
        ],
    )
    return infer, train


def child_mocha(spec: dict) -> dict:
    import mocha

    T = spec["threads"]
    backend = mocha.DefaultBackend(threads=None if T == "default" else T)
    mocha.init(backend)
    infer, train = _mocha_nets(spec, backend)
    infer.init()
    out: dict[str, Any] = {"backend": type(backend).__name__}
    out["infer_ms"] = _median_ms(
        infer.forward, spec.get("warmup", 2), spec.get("reps", 5), backend.synchronize
    )
    infer.shutdown()
    if spec.get("train_iters", 3):

        def solver(iters: int) -> Any:
            params = mocha.make_solver_parameters(
                mocha.SGD(), max_iter=iters, regu_coef=0.0005,
                lr_policy=mocha.LRPolicy.Fixed(0.001), mom_policy=mocha.MomPolicy.Fixed(0.9),
            )  # fmt: skip
            return mocha.Solver(mocha.SGD(), params)

        mocha.solve(solver(1), train)
        state = mocha.solve(solver(spec.get("train_iters", 3)), train)
        out["train_ms"] = 1e3 * state.timing.total / max(state.timing.iterations, 1)
    out["pools"] = backend.thread_info()
    train.shutdown()
    mocha.shutdown(backend)
    return out


def child_torch(spec: dict) -> dict:
    import torch

    if spec["threads"] != "default":
        torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    x, y = _data(spec)
    n = spec.get("batch", 8)
    xb, yb = torch.from_numpy(x[:n]), torch.from_numpy(y[:n, 0]).long()
    model = torch_model(spec["net"])
    model.eval()
    with torch.inference_mode():
        out = {
            "infer_ms": _median_ms(lambda: model(xb), spec.get("warmup", 2), spec.get("reps", 5))
        }
    out["backend"] = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    if spec.get("train_iters", 3):
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, weight_decay=0.0005)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step() -> None:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()

        step()
        t0 = time.perf_counter()
        for _ in range(spec.get("train_iters", 3)):
            step()
        out["train_ms"] = 1e3 * (time.perf_counter() - t0) / spec.get("train_iters", 3)
    return out


def child_onnxruntime(spec: dict) -> dict:
    import onnxruntime as ort

    import mocha
    from mocha.interop import onnx as mocha_onnx

    backend = mocha.make_backend("numpy")
    mocha.init(backend)
    infer, _ = _mocha_nets(spec, backend)
    n = spec.get("batch", 8)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{spec['net']}.onnx"
        mocha_onnx.export(infer, path, batch=n, outputs=["out"])
        mocha.shutdown(backend)
        options = ort.SessionOptions()
        if spec["threads"] != "default":
            options.intra_op_num_threads = spec["threads"]
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = _data(spec)[0][:n]
    ms = _median_ms(
        lambda: session.run(None, {name: x}), spec.get("warmup", 2), spec.get("reps", 5)
    )
    return {"infer_ms": ms, "backend": f"onnxruntime {ort.__version__}"}


def _ratio(ref: float | None, value: float | None) -> str:
    """ref / value as "1.23×" (> 1: Mocha faster), "—" without both."""
    return f"{ref / value:.2f}×" if ref and value else "—"


def table(net: str, results: dict[tuple[str, Any], dict[str, Any]]) -> list[str]:
    """The Markdown table of one big net: per thread count, Mocha's inference and training
    times and their ratios to PyTorch and onnxruntime (> 1: Mocha faster), then theirs."""
    lines = [
        "| framework | threads | infer ms | ×PyTorch | ×onnxruntime | train ms | ×PyTorch |",
        "|---|---|---|---|---|---|---|",
    ]
    counts = sorted({T for _, T in results}, key=lambda T: T if isinstance(T, int) else 1 << 20)
    for T in counts:
        m, t, o = (results.get((fw, T), {}) for fw in ("mocha", "torch", "onnxruntime"))
        for fw, r in (("mocha", m), ("pytorch", t), ("onnxruntime", o)):
            if not r:
                continue
            train = f"{r['train_ms']:.0f}" if r.get("train_ms") else "—"
            ratios = ["—", "—", "—"]
            if fw == "mocha":
                ratios = [
                    _ratio(t.get("infer_ms"), m.get("infer_ms")),
                    _ratio(o.get("infer_ms"), m.get("infer_ms")),
                    _ratio(t.get("train_ms"), m.get("train_ms")),
                ]
            lines.append(
                f"| {fw} | {T} | {r['infer_ms']:.0f} | {ratios[0]} | {ratios[1]} | {train} "
                f"| {ratios[2]} |"
            )
    return lines


def measure(
    nets: list[str], counts: list, frameworks: list[str], repeat: int, run_child: Any, echo: Any
) -> dict[str, Any]:
    """Run every (net, threads, framework) child, `repeat` times (the best kept); print each
    net's table; the raw results by net and "framework/threads"."""
    report: dict[str, Any] = {}
    for net in nets:
        results: dict[tuple[str, Any], dict[str, Any]] = {}
        for rep in range(repeat):
            for T in counts:
                for fw in frameworks:
                    spec = {"framework": fw, "net": net, "threads": T, "batch": 8}
                    spec.update(warmup=1, reps=3, train_iters=0 if fw == "onnxruntime" else 2)
                    echo(f"  [{rep + 1}/{repeat}] {net}: {fw} at {T} thread(s) ...", err=True)
                    r = run_child(spec, timeout=1800, module="mocha.cli._bench_big")
                    old = results.get((fw, T))
                    if old is None or r["infer_ms"] < old["infer_ms"]:
                        r["train_ms"] = min(
                            (x for x in (r.get("train_ms"), (old or {}).get("train_ms")) if x),
                            default=None,
                        )
                        results[(fw, T)] = r
                    elif r.get("train_ms") and (old.get("train_ms") or 1e30) > r["train_ms"]:
                        old["train_ms"] = r["train_ms"]
        note = " (ResNet-18 without BatchNorm: conv + bias + ReLU)" if net == "resnet18" else ""
        echo(
            f"\n{net}{note}: batch 8 of {BIG_NETS[net]}×{BIG_NETS[net]} images, inference "
            f"median ms per batch, training mean ms per SGD iteration, best of {repeat}; "
            f"ratios = the other's time / Mocha's (> 1: Mocha faster)"
        )
        for line in table(net, results):
            echo(line)
        for (fw, T), r in sorted(results.items(), key=lambda kv: str(kv[0])):
            if fw == "mocha" and T == "default" and "pools" in r:
                a = r["pools"].get("adaptive") or {}
                echo(f"mocha default: {r['pools']['threads']} thread(s); {a.get('why', '')}")
        report[net] = {f"{fw}/{T}": r for (fw, T), r in results.items()}
    return report


def main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    run = {"mocha": child_mocha, "torch": child_torch, "onnxruntime": child_onnxruntime}
    out = run[spec["framework"]](spec)
    print("RESULT " + json.dumps(out, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
