"""HDF5OutputLayer: append blobs to datasets of an HDF5 file at every forward (semantics
§3.13)."""

from __future__ import annotations

import os
import warnings

import h5py

from mocha.core.errors import DataError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field


class HDF5OutputState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        path = os.fspath(layer.filename)
        label = f"HDF5OutputLayer({layer.name!r})"
        if os.path.exists(path):
            if not layer.force_overwrite:
                raise DataError(
                    f"{label}: output file {path!r} already exists; remove it or set "
                    f"force_overwrite=True"
                )
            warnings.warn(f"{label}: overwriting the existing file {path!r}", stacklevel=2)
        self.file = h5py.File(path, "w")
        names = layer.datasets or layer.bottoms
        self.datasets = []
        try:
            for name, x in zip(names, inputs):
                # chunk = one batch; growable along the batch axis
                self.datasets.append(
                    self.file.create_dataset(
                        name,
                        shape=(0, *x.shape[1:]),
                        maxshape=(None, *x.shape[1:]),
                        chunks=tuple(max(s, 1) for s in x.shape),
                        dtype=x.dtype,
                    )
                )
        except BaseException:
            self.file.close()
            raise
        self.count = 0

    def forward(self, backend, inputs):
        for ds, x in zip(self.datasets, inputs):
            n = ds.shape[0]
            ds.resize(n + x.num, axis=0)
            ds[n : n + x.num] = x.to_host()
        self.count += 1

    def shutdown(self, backend):
        if self.file:
            self.file.close()


class HDF5OutputLayer(Layer, is_sink=True, bottoms=">=1", tops="0"):
    """Each forward appends every bottom, one mini-batch, to a dataset of `filename`.

    Fields: `filename` (required); `datasets` (empty: the bottom names, else one dataset name
    per bottom); `force_overwrite` (default False: refuse to overwrite an existing file; True:
    overwrite it with a warning). Datasets are chunked by batch, growable along axis 0, in the
    blob's dtype; the file is closed at shutdown.
    Bottoms: k ≥ 1 blobs. Tops: none.
    """

    name: str = name_field("hdf5-output")
    filename: str = config_field(
        convert=os.fspath, check=lambda v: v != "", rule="must be a file path"
    )
    datasets: tuple[str, ...] = config_field(
        (), convert=lambda v: (v,) if isinstance(v, str) else tuple(map(str, v))
    )
    force_overwrite: bool = False
    state_cls = HDF5OutputState

    def validate(self) -> None:
        if self.datasets and len(self.datasets) != len(self.bottoms):
            raise self.config_error(
                "datasets", self.datasets, f"needs one name per bottom {list(self.bottoms)} or none"
            )
        if len(set(self.datasets or self.bottoms)) != len(self.datasets or self.bottoms):
            raise self.config_error(
                "datasets", self.datasets or self.bottoms, "dataset names must be distinct"
            )


@hookimpl
def mocha_register_layers(register):
    register(HDF5OutputLayer)
