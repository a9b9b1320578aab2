"""Opt-in conformance check of ONNX import (issue 24, item 6): torchvision nets exported by
PyTorch's two exporters, converted by `mocha convert onnx`, run by `mocha.predict`, compared
with onnxruntime and PyTorch.

    pip install torch torchvision onnxscript onnxruntime      # not dependencies of Mocha
    python benchmarks/onnx_conformance.py                     # every net, exporter, weights
    python benchmarks/onnx_conformance.py --nets mnist_cnn,mlp,resnet18 --exporters dynamo
    nox -s onnx_conformance -- --nets squeezenet1_1

For each net × exporter (`dynamo`: `torch.onnx.export(..., dynamo=True)`, the default, its
default opset; `torchscript`: `dynamo=False`, opset 17) × weights (`random`: every parameter,
bias and BatchNorm statistic drawn at random; `constructor`: the constructor's own
initialization, zero biases and identity BatchNorm) × batch (`static`: exported with a
batch of 1; `dynamic`: a symbolic batch axis): export, `mocha convert onnx`, then
`mocha.predict` on a batch of 2 inputs against onnxruntime (sample by sample for a static
export) and PyTorch (eval mode). A case matches when max |mocha − ref| / max |ref| ≤ `--rtol`
(1e-4) for both references. Prints one Markdown table row per case (the table in docs/onnx.md
is its output) and exits 1 if any case does not import and match.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TORCHVISION = {
    "alexnet": {},
    "vgg11": {},
    "squeezenet1_0": {},
    "squeezenet1_1": {},
    "googlenet": {"aux_logits": False, "init_weights": True},
    "resnet18": {},
    "mobilenet_v2": {},
    "densenet121": {},
    "shufflenet_v2_x0_5": {},
}
SMALL = ("mnist_cnn", "mlp")
EXPORTERS = ("dynamo", "torchscript")
WEIGHTS = ("random", "constructor")
BATCHES = ("static", "dynamic")


def build(name: str):
    """(module in eval mode, sample shape)."""
    import torch
    from torch import nn

    if name == "mnist_cnn":

        class MnistCNN(nn.Module):  # PyTorch's examples/mnist net
            def __init__(self) -> None:
                super().__init__()
                self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
                self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

            def forward(self, x):
                x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
                x = torch.flatten(torch.max_pool2d(x, 2), 1)
                return torch.log_softmax(self.fc2(torch.relu(self.fc1(x))), dim=1)

        return MnistCNN().eval(), (1, 28, 28)
    if name == "mlp":
        net = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 64), nn.Tanh(),
            nn.Linear(64, 10),
        )  # fmt: skip
        return net.eval(), (1, 28, 28)
    import torchvision

    net = getattr(torchvision.models, name)(weights=None, **TORCHVISION[name])
    return net.eval(), (3, 224, 224)


def randomize(model, seed: int) -> None:
    """Every weight ~ N(0, 1/fan_in), biases and BatchNorm shifts ~ N(0, 0.1), BatchNorm
    scales and running variances ~ U(0.5, 1.5), running means ~ N(0, 0.1)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=g) + 0.5)
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=g))
                module.running_mean.copy_(0.1 * torch.randn(module.running_mean.shape, generator=g))
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=g) + 0.5)
                continue
            for pname, p in module.named_parameters(recurse=False):
                if pname == "bias":
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))
                else:
                    fan_in = max(1, p[0].numel())
                    p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)


def export(model, x, path: Path, exporter: str, batch: str) -> None:
    import torch

    if exporter == "dynamo":
        shapes = ({0: torch.export.Dim("batch", min=1)},) if batch == "dynamic" else None
        torch.onnx.export(model, (x,), str(path), dynamo=True, dynamic_shapes=shapes, verbose=False)
    else:
        axes = {"x": {0: "N"}, "y": {0: "N"}} if batch == "dynamic" else None
        torch.onnx.export(
            model, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"],
            output_names=["y"], dynamic_axes=axes,
        )  # fmt: skip


def ort_outputs(path: Path, x: np.ndarray, batch: str) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    if batch == "dynamic":
        return session.run(None, {name: x})[0]
    return np.concatenate([session.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])


def mocha_outputs(path: Path, out: Path, x: np.ndarray) -> np.ndarray:
    """`mocha convert onnx`, then `mocha.predict` on the converted experiment and model."""
    import mocha
    from mocha.experiment import load_experiment

    done = subprocess.run(
        [sys.executable, "-m", "mocha", "convert", "onnx", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError("convert: " + " ".join(message)[:300])
    toml = next(out.glob("*.toml"))
    exp = load_experiment(toml)
    layers = exp.layers_for("test" if exp.has_test_net else "train")
    return mocha.predict(layers, x, model=out / "model.h5", batch_size=len(x)).outputs


def relative(a: np.ndarray, ref: np.ndarray) -> float:
    a = a.reshape(ref.shape) if a.size == ref.size else a
    if a.shape != ref.shape:
        return float("inf")
    return float(np.abs(a - ref).max() / max(np.abs(ref).max(), 1e-30))


def run_case(name: str, exporter: str, weights: str, batch: str, rtol: float, work: Path):
    import torch

    torch.manual_seed(0)
    model, sample = build(name)
    if weights == "random":
        randomize(model, seed=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *sample)).astype(np.float32)
    example = torch.from_numpy(x[:1] if batch == "static" else x)
    path = work / f"{name}-{exporter}-{weights}-{batch}.onnx"
    row = {"net": name, "exporter": exporter, "weights": weights, "batch": batch}
    t0 = time.perf_counter()
    try:
        export(model, example, path, exporter, batch)
    except Exception as exc:
        return {**row, "status": f"export failed: {type(exc).__name__}: {str(exc)[:150]}"}
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    ort = ort_outputs(path, x, batch)
    try:
        ours = mocha_outputs(path, work / path.stem, x)
    except Exception as exc:
        why = str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
        return {**row, "status": "not imported: " + " ".join(why.split())[:300]}
    errs = relative(ours, ort), relative(ours, want)
    status = "match" if max(errs) <= rtol else "MISMATCH"
    return {
        **row, "status": status, "vs_ort": errs[0], "vs_torch": errs[1],
        "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nets", default=",".join([*SMALL, *TORCHVISION]))
    parser.add_argument("--exporters", default=",".join(EXPORTERS))
    parser.add_argument("--weights", default=",".join(WEIGHTS))
    parser.add_argument("--batch", default=",".join(BATCHES))
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=2, help="torch's intra-op threads")
    args = parser.parse_args(argv)
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
        import torch
        import torchvision
    except ImportError as exc:
        print(f"needs torch, torchvision, onnxscript, onnxruntime: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, rtol {args.rtol}")
    print("\n| net | exporter | weights | batch | result | vs onnxruntime | vs PyTorch |")
    print("|---|---|---|---|---|---|---|")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.nets.split(","):
            for exporter in args.exporters.split(","):
                for weights in args.weights.split(","):
                    for batch in args.batch.split(","):
                        r = run_case(name, exporter, weights, batch, args.rtol, Path(tmp))
                        failed += r["status"] != "match"
                        errs = [f"{r[k]:.1e}" if k in r else "" for k in ("vs_ort", "vs_torch")]
                        cells = [name, exporter, weights, batch, r["status"], *errs]
                        print("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
                        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
