"""mocha.datasets.mnist: conversion of the shared MNIST subset, checksum policy, bad files."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest

from mocha import DataError
from mocha.datasets import mnist
from mocha.datasets.fetch import OfficialFile

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no MNIST mirror at {SHARED}")


def idx_images(n, rows=28, cols=28, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (n, rows, cols), dtype=np.uint8)
    return struct.pack(">iiii", 2051, n, rows, cols) + pixels.tobytes(), pixels


def idx_labels(n, seed=0):
    labels = np.random.default_rng(seed).integers(0, 10, n, dtype=np.uint8)
    return struct.pack(">ii", 2049, n) + labels.tobytes(), labels


def fake_mirror(folder: Path, n_train=12, n_test=5, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for split, n in (("train", n_train), ("test", n_test)):
        img, pixels = idx_images(n, seed=n)
        lab, labels = idx_labels(n, seed=n)
        for kind, raw in (("images", img), ("labels", lab)):
            name = mnist.FILES[(split, kind)].name
            if gz:
                (folder / name).write_bytes(gzip.compress(raw))
            else:
                (folder / name[:-3]).write_bytes(raw)
        made[split] = (pixels, labels)
    return made


@needs_shared
def test_prepare_from_shared_mirror(tmp_path):
    notes = []
    paths = mnist.prepare(tmp_path / "out", mirror=SHARED, log=notes.append)
    assert (tmp_path / "out" / "train.txt").read_text().strip() == "train.h5"
    assert (tmp_path / "out" / "test.txt").read_text().strip() == "test.h5"
    with h5py.File(paths["train_h5"]) as f:
        data, label = f["data"], f["label"]
        assert data.shape == (6000, 1, 28, 28) and data.dtype == np.float32
        assert label.shape == (6000, 1) and label.dtype == np.float32
        d = data[...]
        assert d.min() >= 0 and d.max() < 1  # /256 as in Mocha's convert.jl
        assert set(np.unique(label[...]).tolist()) == set(range(10))
        assert data.chunks is None and data.compression is None  # contiguous
    with h5py.File(paths["test_h5"]) as f:
        assert f["data"].shape == (2000, 1, 28, 28)
    # the subset is not the official file: the mirror's SHA256SUMS is what gets verified
    assert (
        sum(
            "SHA256SUMS" not in n and "sha256 checksum listed by the mirror verified" in n
            for n in notes
        )
        == 4
    )


@needs_shared
def test_url_mirror(tmp_path):
    notes = []
    mnist.prepare(tmp_path, mirror=SHARED.as_uri() + "/", log=notes.append)
    assert any("listed by the mirror verified" in n for n in notes)
    with h5py.File(tmp_path / "test.h5") as f:
        assert f["label"].shape == (2000, 1)


def test_values_and_uncompressed_mirror_without_sums(tmp_path):
    made = fake_mirror(tmp_path / "m", gz=False)
    notes = []
    mnist.prepare(tmp_path / "o", mirror=tmp_path / "m", log=notes.append)
    assert sum("no checksum known; structure checked only" in n for n in notes) == 4
    with h5py.File(tmp_path / "o" / "train.h5") as f:
        np.testing.assert_array_equal(f["data"][:, 0], made["train"][0] / np.float32(256))
        np.testing.assert_array_equal(f["label"][:, 0], made["train"][1])
        # how the pixels were scaled travels with the data, for `mocha predict` (issue 28)
        assert dict(f["data"].attrs) == {"pixel_scale": 1 / 256}


def test_official_name_and_size_need_the_official_checksum(tmp_path, monkeypatch):
    fake_mirror(tmp_path / "m")
    name = mnist.FILES[("train", "images")].name
    raw = (tmp_path / "m" / name).read_bytes()
    files = dict(mnist.FILES)
    files[("train", "images")] = OfficialFile(name, len(raw), md5=hashlib.md5(raw).hexdigest())
    monkeypatch.setattr(mnist, "FILES", files)
    notes = []
    mnist.prepare(tmp_path / "o", mirror=tmp_path / "m", log=notes.append)
    assert f"{name}: official md5 checksum verified" in notes
    files[("train", "images")] = OfficialFile(name, len(raw), md5="0" * 32)
    with pytest.raises(
        DataError,
        match=rf"{name}: md5 checksum .* does not match the official "
        r"0{32}.*refusing it",
    ):
        mnist.prepare(tmp_path / "o2", mirror=tmp_path / "m", log=notes.append)


@needs_shared
def test_mirror_checksum_mismatch_refused(tmp_path):
    mirror = tmp_path / "m"
    shutil.copytree(SHARED, mirror)
    sums = (mirror / "SHA256SUMS").read_text().replace("1067701e", "deadbeef")
    (mirror / "SHA256SUMS").chmod(0o644)
    (mirror / "SHA256SUMS").write_text(sums)
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte\.gz: sha256 checksum 1067701e"
        r".* does not match deadbeef.* listed by the mirror",
    ):
        mnist.prepare(tmp_path / "o", mirror=mirror, log=lambda s: None)


def test_corrupt_gzip_refused(tmp_path):
    fake_mirror(tmp_path / "m")
    p = tmp_path / "m" / "train-labels-idx1-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-12])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: corrupt gzip archive"):
        mnist.prepare(tmp_path / "o", mirror=tmp_path / "m", log=lambda s: None)


def test_bad_magic_truncated_and_count_mismatch(tmp_path):
    fake_mirror(tmp_path / "m", gz=False)
    images = tmp_path / "m" / "train-images-idx3-ubyte"
    good = images.read_bytes()
    images.write_bytes(struct.pack(">i", 2049) + good[4:])
    with pytest.raises(DataError, match=r"magic number 2049, expected 2051"):
        mnist.prepare(tmp_path / "o", mirror=tmp_path / "m", log=lambda s: None)
    images.write_bytes(good[:-5])
    with pytest.raises(DataError, match=r"header says 12 images of 28x28 .* truncated"):
        mnist.prepare(tmp_path / "o", mirror=tmp_path / "m", log=lambda s: None)
    images.write_bytes(idx_images(11)[0])
    with pytest.raises(DataError, match=r"MNIST train: 11 images but 12 labels"):
        mnist.prepare(tmp_path / "o", mirror=tmp_path / "m", log=lambda s: None)


def test_label_out_of_range(tmp_path):
    fake_mirror(tmp_path / "m", gz=False)
    (tmp_path / "m" / "t10k-labels-idx1-ubyte").write_bytes(
        struct.pack(">ii", 2049, 5) + bytes([0, 1, 12, 3, 4])
    )
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: label 12 is not a digit"):
        mnist.prepare(tmp_path / "o", mirror=tmp_path / "m", log=lambda s: None)


def test_missing_mirror_and_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"mirror '.*nope' is neither an existing folder nor a URL"):
        mnist.prepare(tmp_path / "o", mirror=tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        DataError,
        match=r"holds neither 'train-images-idx3-ubyte\.gz' nor "
        r"'train-images-idx3-ubyte'",
    ):
        mnist.prepare(tmp_path / "o", mirror=tmp_path / "empty")


def test_default_sources_in_order_skip_wrong_files_and_cache(tmp_path, monkeypatch):
    fake_mirror(tmp_path / "good")
    fake_mirror(tmp_path / "bad", n_train=3, n_test=2)  # other sizes: like an error page
    files = {}
    for key, official in mnist.FILES.items():
        raw = (tmp_path / "good" / official.name).read_bytes()
        files[key] = OfficialFile(official.name, len(raw), md5=hashlib.md5(raw).hexdigest())
    monkeypatch.setattr(mnist, "FILES", files)
    monkeypatch.setattr(
        mnist,
        "URLS",
        (
            (tmp_path / "missing").as_uri(),
            (tmp_path / "bad").as_uri(),
            (tmp_path / "good").as_uri(),
        ),
    )
    notes = []
    mnist.prepare(tmp_path / "o", log=notes.append)
    assert sum("official md5 checksum verified" in n for n in notes) == 4
    assert sorted(p.name for p in (tmp_path / "o" / "raw").iterdir()) == sorted(
        f.name for f in files.values()
    )
    monkeypatch.setattr(mnist, "URLS", ())  # no source: the verified raw files are reused
    mnist.prepare(tmp_path / "o", log=notes.append)
    monkeypatch.setattr(mnist, "URLS", ((tmp_path / "bad").as_uri(),))
    with pytest.raises(
        DataError,
        match=r"could not download 'train-images-idx3-ubyte\.gz'; "
        r"tried:\n.*got \d+ bytes, the official file has",
    ):
        mnist.prepare(tmp_path / "o2", log=notes.append)


@pytest.mark.parametrize("gz", [True, False])
def test_load_arrays_reads_idx_files_into_memory(tmp_path, gz):
    made = fake_mirror(tmp_path, n_train=7, n_test=3, gz=gz)
    x, y = mnist.load_arrays(tmp_path, "train")
    pixels, labels = made["train"]
    assert x.shape == (7, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 0], pixels.astype(np.float32) / 256)
    np.testing.assert_array_equal(y[:, 0], labels)
    x, y = mnist.load_arrays(tmp_path, "t10k", limit=2)
    assert x.shape == (2, 1, 28, 28) and y.shape == (2, 1)


def test_load_arrays_names_the_missing_file(tmp_path):
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        mnist.load_arrays(tmp_path, "train")
