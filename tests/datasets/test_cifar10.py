"""mocha.datasets.cifar10 on a tiny archive in the official binary format."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from mocha import DataError
from mocha.datasets import cifar10
from mocha.datasets.fetch import OfficialFile


def records(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    raw = np.concatenate([labels[:, None], images.reshape(n, -1)], axis=1).tobytes()
    return raw, images, labels


def make_archive(folder: Path, sizes=(3, 2, 2, 1, 2), n_test=4, skip=(), name=None):
    folder.mkdir(parents=True, exist_ok=True)
    made = {"train": [], "test": []}
    path = folder / (name or cifar10.ARCHIVE.name)
    with tarfile.open(path, "w:gz") as tar:
        members = [(f"data_batch_{i + 1}.bin", n, "train") for i, n in enumerate(sizes)]
        members.append(("test_batch.bin", n_test, "test"))
        for i, (member, n, split) in enumerate(members):
            raw, images, labels = records(n, seed=i)
            made[split].append((images, labels))
            if member in skip:
                continue
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{member}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path, {
        k: (np.concatenate([a for a, _ in v]), np.concatenate([b for _, b in v]))
        for k, v in made.items()
    }


def test_convert_tiny_archive(tmp_path):
    _, made = make_archive(tmp_path / "m")
    notes = []
    paths = cifar10.prepare(tmp_path / "o", mirror=tmp_path / "m", log=notes.append)
    assert "no checksum known" in notes[0]
    train_images, train_labels = made["train"]
    mean = train_images.astype(np.float64).mean(0)[None].astype(np.float32)
    with h5py.File(paths["mean"]) as f:
        np.testing.assert_allclose(f["mean"][...], mean, rtol=1e-6)
    for split in ("train", "test"):
        images, labels = made[split]
        with h5py.File(tmp_path / "o" / f"{split}.h5") as f:
            assert f["data"].shape == (len(labels), 3, 32, 32)
            assert f["label"].shape == (len(labels), 1)
            np.testing.assert_allclose(f["data"][...], images.astype(np.float32) - mean, atol=1e-4)
            np.testing.assert_array_equal(f["label"][:, 0], labels)
        assert (tmp_path / "o" / f"{split}.txt").read_text() == f"{split}.h5\n"
    assert train_labels.shape == (10,)


def test_no_mean_subtraction(tmp_path):
    _, made = make_archive(tmp_path / "m")
    cifar10.prepare(tmp_path / "o", mirror=tmp_path / "m", log=lambda s: None, subtract_mean=False)
    with h5py.File(tmp_path / "o" / "test.h5") as f:
        np.testing.assert_array_equal(f["data"][...], made["test"][0].astype(np.float32))


def test_official_checksum_enforced(tmp_path, monkeypatch):
    path, _ = make_archive(tmp_path / "m")
    raw = path.read_bytes()
    good = OfficialFile(path.name, len(raw), md5=hashlib.md5(raw).hexdigest())
    monkeypatch.setattr(cifar10, "ARCHIVE", good)
    notes = []
    cifar10.prepare(tmp_path / "o", mirror=tmp_path / "m", log=notes.append)
    assert "official md5 checksum verified" in notes[0]
    monkeypatch.setattr(cifar10, "ARCHIVE", OfficialFile(path.name, len(raw), md5="f" * 32))
    with pytest.raises(DataError, match="does not match the official"):
        cifar10.prepare(tmp_path / "o", mirror=tmp_path / "m", log=lambda s: None)


def test_corrupt_archive_refused(tmp_path):
    path, _ = make_archive(tmp_path / "m")
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(DataError, match=r"cifar-10-binary\.tar\.gz: corrupt or unreadable"):
        cifar10.prepare(tmp_path / "o", mirror=tmp_path / "m", log=lambda s: None)


def test_missing_member_refused(tmp_path):
    make_archive(tmp_path / "m", skip=("data_batch_3.bin",))
    with pytest.raises(DataError, match=r"the archive lacks data_batch_3\.bin"):
        cifar10.prepare(tmp_path / "o", mirror=tmp_path / "m", log=lambda s: None)


def test_bad_records():
    with pytest.raises(DataError, match=r"x\.bin: 3072 bytes is not a whole number of 3073"):
        cifar10.parse_batch(b"\0" * 3072, "x.bin")
    raw = bytearray(records(2, 0)[0])
    raw[3073] = 11
    with pytest.raises(DataError, match=r"x\.bin: record 1 has label 11"):
        cifar10.parse_batch(bytes(raw), "x.bin")
