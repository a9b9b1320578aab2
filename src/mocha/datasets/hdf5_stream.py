"""Mini-batches from a list of HDF5 files: the engine behind the HDF5 data layers.

`read_source_list` resolves a source list file; `scan_files` validates every listed file once
(datasets present, numeric, same length within a file, same per-sample shape across files);
`BatchStream` produces host batches with the exact rules of semantics §3.1:

* without shuffle, files in list order and samples sequentially; a batch may span files;
* with shuffle, the file order is permuted once (at construction); every time a file is
  (re)opened a new permutation of its sample indices is drawn;
* batches wrap around continuously (never a short batch); `epoch` is incremented as soon as the
  last sample of the last file in the order has been consumed, possibly mid-batch.

All randomness comes from one private generator seeded from the backend's RNG at setup, so the
synchronous and the asynchronous layer, given the same seed, produce identical batches even
while other layers draw from the backend RNG on the main thread. `cursor()` / `set_cursor()`
save and restore the position (JSON-able) for snapshots.

Reading is done in chunks of `chunk_size` samples (in permuted order when shuffling). A chunk's
sorted index set is read as one contiguous slab when it is dense, else by sorted point
selection, and reordered in memory. Non-finite values, and labels that are not class indices,
are refused when a chunk is read (`mocha.datasets.values`), naming the file and the row; so
is a file that changed (truncated, rewritten, replaced) since it was checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from mocha.core.errors import DataError, MochaError
from mocha.datasets.values import check_values

# Read a chunk's covering slab instead of a point selection when the slab is at most this
# many times larger than the chunk (or small in absolute terms).
_SLAB_DENSITY = 4
_SLAB_SMALL_BYTES = 8 << 20
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# What h5py raises for a damaged file: a corrupt (compressed) chunk, a truncated file, a
# dangling soft or external link.
H5_FAULTS = (OSError, KeyError, RuntimeError, ValueError)


def _get_dataset(fh: Any, top: str, path: str, who: str) -> Any:
    """`fh[top]` as a dataset, or `None` when absent; a link that cannot be resolved is a
    `DataError`."""
    if top not in fh:  # False for a dangling soft link, True for a dangling external one
        link = fh.get(top, getlink=True)
        if link is None:
            return None
    try:
        obj = fh[top]
    except H5_FAULTS as exc:
        link = fh.get(top, getlink=True)
        target = ""
        if isinstance(link, h5py.ExternalLink):
            target = f" (external link to {link.filename!r}:{link.path!r})"
        elif isinstance(link, h5py.SoftLink):
            target = f" (soft link to {link.path!r})"
        raise DataError(
            f"{who}: dataset {top!r} in {path!r} is a link that cannot be resolved{target}: {exc}"
        ) from None
    return obj if isinstance(obj, h5py.Dataset) else None


def _datasets_in(fh: Any) -> str:
    names = []
    for key in fh:
        try:
            if isinstance(fh[key], h5py.Dataset):
                names.append(key)
        except H5_FAULTS:
            names.append(f"{key} (broken link)")
    return ", ".join(names) or "(none)"


def prepare_hint(source: str) -> str:
    """Which `mocha data` command writes a missing list file: the data set whose name is in
    its path (`data/mnist/train.txt`: `mocha data mnist --out data/mnist`), else the list of
    data sets and `mocha data convert`."""
    from mocha.core.registry import get_registry

    try:
        names = get_registry().names("datasets")
    except MochaError:
        names = []
    folder = os.path.dirname(os.path.abspath(source))
    inside = os.path.relpath(folder)
    folder = folder if inside.startswith("..") else inside
    parts = [part.lower() for part in os.path.normpath(os.path.abspath(source)).split(os.sep)]
    for name in sorted(names, key=len, reverse=True):
        if name.lower() in parts[-3:-1]:  # the list file's folder or the one above it
            return f"`mocha data {name} --out {folder}` writes it (see docs/data.md)"
    known = f" ({', '.join(names)})" if names else ""
    return (
        f"`mocha data NAME --out {folder}` writes a data set's list files{known}, and "
        f"`mocha data convert` your own arrays (see docs/data.md)"
    )


def read_source_list(source: str | os.PathLike, who: str) -> list[str]:
    """The HDF5 paths listed in `source`, one a line; blank lines are skipped and whitespace
    stripped. A relative path is resolved against the list file's folder, or, when no file is
    there but one is in the working folder, against the working folder (Mocha.jl's and
    Caffe's list files name their files from where the job runs: `data/train.txt` holding
    `data/train.hdf5`)."""
    source = os.fspath(source)
    if not os.path.isfile(source):
        raise DataError(
            f"{who}: source list file {source!r} does not exist; {prepare_hint(source)}"
        )
    base = os.path.dirname(os.path.abspath(source))
    paths = []
    try:
        with open(source, "rb") as fb:
            head = fb.read(8)
        if head == HDF5_SIGNATURE:
            raise DataError(
                f"{who}: source {source!r} is an HDF5 file; `source` names a text "
                f"file listing HDF5 files, one a line (write {source!r} into a "
                f"list file and give that)"
            )
        with open(source, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{who}: source list file {source!r} is not a UTF-8 text file "
            f"({exc.reason} at byte {exc.start}); it must list HDF5 files, one a "
            f"line"
        ) from None
    except OSError as exc:
        raise DataError(f"{who}: cannot read source list file {source!r}: {exc}") from None
    if "\0" in text:
        raise DataError(
            f"{who}: source list file {source!r} is binary, not a text file "
            f"listing HDF5 files one a line"
        )
    for line in text.splitlines():
        entry = line.strip()
        if entry:
            entry = os.path.expanduser(entry)
            path = os.path.normpath(os.path.join(base, entry))
            if not os.path.exists(path) and os.path.isfile(entry):
                path = os.path.abspath(entry)  # relative to the working folder
            paths.append(path)
    if not paths:
        raise DataError(f"{who}: source list file {source!r} lists no HDF5 file")
    return paths


def file_stamp(path: str) -> tuple[int, int, int]:
    """(inode, size, modification time in ns): what tells a file changed or replaced."""
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _change(before: Any, now: Any) -> str:
    if now is None:
        return "it is gone"
    if before[0] != now[0]:
        return "it was replaced by another file"
    if now[1] != before[1]:
        return f"its size went from {before[1]} to {now[1]} bytes"
    return "it was rewritten"


@dataclass(frozen=True)
class FileInfo:
    """One validated HDF5 file: its path, sample count and `file_stamp` when checked."""

    path: str
    n: int
    stamp: tuple[int, int, int] | None = None


def _dataset_shape(ds: Any) -> tuple[int, ...]:
    """The shape a dataset is served as: rank-1 datasets (Caffe labels `(N,)`) become `(N, 1)`."""
    return tuple(ds.shape) if ds.ndim != 1 else (ds.shape[0], 1)


def scan_files(
    paths: list[str], tops: tuple[str, ...], who: str, source: str = ""
) -> tuple[list[FileInfo], list[tuple[int, ...]]]:
    """Validate every file; return their infos and the per-sample shape of each top."""
    infos: list[FileInfo] = []
    sample_shapes: list[tuple[int, ...]] = []
    listed = f" (listed in {source!r})" if source else ""
    for path in paths:
        if not os.path.isfile(path):
            hint = f"; {prepare_hint(source)}" if source else ""
            raise DataError(f"{who}: HDF5 file {path!r}{listed} does not exist{hint}")
        try:
            fh = h5py.File(path, "r")
        except OSError as exc:
            raise DataError(f"{who}: cannot open {path!r}{listed} as HDF5: {exc}") from None
        try:
            with fh:
                n = _scan_file(fh, path, tops, who, infos, sample_shapes)
        except H5_FAULTS as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(
                f"{who}: cannot read {path!r}{listed} (the file is damaged?): "
                f"{type(exc).__name__}: {exc}"
            ) from None
        infos.append(FileInfo(path, n, file_stamp(path)))
    return infos, sample_shapes


def _scan_file(
    fh: Any,
    path: str,
    tops: tuple[str, ...],
    who: str,
    infos: list[FileInfo],
    sample_shapes: list[tuple[int, ...]],
) -> int:
    """Check one open file against `tops` (and the shapes of the files before it); its
    sample count."""
    lengths = []
    for j, top in enumerate(tops):
        ds = _get_dataset(fh, top, path, who)
        if ds is None:
            raise DataError(
                f"{who}: HDF5 file {path!r} has no dataset {top!r} (one per top); "
                f"datasets in the file: {_datasets_in(fh)}"
            )
        if ds.dtype.kind not in "biuf":
            raise DataError(
                f"{who}: dataset {top!r} in {path!r} has dtype {ds.dtype}, not a numeric "
                f"(integer or floating point) type"
            )
        if ds.ndim == 0:
            raise DataError(
                f"{who}: dataset {top!r} in {path!r} is a scalar (rank 0); samples must "
                f"lie on axis 0 of an array of rank >= 1"
            )
        shape = _dataset_shape(ds)
        if not infos and len(sample_shapes) == j:
            sample_shapes.append(shape[1:])
        elif shape[1:] != sample_shapes[j]:
            first = infos[0].path if infos else path
            raise DataError(
                f"{who}: dataset {top!r} in {path!r} has shape {tuple(ds.shape)} (rank "
                f"{ds.ndim}); samples of shape {shape[1:]} do not match the shape "
                f"{sample_shapes[j]} found in {first!r}"
            )
        lengths.append(shape[0])
    if len(set(lengths)) != 1:
        desc = ", ".join(f"{t!r}: {n}" for t, n in zip(tops, lengths))
        raise DataError(f"{who}: datasets in {path!r} have different numbers of samples ({desc})")
    if lengths[0] == 0:
        raise DataError(f"{who}: datasets in {path!r} hold no samples")
    return lengths[0]


def _read_rows(ds: Any, rows: np.ndarray, sample_bytes: int) -> np.ndarray:
    """Rows `rows` (any order, unique) of `ds`, in that order."""
    if rows.size == 0:
        return np.empty((0,) + tuple(ds.shape[1:]), dtype=ds.dtype)
    lo, hi = int(rows.min()), int(rows.max()) + 1
    if hi - lo == rows.size and bool(np.all(np.diff(rows) == 1)):  # an ascending run
        return ds[lo:hi]
    if hi - lo <= _SLAB_DENSITY * rows.size or (hi - lo) * sample_bytes <= _SLAB_SMALL_BYTES:
        return ds[lo:hi][rows - lo]
    order = np.argsort(rows, kind="stable")
    out = np.empty((rows.size,) + tuple(ds.shape[1:]), dtype=ds.dtype)
    out[order] = ds[rows[order]]
    return out


class Batch(list):
    """A mini-batch (one host array per top) with, for each run of rows, the file and the
    samples they came from: `source_of(row)`."""

    def __init__(self, arrays: Any = ()) -> None:
        super().__init__(arrays)
        self.rows: list[tuple[int, int, str, Any]] = []  # (first row, count, file, samples)

    def source_of(self, row: int) -> str:
        """Where row `row` of the batch came from: "sample S of 'file'"."""
        for first, count, path, samples in self.rows:
            if first <= row < first + count:
                k = row - first
                sample = samples.start + k if isinstance(samples, slice) else int(samples[k])
                return f"sample {sample} of {path!r}"
        return f"row {row} of the batch"


class BatchStream:
    """Host mini-batches over validated HDF5 files (see the module docstring)."""

    def __init__(
        self,
        files: list[FileInfo],
        tops: tuple[str, ...],
        sample_shapes: list[tuple[int, ...]],
        batch_size: int,
        shuffle: bool,
        seed: int,
        chunk_size: int,
        dtype: Any,
        who: str,
    ) -> None:
        self.files, self.tops, self.who = files, tops, who
        self.sample_shapes = sample_shapes
        self.batch_size, self.shuffle = int(batch_size), bool(shuffle)
        self.chunk_size = max(1, int(chunk_size))
        self.dtype = np.dtype(dtype)
        self.rng = np.random.Generator(np.random.PCG64(int(seed)))
        self.order = (
            self.rng.permutation(len(files)) if self.shuffle else np.arange(len(files))
        ).astype(np.int64)
        self.epoch = 0
        self._fh: Any = None
        self._open(0, pos=0)

    # -- files and chunks ----------------------------------------------------------------
    def _open(self, k: int, pos: int, perm_rng_state: dict | None = None) -> None:
        """Make file `order[k]` current at position `pos`, drawing its permutation."""
        self.close()
        self.k = k
        info = self.files[int(self.order[k])]
        self.info = info
        if self.shuffle:
            if perm_rng_state is not None:
                self.rng.bit_generator.state = perm_rng_state
            self.perm_rng_state = self.rng.bit_generator.state
            self.perm = self.rng.permutation(info.n)
        else:
            self.perm_rng_state = None
            self.perm = None
        try:
            self._fh = h5py.File(info.path, "r")
        except OSError as exc:
            raise DataError(f"{self.who}: cannot open {info.path!r} as HDF5: {exc}") from None
        self._dsets = [_get_dataset(self._fh, t, info.path, self.who) for t in self.tops]
        if any(ds is None for ds in self._dsets):
            raise DataError(
                f"{self.who}: {info.path!r} changed since it was checked: "
                f"datasets in it now: {_datasets_in(self._fh)}"
            )
        self.pos = pos
        self._chunk: list[np.ndarray] | None = None
        self._chunk_start = 0

    def _load_chunk(self) -> None:
        """Read the chunk that holds position `pos` of the current file."""
        c = self.chunk_size
        start = (self.pos // c) * c
        stop = min(start + c, self.info.n)
        chunk = []
        for top, ds in zip(self.tops, self._dsets):
            try:
                if self.perm is None:
                    block = ds[start:stop]
                else:
                    rows = self.perm[start:stop]
                    sample_bytes = ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64))
                    block = _read_rows(ds, rows, sample_bytes)
            except H5_FAULTS as exc:
                raise DataError(
                    f"{self.who}: cannot read samples {start}..{stop - 1} of dataset {top!r} in "
                    f"{self.info.path!r} (the file is damaged?): {type(exc).__name__}: {exc}"
                ) from None
            block = block.reshape((stop - start,) + self.sample_shapes[self.tops.index(top)])
            rows = np.arange(start, stop) if self.perm is None else self.perm[start:stop]
            check_values(block, top, f"{self.who}: dataset {top!r} in {self.info.path!r}", rows)
            chunk.append(block)
        self._chunk, self._chunk_start = chunk, start

    def _check_unchanged(self) -> None:
        """`DataError` naming the file when it is no longer the file `scan_files` checked
        (truncated, rewritten or replaced while the run reads it)."""
        if self.info.stamp is None:  # a FileInfo made without `scan_files`
            return
        try:
            now = file_stamp(self.info.path)
        except OSError:
            now = None
        if now != self.info.stamp:
            raise DataError(
                f"{self.who}: data file {self.info.path!r} changed while the run was reading "
                f"it ({_change(self.info.stamp, now)}); a file under a running job must not "
                f"change: restore it (and resume from the last snapshot) or start over"
            )

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    # -- batches -------------------------------------------------------------------------
    def next_batch(self) -> list[np.ndarray]:
        """The next mini-batch, one host array per top (fresh arrays of `dtype`), as a `Batch`
        that knows the file and sample of each row (`source_of`)."""
        bs = self.batch_size
        out = Batch(np.empty((bs,) + s, dtype=self.dtype) for s in self.sample_shapes)
        filled = 0
        while filled < bs:
            if self.pos >= self.info.n:
                self._open((self.k + 1) % len(self.order), pos=0)
            if (
                self._chunk is None
                or self.pos < self._chunk_start
                or self.pos >= self._chunk_start + self._chunk[0].shape[0]
            ):
                self._load_chunk()
            offset = self.pos - self._chunk_start
            take = min(bs - filled, self._chunk[0].shape[0] - offset)
            for dst, src in zip(out, self._chunk):
                dst[filled : filled + take] = src[offset : offset + take]
            samples = slice(self.pos, self.pos + take) if self.perm is None else None
            out.rows.append((filled, take, self.info.path, samples or self.perm[self.pos :]))
            filled += take
            self.pos += take
            if self.pos >= self.info.n and self.k == len(self.order) - 1:
                self.epoch += 1
        self._check_unchanged()  # a file truncated or replaced under the run: no zeros fed
        return out

    # -- snapshots -----------------------------------------------------------------------
    def cursor(self) -> dict[str, Any]:
        """The position as a JSON-able dict (file order, file, sample, epoch, RNG state)."""
        return {
            "epoch": int(self.epoch),
            "file": int(self.k),
            "pos": int(self.pos),
            "order": [int(i) for i in self.order],
            "perm_rng_state": _jsonable(self.perm_rng_state),
        }

    def set_cursor(self, data: dict[str, Any]) -> None:
        """Restore a position saved by `cursor()` (from a stream over the same files)."""
        try:
            self._set_cursor(data)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(
                f"{self.who}: invalid saved cursor {data!r}: {type(exc).__name__}: {exc}"
            ) from None

    def _set_cursor(self, data: dict[str, Any]) -> None:
        order = [int(i) for i in data["order"]]
        if sorted(order) != list(range(len(self.files))):
            raise DataError(
                f"{self.who}: saved cursor lists file order {order}, but the source has "
                f"{len(self.files)} files"
            )
        k, pos = int(data["file"]), int(data["pos"])
        self.order = np.asarray(order, dtype=np.int64)
        n = self.files[int(self.order[k])].n
        if not 0 <= pos <= n:
            raise DataError(
                f"{self.who}: saved cursor position {pos} is outside file "
                f"{self.files[int(self.order[k])].path!r} ({n} samples)"
            )
        self._open(k, pos=pos, perm_rng_state=data.get("perm_rng_state"))
        self.epoch = int(data["epoch"])


def _jsonable(state: Any) -> Any:
    if state is None:
        return None
    if isinstance(state, dict):
        return {k: _jsonable(v) for k, v in state.items()}
    if isinstance(state, np.integer):
        return int(state)
    return state
