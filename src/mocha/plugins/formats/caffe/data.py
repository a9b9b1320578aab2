"""Caffe's data layers and `transform_param`, mapped to our data layers and transformers.

* `HDF5Data` → `HDF5DataLayer` (same list-of-files source and dataset names; Caffe applies no
  transformation to HDF5 data).
* `Input`, `MemoryData`, `ImageData`, `Data` → a `MemoryDataLayer` reading a placeholder file
  `<name>-input.h5` of zeros in the layer's batch shape: Caffe's LMDB / image lists are not
  read here, but the experiment file then works with `mocha summary`, `mocha predict` (which
  replaces the data) and `mocha run` (give it real data by changing `source`).
* `transform_param` (Caffe computes `(x − mean) · scale`, in BGR order for images read by
  OpenCV): `ChannelOrder([2, 1, 0])` when the layer reads colour images (`ImageData`,
  `Data`), since our images come in RGB; `SubMean` with the mean from `mean_file`
  (`.binaryproto`) or `mean_value` (one value, or one per channel) written as
  `<name>-mean.h5`; `Scale(scale)`. `mirror` flips training images only (Caffe never
  mirrors in the TEST phase): it is dropped with a note. `crop_size` is refused. An `Input`
  has no `transform_param`, but the command line's mean and `--bgr` apply to it too (deploy
  nets leave the preprocessing to the caller).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mocha.plugins.formats.caffe.reader import CaffeError, CaffeLayer, read_mean_file


@dataclass
class DataOptions:
    """What the command line may add to what the Caffe file says."""

    mean_value: tuple[float, ...] | None = None  # overrides transform_param's mean
    mean_file: str | None = None  # overrides transform_param.mean_file
    input_shape: tuple[int, ...] | None = None  # (C, H, W) for Data layers
    channel_swap: bool | None = None  # None: for colour ImageData / Data
    search: list[str] = field(default_factory=list)  # folders for relative paths


def _transform(layer: CaffeLayer) -> dict[str, Any]:
    """transform_param with the V1 per-layer fields (data_param.scale ...) merged in, as
    Caffe's upgrade does."""
    t = layer.get("transform_param") if layer.has("transform_param") else None
    out = {"scale": 1.0, "mirror": False, "crop_size": 0, "mean_file": "", "mean_value": []}
    for legacy in ("data_param", "image_data_param"):
        if layer.has(legacy):
            p = layer.get(legacy)
            for key in ("scale", "mirror", "crop_size", "mean_file"):
                if p.HasField(key):
                    out[key] = getattr(p, key)
    if t is not None:
        for key in ("scale", "mirror", "crop_size", "mean_file"):
            if t.HasField(key):
                out[key] = getattr(t, key)
        out["mean_value"] = list(t.mean_value)
    return out


def _find(path: str, search: list[str]) -> str | None:
    if os.path.isabs(path):
        return path if os.path.exists(path) else None
    for folder in [*search, os.getcwd()]:
        candidate = os.path.join(folder, path)
        if os.path.exists(candidate):
            return os.path.abspath(candidate)
    return None


def sample_shape(layer: CaffeLayer, opts: DataOptions) -> list[tuple[int, ...]]:
    """The batch shape of each top of a data layer (labels `(N, 1)`)."""
    t = layer.type
    if t == "Input":
        shapes = [tuple(int(d) for d in s.dim) for s in layer.get("input_param").shape]
        if len(shapes) == 1 and len(layer.tops) > 1:
            shapes = shapes * len(layer.tops)
        if len(shapes) != len(layer.tops):
            raise CaffeError(
                f"layer {layer.name!r} (Input): {len(layer.tops)} tops but {len(shapes)} shapes"
            )
        return shapes
    if t == "MemoryData":
        p = layer.get("memory_data_param")
        data = (p.batch_size, p.channels, p.height, p.width)
    elif t == "ImageData":
        p = layer.get("image_data_param")
        channels = 3 if p.is_color else 1
        if opts.input_shape:
            data = (p.batch_size, *opts.input_shape)
        elif p.new_height and p.new_width:
            data = (p.batch_size, channels, p.new_height, p.new_width)
        else:
            raise CaffeError(
                f"layer {layer.name!r} (ImageData) does not say the image size "
                f"(new_height/new_width); give it with --input-shape C,H,W"
            )
    elif t == "Data":
        p = layer.get("data_param")
        if not opts.input_shape:
            raise CaffeError(
                f"layer {layer.name!r} (Data) reads a {('LEVELDB', 'LMDB')[p.backend]}"
                f" database whose image size is not in the net; give it with "
                f"--input-shape C,H,W"
            )
        data = (p.batch_size or 1, *opts.input_shape)
    else:
        raise CaffeError(f"layer {layer.name!r}: {t} is not a data layer")
    if min(data) < 1:
        raise CaffeError(f"layer {layer.name!r} ({t}): batch shape {list(data)} has a zero size")
    shapes = [tuple(int(d) for d in data)]
    return shapes + [(data[0], 1)] * (len(layer.tops) - 1)


def transformers(
    layer: CaffeLayer,
    shape: tuple[int, ...],
    opts: DataOptions,
    stem: str,
    files: dict[str, dict[str, np.ndarray]],
    notes: list[str],
) -> list[dict]:
    """The `transformers` of the mapped data layer (and the mean file they need, in files)."""
    t = _transform(layer)
    where = f"layer {layer.name!r} ({layer.type})"
    if t["crop_size"]:
        raise CaffeError(
            f"{where}: transform_param.crop_size = {t['crop_size']} is not "
            f"supported (crop the images before feeding them)"
        )
    out: list[dict] = []
    channels = shape[1] if len(shape) == 4 else 0
    swap = opts.channel_swap
    if swap is None:
        swap = layer.type in ("ImageData", "Data") and channels == 3
    if swap:
        if channels != 3:
            raise CaffeError(
                f"{where}: --bgr needs 3-channel images, the data has shape {list(shape)}"
            )
        out.append({"top": layer.tops[0], "type": "ChannelOrder", "order": [2, 1, 0]})
        notes.append(f"{layer.name}: images are given as RGB and reordered to Caffe's BGR")
    mean = None
    if opts.mean_value is not None:
        mean = list(opts.mean_value)
    elif opts.mean_file:
        mean = read_mean_file(opts.mean_file)
    elif t["mean_file"] and t["mean_value"]:
        raise CaffeError(
            f"{where}: transform_param has both mean_file and mean_value (Caffe refuses that too)"
        )
    elif t["mean_file"]:
        found = _find(t["mean_file"], opts.search)
        if found is None:
            raise CaffeError(
                f"{where}: mean_file {t['mean_file']!r} not found (looked beside "
                f"the prototxt and in the current folder); give it with "
                f"--mean-file FILE.binaryproto, or the channel means with "
                f"--mean-value B,G,R"
            )
        mean = read_mean_file(found)
    elif t["mean_value"]:
        mean = list(t["mean_value"])
    if mean is not None:
        sample = tuple(shape[1:])
        if isinstance(mean, list):
            if len(mean) == 1 and channels:
                mean = mean * channels
            if len(sample) < 1 or len(mean) != sample[0]:
                raise CaffeError(
                    f"{where}: {len(mean)} mean value(s) for data of shape "
                    f"{list(shape)} (one per channel, or one for all)"
                )
            values = np.asarray(mean, dtype=np.float32)
            array = np.broadcast_to(values.reshape((-1,) + (1,) * (len(sample) - 1)), sample)
        else:
            array = mean
        if tuple(array.shape) != sample:
            raise CaffeError(
                f"{where}: the mean has shape {list(array.shape)} but the data's "
                f"samples are {list(sample)}"
            )
        fname = f"{stem}-mean.h5"
        files.setdefault(fname, {})["mean"] = np.ascontiguousarray(array, dtype=np.float32)
        out.append({"top": layer.tops[0], "type": "SubMean", "mean_file": fname})
    if t["scale"] != 1:
        out.append({"top": layer.tops[0], "type": "Scale", "scale": f32(t["scale"])})
    if t["mirror"]:
        notes.append(f"{layer.name}: mirror (random flips of training images) is dropped")
    return out


def f32(value: float) -> float:
    """A float32 read from protobuf as the shortest float that prints it (0.0001, not
    9.99999974738e-05)."""
    return float(str(np.float32(value)))


def data_table(
    layer: CaffeLayer,
    opts: DataOptions,
    stem: str,
    files: dict[str, dict[str, np.ndarray]],
    notes: list[str],
) -> tuple[dict[str, Any], list[tuple[int, ...]]]:
    """Our data layer's table and its tops' batch shapes."""
    if layer.type == "HDF5Data":
        p = layer.get("hdf5_data_param")
        source = _find(p.source, opts.search) if p.source else None
        if source is None:
            raise CaffeError(
                f"layer {layer.name!r} (HDF5Data): source {p.source!r} not found "
                f"(looked beside the prototxt and in the current folder)"
            )
        table = {
            "type": "HDF5DataLayer",
            "name": layer.name,
            "source": source,
            "batch_size": int(p.batch_size or 1),
            "tops": list(layer.tops),
        }
        if p.shuffle:
            table["shuffle"] = True
        return table, _hdf5_shapes(source, layer, int(p.batch_size or 1))
    shapes = sample_shape(layer, opts)
    fname = f"{stem}-input.h5"
    if fname in files:
        fname = f"{stem}-input-{layer.name}.h5"
    files[fname] = {top: np.zeros(s, dtype=np.float32) for top, s in zip(layer.tops, shapes)}
    table = {
        "type": "MemoryDataLayer",
        "name": layer.name,
        "source": fname,
        "batch_size": int(shapes[0][0]),
        "tops": list(layer.tops),
        "placeholder": True,
    }
    found = transformers(layer, shapes[0], opts, stem, files, notes)
    if found:
        table["transformers"] = found
    notes.append(
        f"{layer.name}: {layer.type} → MemoryDataLayer on placeholder zeros "
        f"({fname}); point its source at real data to train"
    )
    return table, shapes


def _hdf5_shapes(source: str, layer: CaffeLayer, batch: int) -> list[tuple[int, ...]]:
    import h5py

    try:
        with open(source, encoding="utf-8") as f:
            first = next(line.strip() for line in f if line.strip())
        if not os.path.isabs(first):
            first = os.path.join(os.path.dirname(source), first)
        with h5py.File(first, "r") as h5:
            return [(batch, *h5[top].shape[1:]) for top in layer.tops]
    except (OSError, StopIteration, KeyError, UnicodeDecodeError) as exc:
        raise CaffeError(
            f"layer {layer.name!r} (HDF5Data): cannot read the shapes of "
            f"{layer.tops} from the files listed in {source!r}: {exc}"
        ) from None
