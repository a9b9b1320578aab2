"""Data transformers: in-place changes of a data layer's output (semantics §5).

Configured on a data layer as `transformers=[("data", DataTransformers.SubMean(...)), ...]`;
the layer calls `setup(backend, shape)` once, then `transform(backend, blob)` after it has
assembled each mini-batch, in list order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from mocha.core.blob import Blob
from mocha.core.components import DataTransformer
from mocha.core.errors import DataError, ShapeError
from mocha.core.hookspecs import hookimpl


@dataclass(eq=False)
class SubMean(DataTransformer):
    """x[n] ← x[n] − mean for every sample n of the batch.

    Fields: `mean_blob` (a Blob or array holding the mean; default None) or, when it is not
    given, `mean_file`: an HDF5 file whose dataset "mean" holds it. The mean has the shape of
    one sample, with or without a leading batch axis of size 1 (a Caffe mean file is
    (1, C, H, W)); it is converted to the backend's dtype.
    """

    mean_file: str = ""
    mean_blob: Any = None
    _mean: Any = field(default=None, init=False, repr=False)

    def _blob_given(self) -> bool:
        return self.mean_blob is not None and not getattr(self.mean_blob, "is_null", False)

    def __post_init__(self) -> None:
        if not self._blob_given() and not self.mean_file:
            raise self.config_error(
                "mean_file", self.mean_file, "give a mean_blob or the path of an HDF5 mean_file"
            )

    def _host_mean(self) -> np.ndarray:
        blob = self.mean_blob
        if self._blob_given():
            return blob.to_host() if isinstance(blob, Blob) else np.asarray(blob)
        path = os.fspath(self.mean_file)
        if not os.path.exists(path):
            raise DataError(f"SubMean: mean_file {path!r} does not exist")
        with h5py.File(path, "r") as f:
            if "mean" not in f:
                raise DataError(
                    f"SubMean: mean_file {path!r} has no dataset 'mean' (it has {sorted(f.keys())})"
                )
            return np.asarray(f["mean"][()])

    def setup(self, backend: Any, shape: tuple[int, ...]) -> None:
        mean = self._host_mean()
        sample = tuple(shape[1:])
        if mean.shape == sample:
            mean = mean[None]
        if mean.shape != (1, *sample):
            source = "mean_blob" if self._blob_given() else f"mean_file {self.mean_file!r}"
            raise ShapeError(
                f"SubMean: the mean from {source} has shape {mean.shape}, but the data has "
                f"samples of shape {sample} (batch shape {tuple(shape)}); the mean must be "
                f"{sample} or {(1, *sample)}"
            )
        self._mean = backend.asarray(mean)

    def transform(self, backend: Any, blob: Blob) -> None:
        if self._mean is None:
            raise DataError("SubMean: transform() called before setup()")
        blob.data -= self._mean


@dataclass(frozen=True)
class Scale(DataTransformer):
    """x ← scale · x. Field: `scale` (default 1.0); also `Scale(s)`."""

    scale: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.scale, bool) or not isinstance(self.scale, int | float):
            raise self.config_error("scale", self.scale, "must be a number")

    def transform(self, backend: Any, blob: Blob) -> None:
        if self.scale != 1:
            blob.data *= self.scale


@dataclass(frozen=True)
class ChannelOrder(DataTransformer):
    """x[:, c] ← x[:, order[c]]: reorders the channels (numpy axis 1) of every sample.

    Field: `order` (a permutation of the channel indices). `ChannelOrder((2, 1, 0))` turns
    RGB images into the BGR order of nets trained with Caffe (OpenCV reads BGR).
    """

    order: tuple[int, ...] = (2, 1, 0)

    def __post_init__(self) -> None:
        order = tuple(self.order) if isinstance(self.order, list | tuple) else None
        if (
            order is None
            or sorted(order) != list(range(len(order)))
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in order)
        ):
            raise self.config_error(
                "order", self.order, "must be a permutation of 0..C-1, e.g. [2, 1, 0]"
            )
        object.__setattr__(self, "order", order)

    def setup(self, backend: Any, shape: tuple[int, ...]) -> None:
        if len(shape) < 2 or shape[1] != len(self.order):
            raise ShapeError(
                f"ChannelOrder: order {list(self.order)} has {len(self.order)} "
                f"channels but the data has shape {tuple(shape)} (channels on "
                f"axis 1)"
            )

    def transform(self, backend: Any, blob: Blob) -> None:
        blob.data[...] = blob.data[:, list(self.order)]


@hookimpl
def mocha_register_data_transformers(register):
    register(SubMean)
    register(Scale)
    register(ChannelOrder)
