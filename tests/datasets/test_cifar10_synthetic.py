"""`mocha data cifar10 --synthetic N`: a synthetic archive in the official binary format,
labelled as such, that the CIFAR-10 example can run on offline."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from mocha.core.errors import DataError
from mocha.datasets import cifar10
from mocha.datasets.cifar10_synthetic import NOTICE, write_archive

ROOT = Path(__file__).resolve().parents[2]


def test_archive_is_in_the_official_format(tmp_path):
    path = write_archive(tmp_path / "a.tar.gz", n_train=23, n_test=4, seed=1)
    with tarfile.open(path) as tar:
        names = sorted(m.name for m in tar)
        assert (
            "SYNTHETIC"
            in tar.extractfile("cifar-10-batches-bin/SYNTHETIC-README.txt").read().decode()
        )
        raw = tar.extractfile("cifar-10-batches-bin/data_batch_1.bin").read()
    assert names == sorted(
        f"cifar-10-batches-bin/{n}"
        for n in (*cifar10.TRAIN_MEMBERS, *cifar10.TEST_MEMBERS, "SYNTHETIC-README.txt")
    )
    assert len(raw) % cifar10.RECORD == 0
    images, labels = cifar10.parse_batch(raw, "b1")  # the official reader's own parser
    assert images.shape[1:] == (3, 32, 32) and images.dtype == np.uint8
    assert labels.max() <= 9
    # the record layout: label byte, then R, G, B planes of 1024 bytes
    first = np.frombuffer(raw[: cifar10.RECORD], np.uint8)
    assert first[0] == labels[0]
    np.testing.assert_array_equal(first[1:1025].reshape(32, 32), images[0, 0])
    batches = cifar10.read_archive(path)
    total = sum(len(batches[m]) // cifar10.RECORD for m in cifar10.TRAIN_MEMBERS)
    assert total == 23 and len(batches["test_batch.bin"]) == 4 * cifar10.RECORD


def test_sizes_are_checked(tmp_path):
    with pytest.raises(DataError, match="--synthetic"):
        write_archive(tmp_path / "a.tar.gz", n_train=3, n_test=1)


def test_prepare_synthetic_is_labelled_and_classes_differ(tmp_path):
    logs = []
    paths = cifar10.prepare(tmp_path, synthetic=200, log=logs.append, subtract_mean=False)
    assert paths["synthetic"].read_text() == NOTICE
    assert any("SYNTHETIC" in line for line in logs)
    with h5py.File(paths["train_h5"]) as f:
        data, label = f["data"][()], f["label"][()][:, 0]
    assert data.shape == (200, 3, 32, 32) and label.shape == (200,)
    means = np.array(
        [data[label == c].mean(axis=(0, 2, 3)) for c in range(10) if (label == c).any()]
    )
    assert np.ptp(means, axis=0).max() > 20  # the classes are told apart by colour
    with h5py.File(paths["test_h5"]) as f:
        assert f["data"].shape[0] == 40


def test_cli_and_the_cifar_example_builds_on_it(tmp_path):
    from typer.testing import CliRunner

    from mocha.cli.app import make_app

    app, runner = make_app(), CliRunner()
    out = tmp_path / "data" / "cifar10"
    result = runner.invoke(app, ["data", "cifar10", "--synthetic", "50", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC data, not CIFAR-10" in result.stdout
    assert (out / "SYNTHETIC.txt").exists() and (out / "train.txt").exists()
    text = (ROOT / "examples" / "cifar10" / "cifar10_full.toml").read_text()
    exp = tmp_path / "examples" / "cifar10" / "cifar10_full.toml"
    exp.parent.mkdir(parents=True)
    exp.write_text(text)
    result = runner.invoke(app, ["summary", str(exp), "--json"])
    assert result.exit_code == 0, result.output
    nets = json.loads(result.stdout)
    shapes = [r["top_shapes"] for net in nets.values() for r in net if r["type"] == "HDF5DataLayer"]
    assert shapes and all(s[0].endswith(", 3, 32, 32)") for s in shapes), shapes
    result = runner.invoke(
        app, ["data", "cifar10", "--synthetic", "5", "--mirror", "x", "--out", str(out)]
    )
    assert result.exit_code == 2
