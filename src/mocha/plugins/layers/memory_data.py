"""MemoryDataLayer: mini-batches from in-memory arrays (semantics §3.1)."""

from __future__ import annotations

from typing import Any

from mocha.core.errors import DataError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import CursorState, Layer, config_field, name_field
from mocha.core.parallel import parallel_of


class MemoryDataState(CursorState):
    """Feeds `batch_size` samples per forward, wrapping around; `epoch` counts passes.

    The arrays are read at every forward, as given (each batch is converted to the backend's
    dtype and device then), so writing into them between forwards feeds the new values:
    `get_layer(net, "data").data[0][...] = image; forward(net)`, whatever the array's dtype.

    Data parallel (`mocha.core.parallel`): the blobs hold only this rank's rows `[lo, hi)`
    of each global batch; `shard` is `(lo, hi, batch_size)`."""

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.backend = backend
        self.parallel = parallel_of(backend)
        lo, hi = self.parallel.shard_bounds(layer.batch_size, f"MemoryDataLayer({layer.name!r})")
        self.shard = (lo, hi, layer.batch_size)
        self.epoch = 0
        self.cursor = 0
        self.order: Any = None
        self.set_data(layer.data)
        self.blobs = [backend.empty((hi - lo,) + a.shape[1:]) for a in self.arrays]
        self.transformers = []
        for top, transformer in layer.transformers:
            if top not in layer.tops:
                raise layer.config_error("transformers", top, f"no top named {top!r}")
            j = layer.tops.index(top)
            transformer.setup(backend, self.blobs[j].shape)
            self.transformers.append((j, transformer))

    def set_data(self, arrays: Any) -> None:
        """Replace the arrays fed by this layer (same per-sample shapes) without rebuilding."""
        layer = self.layer
        xp = self.backend.xp
        arrays = [
            a if hasattr(a, "shape") and hasattr(a, "__getitem__") else xp.asarray(a)
            for a in arrays
        ]
        if len(arrays) != len(layer.tops):
            raise layer.config_error(
                "data", f"{len(arrays)} arrays", f"needs one array per top {list(layer.tops)}"
            )
        n = arrays[0].shape[0] if arrays[0].ndim else 0
        for top, a in zip(layer.tops, arrays):
            if a.ndim < 1 or a.shape[0] != n or n == 0:
                raise DataError(
                    f"MemoryDataLayer({layer.name!r}): array for top {top!r} has shape "
                    f"{tuple(a.shape)}; every array needs the same number of samples (> 0) on "
                    f"axis 0 (the first has {n})"
                )
        old = getattr(self, "arrays", None)
        if old is not None:
            for top, a, b in zip(layer.tops, arrays, old):
                if a.shape[1:] != b.shape[1:]:
                    raise DataError(
                        f"MemoryDataLayer({layer.name!r}): new array for top {top!r} has sample "
                        f"shape {tuple(a.shape[1:])}, the net was built for {tuple(b.shape[1:])}"
                    )
        self.arrays = list(arrays)  # not copied: edits of the caller's arrays are fed
        self.n = n
        self.cursor = 0
        self.order = self._permutation(n) if layer.shuffle else None

    def _permutation(self, n: int) -> Any:
        return self.parallel.agree(self.backend.rng.permutation(n))

    def forward(self, backend, inputs):
        lo, hi, bs = self.shard
        filled = 0
        self.rows: list[tuple[int, int, Any]] = []  # (first blob row, count, array rows)
        while filled < bs:
            take = min(bs - filled, self.n - self.cursor)
            a, b = max(filled, lo), min(filled + take, hi)  # this rank's rows of the batch
            if a < b:
                start = self.cursor + a - filled
                if self.order is None:
                    idx = slice(start, start + b - a)
                else:
                    idx = self.order[start : start + b - a]
                for blob, array in zip(self.blobs, self.arrays):
                    blob.data[a - lo : b - lo] = backend.asarray(array[idx])
                self.rows.append((a - lo, b - a, idx))
            filled += take
            self.cursor += take
            if self.cursor >= self.n:
                self.cursor = 0
                self.epoch += 1
                if self.order is not None:
                    self.order = self._permutation(self.n)
        for j, transformer in self.transformers:
            transformer.transform(backend, self.blobs[j])

    def describe_row(self, row: int) -> str:
        """Which row of the layer's arrays row `row` of the current top blobs holds."""
        for first, count, idx in getattr(self, "rows", []):
            if first <= row < first + count:
                k = row - first
                return f"row {idx.start + k if isinstance(idx, slice) else int(idx[k])}"
        return f"batch row {row}"

    # cursor state for snapshots
    def get_cursor(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "cursor": self.cursor,
            "order": None if self.order is None else list(map(int, self.order)),
        }

    def set_cursor(self, data: dict[str, Any]) -> None:
        self.epoch, self.cursor = int(data["epoch"]), int(data["cursor"])
        if data.get("order") is not None:
            backend = self.backend
            self.order = backend.to_host(backend.xp.asarray(data["order"]))  # host indices


class MemoryDataLayer(Layer, is_source=True, bottoms="0"):
    """Mini-batches from arrays held in memory.

    Fields: `data` (one array per top, samples on axis 0), `batch_size` (> 0), `tops`
    (default ["data", "label"]), `shuffle`, `transformers` ([(top, transformer), ...]).
    Bottoms: none. Tops: one blob of shape (batch_size, *sample_shape) per array (in
    data-parallel training, this rank's share of the batch: see `mocha.core.parallel`).
    """

    name: str = name_field("memory-data")
    tops: tuple[str, ...] = config_field(
        ("data", "label"),
        convert=lambda v: (v,) if isinstance(v, str) else tuple(map(str, v)),
        check=lambda v: len(v) >= 1,
        rule="needs at least one top",
    )
    data: tuple = config_field(
        convert=tuple, check=lambda v: len(v) >= 1, rule="needs at least one array"
    )
    batch_size: int = config_field(
        check=lambda v: isinstance(v, int) and v > 0, rule="must be an int > 0"
    )
    shuffle: bool = False
    transformers: tuple = config_field((), convert=tuple)
    state_cls = MemoryDataState

    def validate(self) -> None:
        if len(self.data) != len(self.tops):
            raise self.config_error(
                "data", f"{len(self.data)} arrays", f"needs one array per top {list(self.tops)}"
            )


@hookimpl
def mocha_register_layers(register):
    register(MemoryDataLayer)
