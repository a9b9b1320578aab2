"""How inputs were scaled at training travels with the data (issue 28 item 5): `mocha data`
and `mocha data convert --scale` record `pixel_scale` (and `pixel_mean`) on the HDF5 data;
`mocha predict` prepares images the same way, or says it cannot know; the size refusal counts
an RGB image's channels right; `--resize`."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import mocha
from mocha import HDF5DataLayer, InnerProductLayer, Net, save_network
from mocha.datasets import cifar10, convert
from mocha.plugins.backends.numpy_backend import NumpyBackend

pil = pytest.importorskip("PIL.Image")

EXPERIMENT = """
name = "tiny"
[backend]
name = "numpy"
[[layers]]
type = "HDF5DataLayer"
source = "{source}"
batch_size = 2
[[layers]]
type = "InnerProductLayer"
name = "ip"
output_dim = 3
bottoms = ["data"]
tops = ["ip"]
[[layers]]
type = "SoftmaxLossLayer"
name = "loss"
bottoms = ["ip", "label"]
[solver]
max_iter = 1
lr_policy = 0.1
"""


def _model(tmp_path, list_file):
    """An experiment reading `list_file` and a random model for it; (exp, model, net)."""
    exp = tmp_path / "exp.toml"
    exp.write_text(EXPERIMENT.format(source=Path(list_file).as_posix()))
    net = Net(
        "n",
        NumpyBackend(seed=3),
        [
            HDF5DataLayer(source=str(list_file), batch_size=2),
            InnerProductLayer(name="ip", output_dim=3, bottoms=["data"], tops=["ip"]),
        ],
    )
    net.init()
    for p in net.state_of("ip").parameters:
        p.blob.copy_from(np.random.default_rng(1).normal(0, 0.5, p.blob.shape))
    return exp, save_network(str(tmp_path / "model.h5"), net), net


def _predict(app, runner, exp, model, *args):
    result = runner.invoke(
        app, ["predict", str(exp), *map(str, args), "-m", model, "--backend", "numpy", "--json"]
    )
    return result


def _probabilities(result):
    return np.array([r["probabilities"] for r in json.loads(result.stdout)["predictions"]])


def test_convert_scale_is_recorded_and_applied(app, runner, tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (6, 1, 5, 5)).astype(np.float32)
    h5 = convert.from_arrays(tmp_path / "d.h5", pixels, np.zeros(6), scale=1 / 256)
    with h5py.File(h5) as f:
        assert f["data"].attrs["pixel_scale"] == pytest.approx(1 / 256)
    exp, model, net = _model(tmp_path, tmp_path / "d.txt")
    image = pixels[0, 0].astype(np.uint8)
    pil.fromarray(image, mode="L").save(tmp_path / "a.png")
    result = _predict(app, runner, exp, model, tmp_path / "a.png")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["image_preparation"].startswith("images prepared as the training data")
    want = mocha.predict(net, image[None, None].astype(np.float32) / 256)
    np.testing.assert_allclose(_probabilities(result), want.probabilities, rtol=1e-5)
    # an explicit --scale replaces what the data records
    result = _predict(app, runner, exp, model, tmp_path / "a.png", "--scale", "1")
    want = mocha.predict(net, image[None, None].astype(np.float32))
    np.testing.assert_allclose(_probabilities(result), want.probabilities, rtol=1e-5)
    net.shutdown()


def test_no_record_is_said(app, runner, tmp_path):
    with h5py.File(tmp_path / "d.h5", "w") as f:  # written by hand: no attribute
        f["data"] = np.zeros((4, 1, 5, 5), np.float32)
        f["label"] = np.zeros((4, 1), np.float32)
    (tmp_path / "d.txt").write_text("d.h5\n")
    exp, model, net = _model(tmp_path, tmp_path / "d.txt")
    pil.fromarray(np.zeros((5, 5), np.uint8), mode="L").save(tmp_path / "a.png")
    result = _predict(app, runner, exp, model, tmp_path / "a.png")
    assert result.exit_code == 0, result.output
    assert "cannot know how the training inputs were scaled" in result.stderr
    assert "--scale" in result.stderr
    net.shutdown()


def test_cifar10_records_its_mean_and_predict_subtracts_it(app, runner, tmp_path):
    out = tmp_path / "c"
    cifar10.prepare(out, synthetic=10, log=lambda _: None)
    with h5py.File(out / "test.h5") as f:
        assert dict(f["data"].attrs) == {"pixel_scale": 1.0, "pixel_mean": "mean.h5"}
    with h5py.File(out / "mean.h5") as f:
        mean = f["mean"][()].reshape(3, 32, 32)
    exp, model, net = _model(tmp_path, out / "test.txt")
    rgb = np.random.default_rng(4).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    pil.fromarray(rgb, mode="RGB").save(tmp_path / "a.png")
    result = _predict(app, runner, exp, model, tmp_path / "a.png")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["image_preparation"].endswith("(pixels - mean) * 1")
    want = mocha.predict(net, (rgb.transpose(2, 0, 1).astype(np.float32) - mean)[None])
    np.testing.assert_allclose(_probabilities(result), want.probabilities, rtol=1e-4)
    net.shutdown()


def test_size_refusal_counts_rgb_channels_and_resize(app, runner, tmp_path):
    pixels = np.zeros((4, 1, 6, 6), np.float32)
    convert.from_arrays(tmp_path / "d.h5", pixels, np.zeros(4), scale=1 / 255)
    exp, model, net = _model(tmp_path, tmp_path / "d.txt")
    rgb = np.random.default_rng(5).integers(0, 256, (10, 8, 3), dtype=np.uint8)  # H 10, W 8
    pil.fromarray(rgb, mode="RGB").save(tmp_path / "colour.png")
    result = _predict(app, runner, exp, model, tmp_path / "colour.png")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "image of 8x10 pixels, RGB (3 channels); the net expects 6x6 with 1 channel" in message
    assert "--resize" in message
    result = _predict(app, runner, exp, model, tmp_path / "colour.png", "--resize")
    assert result.exit_code == 0, result.output
    grey = pil.fromarray(rgb, mode="RGB").convert("L").resize((6, 6), pil.Resampling.BILINEAR)
    want = mocha.predict(net, np.asarray(grey, np.float32)[None, None] / 255)
    np.testing.assert_allclose(_probabilities(result), want.probabilities, rtol=1e-5)
    net.shutdown()
