"""examples/mnist/manual_port.py: the manual's §1.1 MNIST tutorial ported literally runs
(a few iterations by default; `--run-slow`: 2,000 iterations reach >= 96.5%)."""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mnist" / "manual_port.py"


def load_example():
    spec = importlib.util.spec_from_file_location("manual_port_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mirror_or_skip(example) -> str:
    mirror = Path(example.DEFAULT_MIRROR)
    if not (mirror / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST mirror not found at {mirror}")
    return str(mirror)


def one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def run(tmp_path, max_iter, capsys, backend="numpy"):
    example = load_example()
    mirror = mirror_or_skip(example)
    with one_blas_thread():
        result = example.main(
            [
                "--max-iter",
                str(max_iter),
                "--backend",
                backend,
                "--workdir",
                str(tmp_path / "work"),
                "--mirror",
                mirror,
            ]
        )
    out = capsys.readouterr().out
    work = tmp_path / "work"
    assert (work / "data" / "train.txt").exists()
    assert (work / "snapshots" / f"snapshot-{max_iter:06d}.h5").exists()
    assert "## Performance on Validation Set" in out and "Correct label index:" in out
    probabilities = result["probabilities"]
    assert probabilities.shape == (10,) and abs(float(probabilities.sum()) - 1) < 1e-5
    x, y, y_avg = result["curve"]
    assert x[0] == 0 and x[-1] == max_iter and len(y_avg) == len(y)
    return result, out


def test_manual_port_runs_a_few_iterations(tmp_path, capsys):
    result, out = run(tmp_path, 4, capsys)
    assert "TRAIN iter=000004" in out and 0.0 <= result["accuracy"] <= 1.0


def test_manual_port_predicts_the_edited_image(tmp_path, capsys):
    """The prediction reads the image written into the data layer's array: it matches the
    validation net's output for that image (recomputed here from the snapshot)."""
    import h5py

    import mocha

    result, _ = run(tmp_path, 2, capsys)
    work = tmp_path / "work"
    with h5py.File(work / "data" / "test.h5") as f:
        images = np.asarray(f["data"][0:3])
    backend = mocha.NumpyBackend()
    arch = [
        mocha.MemoryDataLayer(
            name="data", tops=["data"], batch_size=1, data=[np.zeros((1, 1, 28, 28), np.float64)]
        )
    ]
    arch += [
        mocha.ConvolutionLayer(
            name="conv1", n_filter=20, kernel=(5, 5), bottoms=["data"], tops=["conv1"]
        ),
        mocha.PoolingLayer(
            name="pool1", kernel=(2, 2), stride=(2, 2), bottoms=["conv1"], tops=["pool1"]
        ),
        mocha.ConvolutionLayer(
            name="conv2", n_filter=50, kernel=(5, 5), bottoms=["pool1"], tops=["conv2"]
        ),
        mocha.PoolingLayer(
            name="pool2", kernel=(2, 2), stride=(2, 2), bottoms=["conv2"], tops=["pool2"]
        ),
        mocha.InnerProductLayer(
            name="ip1", output_dim=500, neuron=mocha.Neurons.ReLU(), bottoms=["pool2"], tops=["ip1"]
        ),
        mocha.InnerProductLayer(name="ip2", output_dim=10, bottoms=["ip1"], tops=["ip2"]),
        mocha.SoftmaxLayer(name="prob", bottoms=["ip2"], tops=["prob"]),
    ]
    run_net = mocha.Net("check", backend, arch)
    mocha.load_snapshot(run_net, str(work / "snapshots" / "snapshot-000002.h5"))
    want = mocha.predict(run_net, images).probabilities
    np.testing.assert_allclose(result["probabilities"], want[0], rtol=1e-4, atol=1e-6)
    outputs = []
    for image in images:  # the manual's way, with a float64 array
        mocha.get_layer(run_net, "data").data[0][...] = image
        mocha.forward(run_net)
        outputs.append(run_net.output_blobs["prob"].to_host()[0].copy())
    np.testing.assert_allclose(outputs, want, rtol=1e-4, atol=1e-6)
    mocha.destroy(run_net)


@pytest.mark.slow
def test_manual_port_reaches_96_5_percent_at_2000_iterations(tmp_path, capsys):
    result, out = run(tmp_path, 2000, capsys, backend="cpu")  # the manual's CPUBackend()
    assert "TRAIN iter=002000" in out
    assert result["accuracy"] >= 0.965
    assert result["predicted"] == result["label"]
