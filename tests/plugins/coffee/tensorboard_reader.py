"""Read the scalars of a TensorBoard event folder back (for the TensorBoardLogger test): the
TFRecord framing (u64 length, u32 crc, data, u32 crc) around `Event` protobufs."""

from __future__ import annotations

import struct
from pathlib import Path


def read_scalars(folder: Path) -> dict[str, dict[int, float]]:
    from tensorboardX.proto import event_pb2

    out: dict[str, dict[int, float]] = {}
    for path in sorted(Path(folder).rglob("events.out.tfevents.*")):
        raw = path.read_bytes()
        pos = 0
        while pos + 12 <= len(raw):
            (length,) = struct.unpack("<Q", raw[pos : pos + 8])
            data = raw[pos + 12 : pos + 12 + length]
            pos += 12 + length + 4
            event = event_pb2.Event.FromString(data)
            for value in event.summary.value:
                out.setdefault(value.tag, {})[int(event.step)] = value.simple_value
    return out
