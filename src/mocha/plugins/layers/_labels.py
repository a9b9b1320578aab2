"""Class labels as integer indices: the check shared by the softmax-family losses and the
accuracy layers (a label blob holds 0-based class indices as floats)."""

from __future__ import annotations

from mocha.core.errors import DataError, ShapeError
from mocha.datasets.values import LABEL_TOLERANCE


def labels_as_index(layer, backend, pred, label, axis: int):
    """Label blob -> integer class indices shaped like `pred` with size 1 on `axis`;
    refuses labels that are not integers in [0, C) with an error naming the layer and the
    value."""
    xp = backend.xp
    shape = list(pred.shape)
    C = shape[axis]
    shape[axis] = 1
    if label.size != pred.size // C:
        raise ShapeError(
            f"{type(layer).__name__}({layer.name!r}): label blob {layer.bottoms[1]!r} has "
            f"{label.size} elements, expected {pred.size // C} (prediction shape {pred.shape} "
            f"with classes on axis {axis})"
        )
    raw = label.data.reshape(shape)
    rounded = xp.rint(raw)
    bad = ~((rounded >= 0) & (rounded < C) & (xp.abs(raw - rounded) <= LABEL_TOLERANCE))
    if bool(bad.any()):  # NaN fails every comparison, so it is refused too
        value = float(raw[bad].ravel()[0])
        row = int(xp.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))[0])
        exc = DataError(
            f"{type(layer).__name__}({layer.name!r}): label {value} in blob "
            f"{layer.bottoms[1]!r} is out of range: labels must be integer class indices in "
            f"[0, {C})"
        )
        exc.blob, exc.row, exc.layer = layer.bottoms[1], row, layer.name  # see data_source_of
        raise exc
    return rounded.astype(xp.int64)
