"""Converting arrays to Mocha's HDF5 layout (what `HDF5DataLayer` reads).

The layout: one HDF5 file with a float dataset per top, samples on axis 0 (`data` as
`(N, C, H, W)` for images, `label` as `(N, 1)` with 0-based class indices), contiguous and
uncompressed; plus a list file naming it (`train.txt` holding `train.h5`).

Say how your arrays are laid out with `layout`, a string naming the axes: `"NCHW"` (kept),
`"NHWC"` (channels last, as most image libraries), `"NHW"` (grey images: a channel axis is
added), `"NC"`/`"NF"` (flat features), `"CHWN"`/`"HWCN"` (samples last) ... Any order of the
letters N, C, H, W (N = sample, C = channel, H = height, W = width, F = feature) works. With
`layout=None` the array is kept as is, samples on axis 0.

    from mocha.datasets import convert
    convert.from_arrays("data/train.h5", images, labels, layout="NHWC", scale=1 / 255)
    convert.from_npz("data/train.h5", "train.npz", data_key="x", label_key="y", layout="NHW")
    convert.from_csv("data/train.h5", "train.csv", label_column=0, sample_shape=(1, 28, 28))
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mocha.core.errors import DataError

_AXES = {"N", "C", "H", "W", "F"}


def to_nchw(array: Any, layout: str | None, what: str = "data") -> np.ndarray:
    """`array` reordered from `layout` to Mocha's order (N first, then C, H, W)."""
    a = np.asarray(array)
    if layout is None:
        if a.ndim < 1:
            raise DataError(f"{what}: a scalar has no sample axis")
        return a
    lay = layout.upper()
    if len(set(lay)) != len(lay) or not set(lay) <= _AXES or "N" not in lay:
        raise DataError(
            f"{what}: layout {layout!r} must name each axis once with the letters "
            f"N, C, H, W (or F for features) and include N"
        )
    if len(lay) != a.ndim:
        raise DataError(
            f"{what}: layout {layout!r} names {len(lay)} axes but the array has "
            f"shape {a.shape} ({a.ndim} axes)"
        )
    if set(lay) <= {"N", "C", "F"}:
        target = "N" + "".join(c for c in "CF" if c in lay)
    elif set(lay) == {"N", "H", "W"}:
        return np.transpose(a, [lay.index(c) for c in "NHW"])[:, None]
    elif set(lay) == {"N", "C", "H", "W"}:
        target = "NCHW"
    else:
        raise DataError(
            f"{what}: layout {layout!r} is not supported; use an order of NCHW, NHW or NC"
        )
    return np.transpose(a, [lay.index(c) for c in target])


def labels_column(labels: Any, n: int, what: str = "label") -> np.ndarray:
    """Labels as a float `(N, 1)` column (accepts `(N,)` or `(N, 1)`)."""
    given = np.asarray(labels)
    y = given[:, None] if given.ndim == 1 else given
    if y.ndim != 2 or y.shape[0] != n:
        raise DataError(
            f"{what}: labels of shape {given.shape} do not fit {n} samples; expected "
            f"({n},) or ({n}, 1)"
        )
    if y.dtype.kind not in "biuf":
        raise DataError(f"{what}: labels have dtype {y.dtype}, not a numeric type")
    return y


def write_hdf5(
    path: str | os.PathLike,
    datasets: Mapping[str, Any],
    dtype: Any = "float32",
    block: int = 4096,
    progress: Any = None,
    attrs: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write `datasets` (name -> array, samples on axis 0) to `path` (atomically).

    Every dataset becomes `dtype` (float32 by default), contiguous and uncompressed. Non-finite
    values are refused. `progress(description, done, total)` is called per block of samples.
    `attrs` gives HDF5 attributes per dataset, e.g. how images were scaled (`pixel_attrs`).
    """
    path = Path(path)
    arrays = {k: np.asarray(v) for k, v in datasets.items()}
    lengths = {k: (a.shape[0] if a.ndim else -1) for k, a in arrays.items()}
    if len(set(lengths.values())) != 1 or min(lengths.values()) < 1:
        raise DataError(
            f"{path}: datasets must hold the same number (>= 1) of samples on axis 0; got {lengths}"
        )
    for k, a in arrays.items():
        if a.dtype.kind not in "biuf":
            raise DataError(f"{path}: dataset {k!r} has dtype {a.dtype}, not a numeric type")
    n = next(iter(lengths.values()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        with h5py.File(tmp, "w") as f:
            dsets = {k: f.create_dataset(k, shape=a.shape, dtype=dtype) for k, a in arrays.items()}
            for k, values in (attrs or {}).items():
                dsets[k].attrs.update(dict(values))
            for start in range(0, n, block):
                stop = min(start + block, n)
                for k, a in arrays.items():
                    part = a[start:stop].astype(dtype, copy=False)
                    if part.dtype.kind == "f" and not np.isfinite(part).all():
                        raise DataError(
                            f"{path}: dataset {k!r} holds NaN or infinite values "
                            f"(samples {start}..{stop - 1})"
                        )
                    dsets[k][start:stop] = part
                if progress is not None:
                    progress(f"write {path.name}", stop, n)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


PIXEL_SCALE = "pixel_scale"  # attribute of `data`: samples = (pixels - mean) * pixel_scale
PIXEL_MEAN = "pixel_mean"  # attribute of `data`: the mean file subtracted (dataset `mean`)


def pixel_attrs(scale: float = 1.0, mean_file: str | None = None) -> dict[str, Any]:
    """The attributes of a `data` dataset made from image pixels (0-255): each sample is
    `(pixels - mean) * scale`, `mean` being dataset `mean` of `mean_file` (a path relative to
    the HDF5 file), when there is one. `mocha predict` prepares images the same way."""
    out: dict[str, Any] = {PIXEL_SCALE: float(scale)}
    if mean_file:
        out[PIXEL_MEAN] = str(mean_file)
    return out


def write_list(list_path: str | os.PathLike, h5_paths: Sequence[str | os.PathLike]) -> Path:
    """Write a source list file naming `h5_paths` relative to the list file's folder."""
    list_path = Path(list_path)
    list_path.parent.mkdir(parents=True, exist_ok=True)
    base = list_path.parent.resolve()
    lines = []
    for p in h5_paths:
        p = Path(p).resolve()
        try:
            lines.append(p.relative_to(base).as_posix())
        except ValueError:
            lines.append(str(p))
    list_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return list_path


def from_arrays(
    out: str | os.PathLike,
    data: Any,
    labels: Any = None,
    *,
    layout: str | None = None,
    scale: float | None = None,
    list_file: str | os.PathLike | None = "auto",
    dtype: Any = "float32",
    data_name: str = "data",
    label_name: str = "label",
) -> Path:
    """Write `data` (and `labels`) to the HDF5 file `out` plus a list file (default: `out`
    with suffix `.txt`; `None` for none). `layout` names the axes of `data`; `scale`
    multiplies the data (e.g. `1/255`) and is recorded as the `pixel_scale` attribute of the
    data (`pixel_attrs`), for `mocha predict`. Returns the HDF5 path."""
    x = to_nchw(data, layout, what=str(out))
    if scale is not None:
        x = x.astype(dtype) * np.asarray(scale, dtype=dtype)
    datasets = {data_name: x}
    if labels is not None:
        datasets[label_name] = labels_column(labels, x.shape[0], what=str(out))
    attrs = {data_name: pixel_attrs(scale)} if scale is not None else None
    h5 = write_hdf5(out, datasets, dtype=dtype, attrs=attrs)
    if list_file is not None:
        write_list(h5.with_suffix(".txt") if list_file == "auto" else list_file, [h5])
    return h5


def _load_npy(path: str | os.PathLike) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise DataError(
            f"{path}: cannot load without pickle ({exc}); save plain numeric arrays"
        ) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def from_npy(
    out: str | os.PathLike,
    data_path: str | os.PathLike,
    labels_path: str | os.PathLike | None = None,
    **options: Any,
) -> Path:
    """Convert `.npy` arrays (loaded without pickle); options as in `from_arrays`."""
    labels = _load_npy(labels_path) if labels_path is not None else None
    return from_arrays(out, _load_npy(data_path), labels, **options)


def from_npz(
    out: str | os.PathLike,
    npz_path: str | os.PathLike,
    *,
    data_key: str = "data",
    label_key: str | None = "label",
    **options: Any,
) -> Path:
    """Convert arrays `data_key` (and `label_key`) of an `.npz` archive."""
    archive = _load_npy(npz_path)
    with archive:
        keys = list(archive.keys())
        for key in (data_key, label_key):
            if key is not None and key not in keys:
                raise DataError(
                    f"{npz_path}: no array {key!r}; arrays in the archive: "
                    f"{', '.join(keys) or '(none)'}"
                )
        data = archive[data_key]
        labels = archive[label_key] if label_key is not None else None
    return from_arrays(out, data, labels, **options)


def from_csv(
    out: str | os.PathLike,
    csv_path: str | os.PathLike,
    *,
    label_column: int | str | None = 0,
    header: bool | None = None,
    delimiter: str = ",",
    sample_shape: Sequence[int] | None = None,
    layout: str | None = None,
    **options: Any,
) -> Path:
    """Convert a numeric CSV file, one sample a row.

    `label_column` (index, negative from the end, or a header name; None for no labels) holds
    the label; the other columns are the features, reshaped to `sample_shape` (row-major) if
    given, whose axes `layout` names without N (e.g. `sample_shape=(28, 28, 3)`,
    `layout="HWC"`). `header=None` detects a header row (a first row that is not numeric).
    """
    found = _first_row(csv_path, delimiter)
    if found is None:
        raise DataError(f"{csv_path}: the CSV file is empty")
    first, line = found
    names: list[str] | None = None
    if header is None:
        header = not _numeric_row(first)
    if header:
        names = [c.strip() for c in first]
    table = _load_table(csv_path, delimiter, skip=line + 1 if header else 0)
    width = table.shape[1]
    labels = None
    if label_column is not None:
        if isinstance(label_column, str):
            if names is None or label_column not in names:
                raise DataError(f"{csv_path}: no column named {label_column!r}; header: {names}")
            label_column = names.index(label_column)
        if not -width <= label_column < width:
            raise DataError(
                f"{csv_path}: label column {label_column} is outside the {width} columns"
            )
        col = label_column % width
        labels = table[:, col]
        table = np.delete(table, col, axis=1)
    x = table
    if sample_shape is not None:
        shape = tuple(int(s) for s in sample_shape)
        if int(np.prod(shape)) != x.shape[1]:
            raise DataError(
                f"{csv_path}: {x.shape[1]} feature columns cannot be reshaped to {shape}"
            )
        x = x.reshape((x.shape[0],) + shape)
    return from_arrays(out, x, labels, layout=("N" + layout) if layout else None, **options)


def _first_row(csv_path: str | os.PathLike, delimiter: str) -> tuple[list[str], int] | None:
    """The first non-blank row of the file split into cells, and its line index (None: the
    file has no such row)."""
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if line.strip(delimiter + " \t\r\n"):
                return next(csv.reader([line], delimiter=delimiter)), n
    return None


def _load_table(csv_path: str | os.PathLike, delimiter: str, skip: int) -> np.ndarray:
    """The numeric rows as a float64 (rows, columns) table, read by `numpy.loadtxt` (blank
    lines skipped); `DataError` for a non-numeric cell or rows of different lengths."""
    try:
        with open(csv_path, encoding="utf-8") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "no data": said below
            table = np.loadtxt(fh, delimiter=delimiter, dtype=np.float64, ndmin=2, skiprows=skip)
    except ValueError as exc:
        text = str(exc)
        if "columns" in text:
            raise DataError(
                f"{csv_path}: every row needs the same number of numeric columns ({text})"
            ) from None
        raise DataError(f"{csv_path}: non-numeric value ({text})") from None
    if table.shape[0] == 0:
        raise DataError(f"{csv_path}: the CSV file holds no data rows")
    return table


def _numeric_row(row: list[str]) -> bool:
    try:
        [float(c) for c in row]
    except ValueError:
        return False
    return True
