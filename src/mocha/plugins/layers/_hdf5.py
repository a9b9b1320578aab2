"""What HDF5DataLayer and AsyncHDF5DataLayer share: their fields and checks
(`HDF5DataFields`), the batch stream over the listed files (`open_stream`) and the state that
fills the tops and runs the transformers (`HDF5DataBase`)."""

from __future__ import annotations

from typing import Any

from mocha.core.layer import CursorState, Layer, config_field
from mocha.core.parallel import parallel_of
from mocha.datasets.hdf5_stream import BatchStream, read_source_list, scan_files

# The synchronous layer reads a whole file at once when it fits in this many bytes, else in
# chunks of this size (so shuffled reads of big files stay fast and bounded in memory).
SYNC_CHUNK_BYTES = 256 << 20


def _tops(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(map(str, value))


def layer_label(layer: Layer) -> str:
    return f"{type(layer).__name__}({layer.name!r})"


def open_stream(layer: Any, backend: Any, chunk_size: int | None) -> BatchStream:
    """Validate the layer's source and build its batch stream (shared by both HDF5 layers).

    The stream's private RNG is seeded with one draw from `backend.rng`, so runs with the same
    backend seed see the same file order and permutations. `chunk_size=None` picks the
    synchronous layer's default (whole files up to `SYNC_CHUNK_BYTES`).
    """
    who = layer_label(layer)
    paths = read_source_list(layer.source, who)
    files, shapes = scan_files(paths, layer.tops, who, source=str(layer.source))
    if chunk_size is None:
        sample_bytes = sum(backend.dtype.itemsize * _prod(s) for s in shapes)
        chunk_size = max(layer.batch_size, SYNC_CHUNK_BYTES // max(sample_bytes, 1))
    seed = int(backend.rng.integers(0, 2**63 - 1))
    return BatchStream(
        files,
        layer.tops,
        shapes,
        layer.batch_size,
        layer.shuffle,
        seed,
        chunk_size,
        backend.dtype,
        who,
    )


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


class HDF5DataBase(CursorState):
    """What both HDF5 data layers share: blobs, transformers, epoch.

    Data parallel (`mocha.core.parallel`): every rank reads the same global batches and keeps
    rows `[lo, hi)`; `shard` is `(lo, hi, batch_size)`."""

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.backend = backend
        self.epoch = 0
        lo, hi = parallel_of(backend).shard_bounds(layer.batch_size, layer_label(layer))
        self.shard = (lo, hi, layer.batch_size)
        self.stream = open_stream(layer, backend, self.chunk_size(layer))
        try:
            self.blobs = [backend.empty((hi - lo,) + s) for s in self.stream.sample_shapes]
            self.transformers = []
            for top, transformer in layer.transformers:
                if top not in layer.tops:
                    raise layer.config_error(
                        "transformers", top, f"no top named {top!r}; tops are {list(layer.tops)}"
                    )
                j = layer.tops.index(top)
                transformer.setup(backend, self.blobs[j].shape)
                self.transformers.append((j, transformer))
        except BaseException:
            self.stream.close()
            raise

    def chunk_size(self, layer: Any) -> int | None:
        return None

    def fill(self, backend: Any, host_batch: list[Any]) -> None:
        """Copy one host batch into the top blobs and run the transformers."""
        lo, hi, _ = self.shard
        self.batch = host_batch
        for blob, host in zip(self.blobs, host_batch):
            blob.data[...] = backend.asarray(host[lo:hi])
        for j, transformer in self.transformers:
            transformer.transform(backend, self.blobs[j])

    def describe_row(self, row: int) -> str:
        """Where row `row` of the current top blobs came from (file and sample)."""
        batch = getattr(self, "batch", None)
        lo = self.shard[0]
        return batch.source_of(lo + row) if hasattr(batch, "source_of") else f"row {row}"


def validate_hdf5_layer(layer: Any) -> None:
    if len(set(layer.tops)) != len(layer.tops):
        raise layer.config_error("tops", layer.tops, "top names must be distinct")
    for item in layer.transformers:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise layer.config_error("transformers", item, "entries must be (top, transformer)")


def _transformers(value: Any) -> tuple:
    return tuple(
        (str(t[0]), t[1]) if isinstance(t, (tuple, list)) and len(t) == 2 else t for t in value
    )


class HDF5DataFields(Layer, is_source=True, bottoms="0"):
    """The fields of both HDF5 data layers (see `HDF5DataLayer`)."""

    tops: tuple[str, ...] = config_field(
        ("data", "label"), convert=_tops, check=lambda v: len(v) >= 1, rule="needs at least one top"
    )
    source: str = config_field(
        convert=str, check=lambda v: v != "", rule="must name a source list file"
    )
    batch_size: int = config_field(
        check=lambda v: isinstance(v, int) and v > 0, rule="must be an int > 0"
    )
    shuffle: bool = config_field(
        False, check=lambda v: isinstance(v, bool), rule="must be True or False"
    )
    transformers: tuple = config_field((), convert=_transformers)

    def validate(self) -> None:
        validate_hdf5_layer(self)
