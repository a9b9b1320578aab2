"""HDF5DataLayer: mini-batches read from the HDF5 files listed in a source file (§3.1)."""

from __future__ import annotations

from typing import Any

from mocha.core.hookspecs import hookimpl
from mocha.core.layer import name_field
from mocha.plugins.layers._hdf5 import (  # noqa: F401 - the shared pieces, also public here
    HDF5DataBase,
    HDF5DataFields,
    layer_label,
    open_stream,
)


class HDF5DataState(HDF5DataBase):
    """Reads each batch on the calling thread."""

    def forward(self, backend, inputs):
        self.fill(backend, self.stream.next_batch())
        self.epoch = self.stream.epoch

    def get_cursor(self) -> dict[str, Any]:
        """The data position (JSON-able), for snapshots."""
        return self.stream.cursor()

    def set_cursor(self, data: dict[str, Any]) -> None:
        self.stream.set_cursor(data)
        self.epoch = self.stream.epoch

    def shutdown(self, backend):
        self.stream.close()


class HDF5DataLayer(HDF5DataFields):
    """Mini-batches from HDF5 files (Mocha/Caffe layout: samples on axis 0).

    Fields: `source` (a text file listing HDF5 files, one a line; relative paths are resolved
    against its folder), `batch_size` (> 0), `tops` (default ["data", "label"]; each names the
    dataset read for it), `shuffle` (file order permuted once, samples re-permuted every time a
    file is opened), `transformers` ([(top, transformer), ...], applied in order).
    Tops: `(batch_size, *sample_shape)` per dataset (rank-1 datasets are served as `(N, 1)`),
    in the backend's dtype. Batches wrap around; `epoch` counts completed passes.
    """

    name: str = name_field("hdf5-data")
    state_cls = HDF5DataState


@hookimpl
def mocha_register_layers(register):
    register(HDF5DataLayer)
