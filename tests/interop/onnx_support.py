"""Helpers of the ONNX tests: nets with random parameters, onnxruntime runs, comparisons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import mocha  # noqa: E402
from mocha.plugins.formats.onnx import export_net as export  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def isolated_example(path: Path) -> Path:
    """A copy of an example experiment file in a fresh temporary folder, at the same depth
    (`examples/<name>/<file>`), so that its relative data paths (`../../data/...`) name
    nothing: the tests do not depend on what the tutorials' `mocha data` commands wrote into
    the working copy (issue 28)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="mocha-example-")) / "examples" / path.parent.name
    folder.mkdir(parents=True)
    return Path(shutil.copy(path, folder / path.name))


def experiment_layers(path, shape):
    """The computation layers (and losses) of an experiment's test net, for `data` samples
    of `shape` (read from an isolated copy of the file: no data files are found)."""
    from mocha.experiment import load_experiment
    from mocha.experiment.interchange import inference_layers as export_layers

    exp = load_experiment(isolated_example(path))
    layers = export_layers(exp.layers_for("test"), {"data": shape})
    return [layer for layer in layers if not layer.is_source]


def backend():
    b = mocha.make_backend("numpy")
    b.init()
    return b


def make_net(layers, inputs: dict, seed: int = 0, b=None, phase: str = "test"):
    """A net fed by `inputs` ({top: array}, one batch) whose parameters are random normal."""
    b = b or backend()
    tops = list(inputs)
    n = len(next(iter(inputs.values())))
    data = mocha.MemoryDataLayer(
        name="data", tops=tops, batch_size=n, data=[np.asarray(inputs[t], np.float32) for t in tops]
    )
    net = mocha.Net("onnx-test", b, [data, *layers], phase=phase)
    net.init()
    rng = np.random.default_rng(seed)
    for state in net.states:
        for p in state.parameters:
            p.blob.data[...] = rng.normal(0, 0.5, p.blob.shape).astype(p.blob.data.dtype)
    net.forward()
    return net


def ort_run(model, feeds: dict) -> dict:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(
        zip(names, session.run(None, {k: np.asarray(v, np.float32) for k, v in feeds.items()}))
    )


def assert_close(got, want, rtol: float = 1e-5) -> None:
    """Equal within `rtol` relative to the largest magnitude of `want` (float32)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-6)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def check_export(layers, inputs: dict, **options):
    """Export the net of `layers` fed by `inputs`; onnxruntime's outputs must equal our
    forward at batch 1 and at the full batch. Returns the model."""
    net = make_net(layers, inputs)
    model = export(net, **options)
    onnx.checker.check_model(model, full_check=True)
    outputs = [o.name for o in model.graph.output]
    assert outputs
    for n in (1, len(next(iter(inputs.values())))):
        got = ort_run(model, {i.name: inputs[i.name][:n] for i in model.graph.input})
        for name in outputs:
            assert_close(got[name], net.output_blobs[name].data[:n])
    net.shutdown()
    return model
