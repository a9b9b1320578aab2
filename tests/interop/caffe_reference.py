"""An independent forward pass of a Caffe deploy net in plain NumPy (float64), written from
Caffe's layer definitions (caffe/src/caffe/layers/*.cpp), with random weights it draws itself.

`reference_forward(path, x, rng)` returns (every blob's last value, the weights by layer name
as Caffe's blob lists), so a test writes those weights into a `.caffemodel`, converts the
net with the converter and compares. Only the prototxt parsing is shared with the converter
(protobuf text format); the computation below shares nothing with it.
"""

from __future__ import annotations

import numpy as np
from caffe_helpers import lrn_across, lrn_within, pool
from numpy.lib.stride_tricks import sliding_window_view


def _pair(p, base, default=None):
    if p.HasField(f"{base}_h"):
        return int(getattr(p, f"{base}_h")), int(getattr(p, f"{base}_w"))
    name = "kernel_size" if base == "kernel" else base
    v = getattr(p, name)
    if isinstance(v, int):  # pooling: scalar fields
        return (int(v), int(v)) if p.HasField(name) else (default, default)
    v = list(v)
    if not v:
        return default, default
    return (int(v[0]), int(v[-1]))


def conv2d(x, w, b, pad, stride, group):
    """Caffe's Convolution: y[n,f] = Σ w[f,c,i,j]·x_pad[n, gC/G + c, s·h + i, s·w + j] + b[f]."""
    f, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
    fg = f // group
    outs = [
        np.einsum("nchwij,fcij->nfhw", win[:, g * cg : (g + 1) * cg], w[g * fg : (g + 1) * fg])
        for g in range(group)
    ]
    return np.concatenate(outs, axis=1) + b.reshape(1, -1, 1, 1)


def reference_forward(path, x: np.ndarray, rng: np.random.Generator):
    """Run the TEST-phase net at `path` on `x`; see the module docstring."""
    from mocha.plugins.formats.caffe.reader import read_net

    net = read_net(path)
    blobs: dict[str, np.ndarray] = {}
    weights: dict[str, list[np.ndarray]] = {}
    for layer in net.layers:
        if layer.phase == "train":
            continue
        t, bottoms = layer.type, [blobs[name] for name in layer.bottoms]
        if t in (
            "Input",
            "Data",
            "HDF5Data",
            "ImageData",
        ):  # a Data layer's x is given already transformed
            blobs.update({top: np.zeros((x.shape[0], 1)) for top in layer.tops[1:]})
            out = x
        elif t in ("SoftmaxWithLoss", "Accuracy"):
            continue
        elif t == "Sigmoid":
            out = 1 / (1 + np.exp(-bottoms[0]))
        elif t == "LRN":
            p = layer.get("lrn_param")
            a, beta, k = (float(np.float32(v)) for v in (p.alpha, p.beta, p.k))
            if p.norm_region == 1:
                out = lrn_within(bottoms[0], p.local_size, a, beta)
            else:
                out = lrn_across(bottoms[0], p.local_size, a, beta, k)
        elif t == "Convolution":
            p = layer.get("convolution_param")
            (k, pad, stride), c = (
                (_pair(p, "kernel"), _pair(p, "pad", 0), _pair(p, "stride", 1)),
                bottoms[0].shape[1],
            )
            w = rng.normal(size=(p.num_output, c // p.group, *k)) / np.sqrt(
                c / p.group * k[0] * k[1]
            )
            bias = rng.normal(size=p.num_output) * 0.1 if p.bias_term else np.zeros(p.num_output)
            weights[layer.name] = [w, bias] if p.bias_term else [w]
            out = conv2d(bottoms[0], w, bias, pad, stride, p.group)
        elif t == "BatchNorm":
            # Caffe: μ = blob0 / s, σ² = blob1 / s, s = blob2 (1/s taken as 0 when s = 0);
            # global statistics in TEST; y = (x − μ) / sqrt(σ² + eps)
            c = bottoms[0].shape[1]
            sf = rng.uniform(0.5, 2.0, size=1)
            mean, var = rng.normal(size=c) * 0.2 * sf, rng.uniform(0.5, 2.0, size=c) * sf
            weights[layer.name] = [mean, var, sf]
            shape = (1, c) + (1,) * (bottoms[0].ndim - 2)
            eps = float(np.float32(layer.get("batch_norm_param").eps))  # ~1e-5
            out = (bottoms[0] - (mean / sf).reshape(shape)) / np.sqrt(
                (var / sf).reshape(shape) + eps
            )
        elif t == "Scale":  # y = γ_c·x + β_c (one bottom, axis 1, num_axes 1)
            p = layer.get("scale_param")
            c = bottoms[0].shape[1]
            gamma = rng.uniform(0.5, 1.5, size=c)
            beta = rng.normal(size=c) * 0.1
            weights[layer.name] = [gamma, beta] if p.bias_term else [gamma]
            shape = (1, c) + (1,) * (bottoms[0].ndim - 2)
            out = bottoms[0] * gamma.reshape(shape) + (beta.reshape(shape) if p.bias_term else 0)
        elif t == "Dropout":  # Caffe's TEST phase passes the data through
            out = bottoms[0]
        elif t == "ReLU":
            out = np.maximum(bottoms[0], 0)
        elif t == "Concat":  # along channels (GoogLeNet's inception outputs)
            out = np.concatenate(bottoms, axis=layer.get("concat_param").axis)
        elif t == "Eltwise":  # SUM (ResNet's shortcut)
            out = sum(bottoms[1:], bottoms[0])
        elif t == "Pooling":
            p = layer.get("pooling_param")
            k = bottoms[0].shape[2:] if p.global_pooling else _pair(p, "kernel")
            out = pool(
                bottoms[0],
                k,
                _pair(p, "stride", 1),
                _pair(p, "pad", 0),
                "MAX" if p.pool == 0 else "AVE",
            )
        elif t == "InnerProduct":
            p = layer.get("inner_product_param")
            flat = bottoms[0].reshape(bottoms[0].shape[0], -1)
            w = rng.normal(size=(p.num_output, flat.shape[1])) / np.sqrt(flat.shape[1])
            bias = rng.normal(size=p.num_output) * 0.1
            weights[layer.name] = [w, bias]
            out = flat @ w.T + bias
        elif t == "Softmax":
            e = np.exp(bottoms[0] - bottoms[0].max(axis=1, keepdims=True))
            out = e / e.sum(axis=1, keepdims=True)
        else:
            raise NotImplementedError(f"reference: Caffe layer type {t}")
        blobs[layer.tops[0]] = out
    return blobs, weights
