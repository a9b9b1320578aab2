"""`mocha predict` on outputs other than (N, C): (N, C, 1, 1) heads (global pooling) are
reported with their trailing unit axes squeezed; a spatial map is refused with the reason."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import mocha
from mocha import ConvolutionLayer, HDF5DataLayer, Net, PoolingLayer, save_network
from mocha.cli import predict_cmd
from mocha.plugins.backends.numpy_backend import NumpyBackend

EXPERIMENT = """
name = "head"

[backend]
name = "numpy"

[[layers]]
type = "HDF5DataLayer"
source = "{source}"
batch_size = 2

[[layers]]
type = "ConvolutionLayer"
name = "conv"
n_filter = 3
kernel = 1
bottoms = ["data"]
tops = ["conv"]
{pool}
"""

POOL = """
[[layers]]
type = "PoolingLayer"
name = "gap"
global_pooling = true
pooling = "mean"
bottoms = ["conv"]
tops = ["gap"]
"""


@pytest.fixture
def app():
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    predict_cmd.mocha_register_commands(app=app)
    return app


def _setup(tmp_path, pooled):
    x = np.random.default_rng(0).random((4, 2, 3, 3)).astype(np.float32)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["data"] = x
    (tmp_path / "d.txt").write_text("d.h5\n")
    exp = tmp_path / "exp.toml"
    text = EXPERIMENT.format(source=(tmp_path / "d.txt").as_posix(), pool=POOL if pooled else "")
    exp.write_text(text)
    layers = [
        HDF5DataLayer(source=tmp_path / "d.txt", batch_size=2, tops=["data"]),
        ConvolutionLayer(name="conv", n_filter=3, kernel=1, bottoms=["data"], tops=["conv"]),
    ]
    if pooled:
        layers.append(
            PoolingLayer(
                name="gap", global_pooling=True, pooling="mean", bottoms=["conv"], tops=["gap"]
            )
        )
    net = Net("n", NumpyBackend(seed=3), layers)
    net.init()
    model = save_network(str(tmp_path / "model.h5"), net)
    np.save(tmp_path / "x.npy", x[:3])
    return exp, model, net, x[:3]


def _run(app, tmp_path, exp, model):
    args = ["predict", str(exp), str(tmp_path / "x.npy"), "-m", model, "--backend", "numpy"]
    return CliRunner().invoke(app, [*args, "--json"])


def test_a_global_pooling_head_is_reported_as_classes(app, tmp_path):
    exp, model, net, x = _setup(tmp_path, pooled=True)
    result = _run(app, tmp_path, exp, model)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["predictions"]
    want = mocha.predict(net, x)
    assert want.outputs.shape == (3, 3, 1, 1)
    assert [r["class"] for r in rows] == want.classes.ravel().tolist()
    np.testing.assert_allclose(
        [r["probabilities"] for r in rows], want.probabilities.reshape(3, 3), rtol=1e-5
    )
    net.shutdown()


def test_a_spatial_map_is_refused_with_the_reason(app, tmp_path):
    exp, model, net, _ = _setup(tmp_path, pooled=False)
    result = _run(app, tmp_path, exp, model)
    assert result.exit_code == 2
    err = " ".join(result.stderr.split())
    assert "output blob 'conv' has shape (3, 3, 3, 3)" in err
    assert "(3, 3), are not all 1: that is 3 scores at each of 9 positions" in err
    net.shutdown()
