"""The values a data file may hold: finite numbers, and in a `label` array class indices
(integers >= 0). Checked when a file is loaded (`.npz`/HDF5 arrays of a MemoryDataLayer) or
read (each chunk of an HDF5DataLayer), so a bad value stops the run at once with the file and
the row, not 27 iterations later as a diverging objective."""

from __future__ import annotations

import numpy as np

from mocha.core.errors import DataError

LABEL_TOLERANCE = 1e-3  # a class label further than this from an integer is refused


def check_values(
    array: np.ndarray, top: str, subject: str, rows_of: np.ndarray | None = None
) -> None:
    """`DataError` naming `subject` (the array and its file) and the first bad sample (row)
    when `array` holds NaN or infinite values, or, for a `label` array (`top`), a class label
    that is not an integer >= 0 (-1, 3.5). Samples are numbered as in the file: `rows_of[i]`
    is the row of `array[i]` (default `i`)."""
    if array.dtype.kind not in "biuf" or array.size == 0:
        return
    flat = array.reshape(array.shape[0], -1) if array.ndim else array.reshape(1, 1)
    bad = ~np.isfinite(flat) if array.dtype.kind == "f" else np.zeros(flat.shape, bool)
    what = "NaN or infinite values"
    if not bad.any() and top == "label":
        bad = (flat < 0) | (np.abs(flat - np.rint(flat)) > LABEL_TOLERANCE)
        what = "labels that are not class indices (integers >= 0)"
    if not bad.any():
        return
    i = int(np.flatnonzero(bad.any(axis=1))[0])
    row = i if rows_of is None else int(rows_of[i])
    value = float(flat[i][bad[i]][0])
    raise DataError(f"{subject} holds {what} (first at sample {row}: {value:g})")
