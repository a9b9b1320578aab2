"""A SYNTHETIC stand-in for CIFAR-10 in the official binary format, so the CIFAR-10 example
runs offline: `mocha data cifar10 --synthetic N --out data/cifar10`.

`write_archive(path, n_train, n_test, seed)` writes a tar.gz with the official member names
(`cifar-10-batches-bin/data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin`, each a
sequence of 3073-byte records: a label byte, then 1024 red, 1024 green and 1024 blue bytes)
plus `SYNTHETIC-README.txt` saying what it is. The images are NOT CIFAR-10: each class is a
colour and a stripe direction plus noise, so a network can learn them and accuracies say
nothing about CIFAR-10. The training images are spread over the five batch files (each gets
at least one).
"""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

import numpy as np

from mocha.core.errors import DataError

NOTICE = (
    "SYNTHETIC DATA, NOT CIFAR-10: random images in the CIFAR-10 binary format, written "
    "by `mocha data cifar10 --synthetic`, for trying the pipeline offline. Each class is "
    "a colour and a stripe pattern plus noise; accuracies on it say nothing about "
    "CIFAR-10.\n"
)
MEMBER_DIR = "cifar-10-batches-bin"


def synthetic_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` uint8 images (n, 3, 32, 32) and labels (n,) 0..9, learnable by class."""
    labels = rng.integers(0, 10, n).astype(np.uint8)
    colours = np.random.default_rng(10).integers(40, 216, (10, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    angles = np.arange(10) * np.pi / 10
    stripes = np.stack([np.sin((np.cos(a) * xx + np.sin(a) * yy) * 0.6) for a in angles])
    images = (
        colours[labels][:, :, None, None]
        + 30 * stripes[labels][:, None]
        + rng.normal(0, 20, (n, 3, 32, 32))
    )
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), labels


def _records(images: np.ndarray, labels: np.ndarray) -> bytes:
    flat = images.reshape(len(images), -1)
    return np.concatenate([labels[:, None], flat], axis=1).astype(np.uint8).tobytes()


def write_archive(path: str | Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """Write the synthetic archive (module docstring) to `path`; returns it."""
    if not 5 <= n_train <= 50_000 or not 1 <= n_test <= 10_000:
        raise DataError(
            f"--synthetic: {n_train} training images (5 to 50,000, one batch file "
            f"of at most 10,000 each) and {n_test} test images (1 to 10,000)"
        )
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    members: list[tuple[str, bytes]] = [("SYNTHETIC-README.txt", NOTICE.encode())]
    images, labels = synthetic_images(n_train, rng)
    for i, idx in enumerate(np.array_split(np.arange(n_train), 5), start=1):
        members.append((f"data_batch_{i}.bin", _records(images[idx], labels[idx])))
    members.append(("test_batch.bin", _records(*synthetic_images(n_test, rng))))
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(f"{MEMBER_DIR}/{name}")
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return path
