"""AsyncHDF5DataLayer: HDF5DataLayer's batches, read ahead on a background thread (§3.1).

A producer thread runs the same batch stream as `HDF5DataLayer` (same file order, the same
permutations for the same backend seed) and puts ready batches, each with the epoch and cursor
reached after it, into a bounded queue (`prefetch` batches). `forward` takes the next one, so
reading overlaps with the net's computation and the batches, epochs and cursors are exactly
those of the synchronous layer. `chunk_size` (samples) sets how much is read at a time.
`shutdown` stops and joins the thread; `set_cursor` restarts it at the restored position.

Porting note: Mocha's asynchronous layer re-permutes the file order on every pass and shuffles
within chunks, so its batches differ from HDF5DataLayer's. Here both layers give the same
batches for the same seed (file order permuted once, each file re-permuted when reopened), so
switching layers never changes a training run.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from mocha.core.errors import DataError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import config_field, name_field
from mocha.plugins.layers._hdf5 import HDF5DataBase, HDF5DataFields, layer_label

_STOP_POLL_S = 0.05


class _Producer:
    """The background thread: batches from `stream` into `out` until stopped."""

    def __init__(self, stream: Any, depth: int, who: str) -> None:
        self.stream, self.who = stream, who
        self.out: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"mocha-{who}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                batch = self.stream.next_batch()
                item: Any = (batch, self.stream.epoch, self.stream.cursor())
            except BaseException as exc:  # handed to the consumer, raised there
                item = exc
            while not self.stop.is_set():
                try:
                    self.out.put(item, timeout=_STOP_POLL_S)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return

    def get(self) -> Any:
        while True:
            try:
                return self.out.get(timeout=1.0)
            except queue.Empty:
                if not self.thread.is_alive():
                    raise DataError(f"{self.who}: the reader thread stopped unexpectedly") from None

    def join(self) -> None:
        self.stop.set()
        while True:  # drain, so a producer blocked on a full queue sees the stop flag
            try:
                self.out.get_nowait()
            except queue.Empty:
                break
        self.thread.join()


class AsyncHDF5DataState(HDF5DataBase):
    """Batches prefetched by a `_Producer`; the stream is only touched by that thread."""

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self._cursor = self.stream.cursor()
        self._producer: _Producer | None = _Producer(
            self.stream, layer.prefetch, layer_label(layer)
        )

    def chunk_size(self, layer: Any) -> int | None:
        return layer.chunk_size

    def forward(self, backend, inputs):
        if self._producer is None:
            raise DataError(f"{layer_label(self.layer)}: forward after shutdown")
        item = self._producer.get()
        if isinstance(item, BaseException):
            self._producer.join()
            self._producer = None
            raise item
        batch, epoch, cursor = item
        self.fill(backend, batch)
        self.epoch, self._cursor = epoch, cursor

    def get_cursor(self) -> dict[str, Any]:
        """The position after the last batch handed to the net (as the synchronous layer's)."""
        return dict(self._cursor)

    def set_cursor(self, data: dict[str, Any]) -> None:
        self._stop()
        self.stream.set_cursor(data)
        self.epoch = self.stream.epoch
        self._cursor = self.stream.cursor()
        self._producer = _Producer(self.stream, self.layer.prefetch, layer_label(self.layer))

    def _stop(self) -> None:
        if self._producer is not None:
            self._producer.join()
            self._producer = None

    def shutdown(self, backend):
        self._stop()
        self.stream.close()


class AsyncHDF5DataLayer(HDF5DataFields):
    """HDF5DataLayer with reading done ahead of time on a background thread.

    Same fields and batches as `HDF5DataLayer`, plus `chunk_size` (samples read at a time,
    default 2**20; a chunk is held in host memory) and `prefetch` (batches read ahead, >= 1).
    """

    name: str = name_field("hdf5-data")
    chunk_size: int = config_field(
        2**20, check=lambda v: isinstance(v, int) and v > 0, rule="must be an int > 0"
    )
    prefetch: int = config_field(
        2, check=lambda v: isinstance(v, int) and v > 0, rule="must be an int > 0"
    )
    state_cls = AsyncHDF5DataState


@hookimpl
def mocha_register_layers(register):
    register(AsyncHDF5DataLayer)
