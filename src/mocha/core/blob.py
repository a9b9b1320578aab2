"""Blobs: the named tensors that flow between layers. Notes: docs/core.md."""

from __future__ import annotations

from typing import Any

import numpy as np


class Blob:
    """A backend array with a fixed shape and dtype.

    `data` is the array itself; layers read and write it in place (`blob.data[...] = ...`).
    """

    __slots__ = ("data", "backend")
    is_null = False

    def __init__(self, data: Any, backend: Any = None) -> None:
        self.data = data
        self.backend = backend

    # -- description ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def num(self) -> int:
        """The mini-batch size (axis 0)."""
        return int(self.data.shape[0])

    @property
    def fea_size(self) -> int:
        """Number of elements of one sample (all axes but the batch axis)."""
        return self.size // max(self.num, 1)

    def __len__(self) -> int:
        return self.num

    def __repr__(self) -> str:
        dims = " x ".join(str(d) for d in self.shape)
        return f"Blob({dims})"

    # -- host transfer -------------------------------------------------------------------
    def copy_from(self, host: Any) -> Blob:
        """Copy a host (NumPy) array, or another blob, of the same shape into this blob."""
        host = host.to_host() if isinstance(host, Blob) else np.asarray(host)
        if tuple(host.shape) != self.shape:
            raise ValueError(f"cannot copy an array of shape {host.shape} into {self!r}")
        if self.backend is not None:
            self.data[...] = self.backend.asarray(host, dtype=self.dtype)
        else:
            self.data[...] = host
        return self

    def to_host(self) -> np.ndarray:
        """A NumPy copy of the contents."""
        if self.backend is not None:
            return np.array(self.backend.to_host(self.data), copy=True)
        return np.array(self.data, copy=True)

    def copy_to(self, host: np.ndarray) -> np.ndarray:
        """Copy the contents into an existing host array of the same shape."""
        host[...] = self.to_host()
        return host

    # -- in-place helpers ----------------------------------------------------------------
    def fill(self, value: float) -> Blob:
        self.data.fill(value)
        return self

    def erase(self) -> Blob:
        """Set every element to zero."""
        return self.fill(0)

    def reshape(self, *shape: int | tuple[int, ...]) -> Blob:
        """A blob of a new shape sharing this blob's memory (no copy)."""
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        view = self.data.reshape(shape)
        return Blob(view, self.backend)


class NullBlob(Blob):
    """The empty blob: shape `()`, no data; writes and fills are ignored."""

    __slots__ = ()
    is_null = True

    def __init__(self) -> None:
        super().__init__(None, None)

    @property
    def shape(self) -> tuple[int, ...]:
        return ()

    @property
    def dtype(self) -> np.dtype:
        return np.dtype("float32")

    @property
    def ndim(self) -> int:
        return 0

    @property
    def size(self) -> int:
        return 0

    @property
    def num(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "Blob()"

    def __bool__(self) -> bool:
        return False

    def copy_from(self, host: Any) -> Blob:
        return self

    def to_host(self) -> np.ndarray:
        return np.empty((0,), dtype=np.float32)

    def copy_to(self, host: np.ndarray) -> np.ndarray:
        return host

    def fill(self, value: float) -> Blob:
        return self

    def reshape(self, *shape: int | tuple[int, ...]) -> Blob:
        return self


def is_null(blob: Blob) -> bool:
    return blob is None or blob.is_null
