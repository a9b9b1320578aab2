"""Helpers for the Caffe tests: build Caffe files in the test, run the converted net, and
NumPy implementations of Caffe's layer definitions (the oracles)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mocha.interop import caffe


def write_caffemodel(
    path: Path, blobs: dict[str, list[np.ndarray]], v1: bool = False, legacy_dims: bool = False
) -> Path:
    """A binary caffemodel holding only named layers with blobs (float or double data)."""
    from mocha.plugins.formats.caffe.schema import NetParameter

    net = NetParameter(name="weights")
    for name, arrays in blobs.items():
        layer = net.layers.add(name=name) if v1 else net.layer.add(name=name, type="Any")
        for a in arrays:
            blob = layer.blobs.add()
            if legacy_dims:
                dims = (1,) * (4 - a.ndim) + a.shape
                blob.num, blob.channels, blob.height, blob.width = dims
            else:
                blob.shape.dim.extend(a.shape)
            if a.dtype == np.float64:
                blob.double_data.extend(a.ravel().tolist())
            else:
                blob.data.extend(a.astype(np.float32).ravel().tolist())
    path.write_bytes(net.SerializeToString())
    return path


def run(
    tmp_path: Path,
    prototxt: str,
    x: np.ndarray,
    output: str,
    blobs: dict[str, list[np.ndarray]] | None = None,
    v1: bool = False,
    legacy_dims: bool = False,
) -> np.ndarray:
    """Convert `prototxt` (+ blobs), run its test net on `x` (float64, numpy backend) and
    return the blob the Caffe top `output` became."""
    import mocha
    from mocha.backend_choice import make_backend

    tmp_path.mkdir(parents=True, exist_ok=True)
    net_path = tmp_path / "net.prototxt"
    net_path.write_text(prototxt, encoding="utf-8")
    weights = write_caffemodel(tmp_path / "w.caffemodel", blobs, v1, legacy_dims) if blobs else None
    conv = caffe.convert(net_path, weights, name="net")
    out_dir = tmp_path / "out"
    paths = caffe.write_experiment(conv, out_dir)
    model = paths.get("model")
    layers = caffe.load_layers(conv, "test", out_dir)
    backend = make_backend("numpy", dtype="float64")
    backend.init()
    try:
        result = mocha.predict(
            layers,
            x,
            model=model or _empty_model(out_dir),
            output=conv.blobs.get(output, output),
            backend=backend,
        )
    finally:
        backend.shutdown()
    return result.outputs


def _empty_model(folder: Path) -> Path:
    import h5py

    path = folder / "empty.h5"
    with h5py.File(path, "w"):
        pass
    return path


def input_layer(shape: tuple[int, ...], top: str = "data") -> str:
    dims = " ".join(f"dim: {d}" for d in shape)
    return (
        f'layer {{ name: "input" type: "Input" top: "{top}" '
        f"input_param {{ shape {{ {dims} }} }} }}\n"
    )


# ---- NumPy implementations of Caffe's definitions ------------------------------------------


def conv(x, w, b, pad, stride, group=1):
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh, ow = (h + 2 * pad[0] - kh) // stride[0] + 1, (wd + 2 * pad[1] - kw) // stride[1] + 1
    y = np.zeros((n, f, oh, ow))
    fg = f // group
    for g in range(group):
        for i in range(oh):
            for j in range(ow):
                patch = xp[
                    :,
                    g * cg : (g + 1) * cg,
                    i * stride[0] : i * stride[0] + kh,
                    j * stride[1] : j * stride[1] + kw,
                ]
                y[:, g * fg : (g + 1) * fg, i, j] = np.einsum(
                    "nchw,fchw->nf", patch, w[g * fg : (g + 1) * fg]
                )
    return y + b.reshape(1, -1, 1, 1)


def pool(x, kernel, stride, pad, mode):
    """Caffe's PoolingLayer forward (MAX / AVE), rounded-up output size."""
    n, c, h, w = x.shape
    oh = int(math.ceil((h + 2 * pad[0] - kernel[0]) / stride[0])) + 1
    ow = int(math.ceil((w + 2 * pad[1] - kernel[1]) / stride[1])) + 1
    if pad[0] or pad[1]:
        if (oh - 1) * stride[0] >= h + pad[0]:
            oh -= 1
        if (ow - 1) * stride[1] >= w + pad[1]:
            ow -= 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * stride[0] - pad[0], j * stride[1] - pad[1]
            he, we = min(hs + kernel[0], h + pad[0]), min(ws + kernel[1], w + pad[1])
            size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            win = x[:, :, hs:he, ws:we]
            y[:, :, i, j] = win.max(axis=(2, 3)) if mode == "MAX" else win.sum(axis=(2, 3)) / size
    return y


def lrn_across(x, size, alpha, beta, k):
    pre = (size - 1) // 2
    sq = np.pad(x**2, ((0, 0), (pre, pre), (0, 0), (0, 0)))
    scale = k + alpha / size * sum(sq[:, i : i + x.shape[1]] for i in range(size))
    return x * scale**-beta


def lrn_within(x, size, alpha, beta):
    pre = (size - 1) // 2
    avg = pool(x**2, (size, size), (1, 1), (pre, pre), "AVE")
    return x * (1 + alpha * avg) ** -beta


def softmax(x, axis=1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
