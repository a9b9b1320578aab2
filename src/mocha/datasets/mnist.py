"""MNIST: fetch the official IDX files, verify them, convert them to Mocha's HDF5 layout.

`prepare(out_dir, mirror=None)` writes `train.h5` and `test.h5` (datasets `data`, float32
`(N, 1, 28, 28)`, grey levels divided by 256 into [0, 1) exactly as Mocha's
`examples/mnist/convert.jl`; `label`, float32 `(N, 1)`, digits 0-9) and the list files
`train.txt` and `test.txt`, in the order of the original files.

`mirror` is a folder holding the official file names (gzip-compressed or not) or a URL
prefix. Files with the official name and size must match the official MD5; other files (e.g.
a subset of MNIST in the official format) are checked against the mirror's `SHA256SUMS` if
it has one, and always structurally (IDX magic numbers, sizes, label range).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mocha.core.errors import DataError
from mocha.datasets.convert import pixel_attrs, write_hdf5, write_list
from mocha.datasets.fetch import OfficialFile, Progress, fetch_file, no_progress, read_maybe_gzip
from mocha.datasets.fetch import verify as verify_file

URLS = (
    "https://yann.lecun.com/exdb/mnist/",  # the official site, then a copy of its files
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
FILES = {
    ("train", "images"): OfficialFile(
        "train-images-idx3-ubyte.gz", 9912422, md5="f68b3c2dcbeaaa9fbdd348bbdeb94873"
    ),
    ("train", "labels"): OfficialFile(
        "train-labels-idx1-ubyte.gz", 28881, md5="d53e105ee54ea40749a09fcbcd1e9432"
    ),
    ("test", "images"): OfficialFile(
        "t10k-images-idx3-ubyte.gz", 1648877, md5="9fb629c4189551a2d022fa330f9573f3"
    ),
    ("test", "labels"): OfficialFile(
        "t10k-labels-idx1-ubyte.gz", 4542, md5="ec29112dd5afa0611ce80d1b7f02629c"
    ),
}
SCALE = 1.0 / 256  # Mocha's convert.jl: "scale into [0,1)"
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


def parse_images(raw: bytes, name: str) -> np.ndarray:
    """An IDX3 image file as a uint8 array `(N, rows, cols)`; structural errors raise."""
    if len(raw) < 16:
        raise DataError(f"{name}: {len(raw)} bytes is too short for an IDX image file")
    magic, n, rows, cols = struct.unpack(">iiii", raw[:16])
    if magic != IMAGE_MAGIC:
        raise DataError(
            f"{name}: magic number {magic}, expected {IMAGE_MAGIC} (IDX images); "
            f"not an MNIST image file"
        )
    want = 16 + n * rows * cols
    if len(raw) != want:
        raise DataError(
            f"{name}: header says {n} images of {rows}x{cols} ({want} bytes), the "
            f"file holds {len(raw)} bytes; truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def parse_labels(raw: bytes, name: str) -> np.ndarray:
    """An IDX1 label file as a uint8 array `(N,)`; structural errors raise."""
    if len(raw) < 8:
        raise DataError(f"{name}: {len(raw)} bytes is too short for an IDX label file")
    magic, n = struct.unpack(">ii", raw[:8])
    if magic != LABEL_MAGIC:
        raise DataError(
            f"{name}: magic number {magic}, expected {LABEL_MAGIC} (IDX labels); "
            f"not an MNIST label file"
        )
    if len(raw) != 8 + n:
        raise DataError(
            f"{name}: header says {n} labels ({8 + n} bytes), the file holds "
            f"{len(raw)} bytes; truncated or corrupt"
        )
    labels = np.frombuffer(raw, dtype=np.uint8, offset=8)
    if labels.size and labels.max() > 9:
        raise DataError(f"{name}: label {int(labels.max())} is not a digit 0-9")
    return labels


def load_arrays(
    folder: str | os.PathLike, split: str = "train", limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read MNIST IDX files (official names, gzip-compressed or not) from `folder` straight
    into memory: `(data (N, 1, 28, 28) float32 in [0, 1), labels (N, 1) float32)`, scaled as
    `prepare` does. `split` is "train" or "test" (or "t10k"); `limit` keeps the first N."""
    split = "test" if split == "t10k" else split
    arrays = []
    for kind, parse in (("images", parse_images), ("labels", parse_labels)):
        name = FILES[(split, kind)].name
        candidates = [Path(folder) / name, Path(folder) / name.removesuffix(".gz")]
        path = next((c for c in candidates if c.exists()), None)
        if path is None:
            raise DataError(
                f"MNIST {split} {kind}: neither {candidates[0]} nor {candidates[1]} exists"
            )
        arrays.append(parse(read_maybe_gzip(path), str(path))[:limit])
    images, labels = arrays
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"MNIST {split} in {folder}: {images.shape[0]} images but {labels.shape[0]} labels"
        )
    data = images[:, None].astype(np.float32) * np.float32(SCALE)
    return data, labels.astype(np.float32)[:, None]


def prepare(
    out_dir: str | os.PathLike,
    mirror: str | os.PathLike | None = None,
    progress: Progress = no_progress,
    log: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Fetch, verify and convert MNIST into `out_dir`; returns the paths written
    (`train`, `test`: list files; `train_h5`, `test_h5`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    raw_dir = out / "raw"
    written: dict[str, Path] = {}
    for split in ("train", "test"):
        parsed = {}
        for kind in ("images", "labels"):
            official = FILES[(split, kind)]
            found = fetch_file(official, raw_dir, mirror, URLS, progress)
            log(verify_file(found, official))
            raw = read_maybe_gzip(found.path)
            parse = parse_images if kind == "images" else parse_labels
            parsed[kind] = parse(raw, str(found.path))
        images, labels = parsed["images"], parsed["labels"]
        if images.shape[0] != labels.shape[0]:
            raise DataError(f"MNIST {split}: {images.shape[0]} images but {labels.shape[0]} labels")
        data = images[:, None].astype(np.float32) * np.float32(SCALE)
        h5 = write_hdf5(
            out / f"{split}.h5",
            {"data": data, "label": labels.astype(np.float32)[:, None]},
            progress=progress,
            attrs={"data": pixel_attrs(SCALE)},  # for `mocha predict` on images
        )
        written[split] = write_list(out / f"{split}.txt", [h5])
        written[f"{split}_h5"] = h5
        log(f"{split}: {images.shape[0]} digits -> {h5}")
    return written
