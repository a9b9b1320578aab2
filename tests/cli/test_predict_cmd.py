"""`mocha predict`: an experiment's architecture + a model file, on .npy arrays and images."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import mocha
from mocha import HDF5DataLayer, InnerProductLayer, Net, save_network
from mocha.cli import predict_cmd
from mocha.plugins.backends.numpy_backend import NumpyBackend

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
method = "SGD"
max_iter = 1
lr_policy = {{type = "Fixed", base_lr = 0.1}}
mom_policy = 0.0
"""


@pytest.fixture
def app():
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    predict_cmd.mocha_register_commands(app=app)
    return app


@pytest.fixture
def setup(tmp_path):
    x = np.random.default_rng(0).random((4, 1, 4, 4)).astype(np.float32)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["data"] = x
        f["label"] = np.zeros((4, 1), np.float32)
    (tmp_path / "d.txt").write_text("d.h5\n")
    exp = tmp_path / "exp.toml"
    exp.write_text(EXPERIMENT.format(source=(tmp_path / "d.txt").as_posix()))
    backend = NumpyBackend(seed=3)
    net = Net(
        "n",
        backend,
        [
            HDF5DataLayer(source=tmp_path / "d.txt", batch_size=2),
            InnerProductLayer(name="ip", output_dim=3, bottoms=["data"], tops=["ip"]),
        ],
    )
    net.init()
    model = save_network(str(tmp_path / "model.h5"), net)
    return tmp_path, exp, model, net


def test_npy_inputs_json(app, setup):
    tmp_path, exp, model, net = setup
    x = np.random.default_rng(1).random((3, 4, 4)).astype(np.float32)  # grey, no channel axis
    np.save(tmp_path / "many.npy", x)
    np.save(tmp_path / "one.npy", x[0])
    result = CliRunner().invoke(
        app,
        [
            "predict",
            str(exp),
            str(tmp_path / "many.npy"),
            str(tmp_path / "one.npy"),
            "--model",
            model,
            "--json",
            "--backend",
            "numpy",
            "--batch-size",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    want = mocha.predict(net, np.concatenate([x, x[:1]]))
    assert [r["class"] for r in out["predictions"]] == want.classes.tolist()
    assert out["predictions"][1]["input"].endswith("many.npy[1]")
    assert out["predictions"][3]["input"].endswith("one.npy")
    np.testing.assert_allclose(
        [r["probabilities"] for r in out["predictions"]], want.probabilities, rtol=1e-5
    )
    net.shutdown()


def test_png_images_with_scale_and_table(app, setup):
    pil = pytest.importorskip("PIL.Image")
    tmp_path, exp, model, net = setup
    pixels = np.random.default_rng(2).integers(0, 256, (4, 4), dtype=np.uint8)
    pil.fromarray(pixels, mode="L").save(tmp_path / "a.png")
    result = CliRunner().invoke(
        app,
        [
            "predict",
            str(exp),
            str(tmp_path / "a.png"),
            "-m",
            model,
            "--scale",
            str(1 / 256),
            "--backend",
            "numpy",
        ],
    )
    assert result.exit_code == 0, result.output
    want = mocha.predict(net, pixels[None, None].astype(np.float32) / 256)
    assert "predictions (ip)" in result.stdout
    assert f"{want.probabilities[0].max():.4f}" in result.stdout
    pil.fromarray(np.zeros((5, 5), np.uint8), mode="L").save(tmp_path / "big.png")
    result = CliRunner().invoke(
        app, ["predict", str(exp), str(tmp_path / "big.png"), "-m", model, "--backend", "numpy"]
    )
    assert result.exit_code == 2
    assert "big.png: image of 5x5 pixels, L (1 channel); the net expects 4x4" in result.stderr
    net.shutdown()


def test_bad_inputs(app, setup):
    tmp_path, exp, model, net = setup
    (tmp_path / "x.txt").write_text("1 2 3")
    result = CliRunner().invoke(app, ["predict", str(exp), str(tmp_path / "x.txt"), "-m", model])
    assert result.exit_code == 2 and "unknown input type '.txt'" in result.stderr
    np.save(tmp_path / "w.npy", np.zeros((2, 5, 5), np.float32))
    result = CliRunner().invoke(
        app, ["predict", str(exp), str(tmp_path / "w.npy"), "-m", model, "--backend", "numpy"]
    )
    assert result.exit_code == 2
    assert "w.npy: samples of shape (5, 5); the net expects (1, 4, 4)" in result.stderr
    np.save(tmp_path / "ok.npy", np.zeros((1, 4, 4), np.float32))
    result = CliRunner().invoke(
        app,
        [
            "predict",
            str(exp),
            str(tmp_path / "ok.npy"),
            "-m",
            str(tmp_path / "none.h5"),
            "--backend",
            "numpy",
        ],
    )
    assert result.exit_code == 2 and "does not exist" in result.stderr
    net.shutdown()
