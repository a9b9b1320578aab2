"""`mocha data mnist|cifar10`: the commands on a bare typer app (independent of app.py)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import h5py
import pytest
import typer
from typer.testing import CliRunner

from mocha.cli import data_cmd

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"


@pytest.fixture
def data_app():
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    data_cmd.mocha_register_commands(app=app)
    return app


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"no MNIST mirror at {SHARED}")
def test_mnist_from_mirror(data_app, tmp_path):
    result = CliRunner().invoke(
        data_app, ["data", "mnist", "--mirror", str(SHARED), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "mnist ready in" in result.stdout
    assert "train.txt" in result.stdout
    assert "checksum listed by the mirror verified" in result.stderr
    with h5py.File(tmp_path / "train.h5") as f:
        assert f["data"].shape == (6000, 1, 28, 28)


def test_cifar10_tiny_archive(data_app, tmp_path):
    (tmp_path / "m").mkdir()
    members = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    with tarfile.open(tmp_path / "m" / "cifar-10-binary.tar.gz", "w:gz") as tar:
        for member in members:
            raw = bytes([3]) + bytes(range(256)) * 12  # one record: label 3, 3072 pixels
            raw = raw * (4 if member == "test_batch.bin" else 2)
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{member}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    result = CliRunner().invoke(
        data_app,
        [
            "data",
            "cifar10",
            "--mirror",
            str(tmp_path / "m"),
            "--out",
            str(tmp_path / "o"),
            "--keep-mean",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "training mean:" in result.stdout
    with h5py.File(tmp_path / "o" / "test.h5") as f:
        assert f["data"].shape == (4, 3, 32, 32)


def test_bad_mirror_is_a_clean_error(data_app, tmp_path):
    result = CliRunner().invoke(
        data_app,
        ["data", "mnist", "--mirror", str(tmp_path / "none"), "--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 1
    assert "Error:" in result.stderr and "neither an existing folder nor a URL" in result.stderr
    assert "Traceback" not in result.output


def test_help_lists_both(data_app):
    result = CliRunner().invoke(data_app, ["data", "--help"])
    assert result.exit_code == 0
    assert "mnist" in result.stdout and "cifar10" in result.stdout


def test_convert_npy_npz_csv(data_app, tmp_path):
    import numpy as np

    x = np.arange(2 * 3 * 3 * 2, dtype=np.float32).reshape(2, 3, 3, 2)  # NHWC
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.array([1, 0]))
    runner = CliRunner()
    result = runner.invoke(
        data_app,
        [
            "data",
            "convert",
            str(tmp_path / "x.npy"),
            "--labels",
            str(tmp_path / "y.npy"),
            "--layout",
            "NHWC",
            "--scale",
            "0.5",
            "--out",
            str(tmp_path / "a.h5"),
        ],
    )
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "a.h5") as f:
        np.testing.assert_array_equal(f["data"][...], x.transpose(0, 3, 1, 2) * 0.5)
        np.testing.assert_array_equal(f["label"][:, 0], [1, 0])
    assert (tmp_path / "a.txt").read_text() == "a.h5\n"
    np.savez(tmp_path / "b.npz", images=x[..., 0])
    result = runner.invoke(
        data_app,
        [
            "data",
            "convert",
            str(tmp_path / "b.npz"),
            "--data-key",
            "images",
            "--label-key",
            "",
            "--layout",
            "NHW",
            "--out",
            str(tmp_path / "b.h5"),
        ],
    )
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "b.h5") as f:
        assert f["data"].shape == (2, 1, 3, 3) and "label" not in f
    (tmp_path / "c.csv").write_text("a,b,c,d,y\n1,2,3,4,0\n5,6,7,8,1\n")
    result = runner.invoke(
        data_app,
        [
            "data",
            "convert",
            str(tmp_path / "c.csv"),
            "--label-column",
            "-1",
            "--sample-shape",
            "2,2",
            "--layout",
            "HW",
            "--out",
            str(tmp_path / "c.h5"),
        ],
    )
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "c.h5") as f:
        assert f["data"].shape == (2, 1, 2, 2)
        np.testing.assert_array_equal(f["label"][:, 0], [0, 1])
    result = runner.invoke(
        data_app, ["data", "convert", str(tmp_path / "b.npz"), "--out", str(tmp_path / "d.h5")]
    )
    assert (
        result.exit_code == 1 and "no array 'data'; arrays in the archive: images" in result.stderr
    )
