"""CIFAR-10: fetch the official binary archive, verify it, convert it to Mocha's HDF5 layout.

The archive `cifar-10-binary.tar.gz` holds `data_batch_1.bin` ... `data_batch_5.bin` and
`test_batch.bin`, each a sequence of 3073-byte records: one label byte (0-9), then 1024 red,
1024 green and 1024 blue bytes of a 32x32 image in row-major order, i.e. already (C, H, W).

`prepare(out_dir, mirror=None)` writes `train.h5` (50,000 samples with the official archive)
and `test.h5` (datasets `data`, float32 `(N, 3, 32, 32)` with grey levels 0-255, and `label`,
float32 `(N, 1)`), list files `train.txt` and `test.txt`, and `mean.h5` (dataset `mean`,
`(1, 3, 32, 32)`, the per-pixel mean of the training images, usable with
`DataTransformers.SubMean(mean_file=...)`). As in Mocha's CIFAR-10 example (`convert.jl`),
the training mean is subtracted from both sets unless `subtract_mean=False`; the data is not
scaled (Mocha's example notes that dividing by 256 stops this network from learning).
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mocha.core.errors import DataError
from mocha.datasets.convert import pixel_attrs, write_hdf5, write_list
from mocha.datasets.fetch import OfficialFile, Progress, fetch_file, no_progress
from mocha.datasets.fetch import verify as verify_file

URLS = ("https://www.cs.toronto.edu/~kriz/",)
ARCHIVE = OfficialFile("cifar-10-binary.tar.gz", 170052171, md5="c32a1d4ab5d03f1284b67883e8d87530")
TRAIN_MEMBERS = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_MEMBERS = ("test_batch.bin",)
RECORD = 1 + 3 * 32 * 32
BATCH_RECORDS = 10_000  # images per batch file in the official archive


def parse_batch(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch file as (uint8 images `(N, 3, 32, 32)`, uint8 labels `(N,)`)."""
    if len(raw) == 0 or len(raw) % RECORD:
        raise DataError(
            f"{name}: {len(raw)} bytes is not a whole number of {RECORD}-byte "
            f"CIFAR-10 records; truncated or not a CIFAR-10 batch"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD)
    labels = records[:, 0]
    if labels.max() > 9:
        bad = int(np.flatnonzero(labels > 9)[0])
        raise DataError(f"{name}: record {bad} has label {int(labels[bad])}, not a class 0-9")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def check_member_size(path: Path, name: str, size: int) -> None:
    """`DataError` unless `size` bytes can be a CIFAR-10 batch file."""
    if size <= 0 or size % RECORD or size > BATCH_RECORDS * RECORD:
        raise DataError(
            f"{path}: member {name!r} claims {size:,} bytes; a CIFAR-10 batch file holds at "
            f"most {BATCH_RECORDS:,} records of {RECORD} bytes ({BATCH_RECORDS * RECORD:,} "
            f"bytes); refusing the archive (damaged or not CIFAR-10)"
        )


def read_archive(path: Path) -> dict[str, bytes]:
    """The batch files of a CIFAR-10 binary archive (tar, gzip-compressed or not). Each
    member's size, as the tar header claims it, is checked against the format (a whole
    number of records, at most one batch of 10,000) *before* it is read, so a forged header
    cannot make this allocate gigabytes."""
    wanted = set(TRAIN_MEMBERS + TEST_MEMBERS)
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                base = os.path.basename(member.name)
                if member.isfile() and base in wanted:
                    check_member_size(path, member.name, member.size)
                    fh = tar.extractfile(member)
                    if fh is not None:
                        found[base] = fh.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{path}: corrupt or unreadable archive ({exc}); refusing it") from None
    missing = sorted(wanted - set(found))
    if missing:
        raise DataError(
            f"{path}: the archive lacks {', '.join(missing)}; not the CIFAR-10 binary version?"
        )
    return found


def prepare(
    out_dir: str | os.PathLike,
    mirror: str | os.PathLike | None = None,
    progress: Progress = no_progress,
    log: Callable[[str], None] = print,
    subtract_mean: bool = True,
    synthetic: int = 0,
) -> dict[str, Path]:
    """Fetch, verify and convert CIFAR-10 into `out_dir`; returns the paths written
    (`train`, `test`: list files; `train_h5`, `test_h5`, `mean`). With `synthetic=N`, no
    download: a SYNTHETIC archive of N training and N // 5 test images in the official
    format (`mocha.datasets.cifar10_synthetic`) is written and converted instead, and
    `SYNTHETIC.txt` in `out_dir` says so (key `synthetic` of the result)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if synthetic:
        from mocha.datasets import cifar10_synthetic as fake

        archive = fake.write_archive(
            out / "raw" / "cifar-10-synthetic.tar.gz", synthetic, max(1, synthetic // 5)
        )
        log(f"SYNTHETIC data, not CIFAR-10: wrote {archive}")
        source = archive
    else:
        found = fetch_file(ARCHIVE, out / "raw", mirror, URLS, progress)
        log(verify_file(found, ARCHIVE))
        source = found.path
    batches = read_archive(source)
    splits = {}
    for split, members in (("train", TRAIN_MEMBERS), ("test", TEST_MEMBERS)):
        parts = [parse_batch(batches[m], f"{source}:{m}") for m in members]
        splits[split] = (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
        )
    mean = splits["train"][0].mean(axis=0, dtype=np.float64)[None].astype(np.float32)
    written: dict[str, Path] = {"mean": write_hdf5(out / "mean.h5", {"mean": mean})}
    notice = out / "SYNTHETIC.txt"
    if synthetic:
        from mocha.datasets.cifar10_synthetic import NOTICE

        notice.write_text(NOTICE, encoding="utf-8")
        written["synthetic"] = notice
    elif notice.exists():  # real data replaces an earlier synthetic set
        notice.unlink()
    for split, (images, labels) in splits.items():
        data = images.astype(np.float32)
        if subtract_mean:
            data -= mean
        h5 = write_hdf5(
            out / f"{split}.h5",
            {"data": data, "label": labels.astype(np.float32)[:, None]},
            progress=progress,
            attrs={"data": pixel_attrs(1.0, "mean.h5" if subtract_mean else None)},
        )
        written[split] = write_list(out / f"{split}.txt", [h5])
        written[f"{split}_h5"] = h5
        log(f"{split}: {images.shape[0]} images -> {h5}")
    return written
