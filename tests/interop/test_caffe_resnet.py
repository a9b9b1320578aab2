"""Caffe's BatchNorm and Scale, in and out: small nets against NumPy implementations of
Caffe's definitions, and the real ResNet-50 deploy net (KaimingHe, ../shared/data/caffe/zoo)
with random weights against an independent NumPy forward pass (caffe_reference.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("google.protobuf")

from caffe_helpers import input_layer, run, write_caffemodel  # noqa: E402
from caffe_reference import reference_forward  # noqa: E402

from mocha.interop import caffe  # noqa: E402

ZOO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "caffe" / "zoo"
RESNET50 = ZOO / "extra/KaimingHe/deep-residual-networks/prototxt/ResNet-50-deploy.prototxt"
RNG = np.random.default_rng(5)


def _stats(c: int, sf: float = 4.0):
    mean = RNG.normal(size=c) * sf
    var = RNG.uniform(0.5, 2.0, size=c) * sf
    return mean, var, np.array([sf])


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (4, 3)])
def test_batch_norm_stored_statistics_divided_by_the_scale_factor(tmp_path, shape):
    x = RNG.normal(size=shape)
    mean, var, sf = _stats(3)
    net = input_layer(shape) + (
        'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "data" '
        "batch_norm_param { use_global_stats: true eps: 0.001 } }"
    )
    got = run(tmp_path, net, x, "data", {"bn": [mean, var, sf]})
    b = (1, 3) + (1,) * (len(shape) - 2)
    eps = 0.001
    want = (x - (mean / sf).reshape(b)) / np.sqrt((var / sf).reshape(b) + eps)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_batch_norm_zero_scale_factor_means_zero_statistics_as_caffe(tmp_path):
    x = RNG.normal(size=(2, 3, 2, 2))
    net = input_layer(x.shape) + (
        'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "y" '
        "batch_norm_param { use_global_stats: true } }"
    )
    got = run(tmp_path, net, x, "y", {"bn": [np.ones(3), np.ones(3), np.zeros(1)]})
    np.testing.assert_allclose(got, x / np.sqrt(1e-5), rtol=1e-10)


def test_batch_norm_with_batch_statistics(tmp_path):
    x = RNG.normal(size=(4, 3, 2, 3)) * 3 + 1
    net = input_layer(x.shape) + (
        'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "y" '
        "batch_norm_param { use_global_stats: false } }"
    )
    got = run(tmp_path, net, x, "y", {"bn": list(_stats(3))})
    mu, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(got, (x - mu) / np.sqrt(var + 1e-5), rtol=1e-9)


def test_batch_norm_fields_follow_the_phase_by_default(tmp_path):
    net = tmp_path / "n.prototxt"
    net.write_text(
        input_layer((2, 3, 4, 4))
        + 'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "data" '
        "batch_norm_param { moving_average_fraction: 0.9 } }"
    )
    table = caffe.convert(net).layers[-1]
    assert table["type"] == "BatchNormLayer" and "use_global_stats" not in table
    assert table["moving_average_fraction"] == pytest.approx(0.9) and table["eps"] == 1e-5
    conv = caffe.convert(net)
    caffe.write_experiment(conv, tmp_path / "out")
    layer = next(x for x in caffe.load_layers(conv, "test", tmp_path / "out") if x.name == "bn")
    assert layer.momentum == 0 and layer.use_global_stats is None  # Caffe's rule, by phase


@pytest.mark.parametrize("bias", [True, False])
def test_scale_per_channel(tmp_path, bias):
    x = RNG.normal(size=(2, 3, 4, 5))
    gamma, beta = RNG.normal(size=3), RNG.normal(size=3)
    net = input_layer(x.shape) + (
        'layer { name: "s" type: "Scale" bottom: "data" top: "data" '
        f"scale_param {{ bias_term: {str(bias).lower()} }} }}"
    )
    got = run(tmp_path, net, x, "data", {"s": [gamma, beta] if bias else [gamma]})
    want = x * gamma.reshape(1, 3, 1, 1) + (beta.reshape(1, 3, 1, 1) if bias else 0)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_scale_axes_and_a_second_bottom(tmp_path):
    x = RNG.normal(size=(2, 3, 4, 5))
    s2 = RNG.normal(size=(4, 5))
    net = input_layer(x.shape) + (
        'layer { name: "s" type: "Scale" bottom: "data" top: "y" '
        "scale_param { axis: 2 num_axes: 2 } }\n"
        'layer { name: "g" type: "Scale" bottom: "y" bottom: "data" top: "z" '
        "scale_param { axis: 0 bias_term: true } }"
    )
    beta = RNG.normal(size=(2, 3, 4, 5))
    got = run(tmp_path, net, x, "z", {"s": [s2], "g": [beta]})
    np.testing.assert_allclose(got, x * s2 * x + beta, rtol=1e-12)


def test_wrong_blob_counts_and_fillers_are_named(tmp_path):
    net = input_layer((2, 3, 4, 4)) + (
        'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "data" }'
    )
    with pytest.raises(caffe.CaffeError, match=r"'bn'.*2 blobs; expected 3"):
        run(tmp_path, net, np.zeros((2, 3, 4, 4)), "data", {"bn": [np.ones(3), np.ones(3)]})
    bad = tmp_path / "f.prototxt"
    bad.write_text(
        input_layer((2, 3, 4, 4)) + 'layer { name: "sc" type: "Scale" bottom: "data" top: "data" '
        'scale_param { filler { type: "gaussian" } } }'
    )
    with pytest.raises(caffe.CaffeError, match=r"'sc'.*gaussian"):
        caffe.convert(bad)


def _resnet50(tmp_path: Path, size: int, narrow: int = 1) -> tuple[np.ndarray, np.ndarray, Path]:
    """ResNet-50 at a `size`² input (below 224, pool5's 7×7 becomes global pooling, as it
    is at 224), every num_output divided by `narrow` (the same layers and topology, fewer
    weights to write and read); returns the reference and converted fc1000 outputs."""
    text = RESNET50.read_text()
    if narrow != 1:
        text = re.sub(r"num_output: (\d+)", lambda m: f"num_output: {int(m[1]) // narrow}", text)
    if size != 224:
        text = text.replace("input_dim: 224", f"input_dim: {size}")
        head, tail = text.split('name: "pool5"')
        tail = tail.replace("kernel_size: 7", "global_pooling: true", 1)
        text = head + 'name: "pool5"' + tail
    proto = tmp_path / "resnet50.prototxt"
    proto.write_text(text)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 3, size, size))
    blobs, weights = reference_forward(proto, x, rng)
    write_caffemodel(tmp_path / "w.caffemodel", weights)
    import mocha
    from mocha.backend_choice import make_backend

    conv = caffe.convert(proto, tmp_path / "w.caffemodel", name="net")
    paths = caffe.write_experiment(conv, tmp_path / "out")
    backend = make_backend("numpy", dtype="float64")
    backend.init()
    try:
        got = mocha.predict(
            caffe.load_layers(conv, "test", tmp_path / "out"),
            x,
            model=paths["model"],
            output=conv.blobs["fc1000"],
            backend=backend,
        ).outputs
    finally:
        backend.shutdown()
    assert sum(t["type"] == "BatchNormLayer" for t in conv.layers) == 53
    assert sum(t["type"] == "ScaleLayer" for t in conv.layers) == 53
    return blobs["fc1000"], got, proto


@pytest.mark.filterwarnings("ignore")
def test_resnet50_narrow_small_input_matches_the_reference(tmp_path):
    want, got, _ = _resnet50(tmp_path, 32, narrow=16)
    assert np.abs(want).max() > 0.1
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_resnet50_at_224_matches_the_reference(tmp_path):
    want, got, _ = _resnet50(tmp_path, 224)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())


@pytest.mark.filterwarnings("ignore")
def test_batch_norm_and_scale_export_back_to_the_same_layers(tmp_path):
    proto = tmp_path / "n.prototxt"
    proto.write_text(
        input_layer((2, 3, 5, 5)) + 'layer { name: "c" type: "Convolution" bottom: "data" top: "c" '
        "convolution_param { num_output: 4 kernel_size: 3 } }\n"
        'layer { name: "bn" type: "BatchNorm" bottom: "c" top: "c" '
        "batch_norm_param { use_global_stats: true eps: 0.0001 } }\n"
        'layer { name: "sc" type: "Scale" bottom: "c" top: "c" scale_param { bias_term: true } '
        "param { lr_mult: 2 decay_mult: 0 } param { lr_mult: 0.5 decay_mult: 0 } }\n"
        'layer { name: "bn2" type: "BatchNorm" bottom: "c" top: "d" }'
    )
    weights = {
        "c": [RNG.normal(size=(4, 3, 3, 3)), RNG.normal(size=4)],
        "bn": list(_stats(4)),
        "sc": [RNG.normal(size=4), RNG.normal(size=4)],
        "bn2": list(_stats(4, 0.5)),
    }
    write_caffemodel(tmp_path / "w.caffemodel", weights)
    first = caffe.convert(proto, tmp_path / "w.caffemodel")
    sc = next(t for t in first.layers if t["name"] == "sc")
    assert (sc["scale_lr"], sc["bias_lr"]) == (2.0, 0.5) and not first.notes[1:]
    paths = caffe.write_experiment(first, tmp_path / "a")
    written = caffe.export_experiment(paths["experiment"], tmp_path / "caffe", model=paths["model"])
    text = written[0].read_text()
    assert text.count('type: "BatchNorm"') == 2 and "use_global_stats: true" in text
    second = caffe.convert(*written)
    assert second.layers == first.layers
    assert second.params.keys() == first.params.keys()
    for key, value in first.params.items():
        np.testing.assert_array_equal(second.params[key], value)


def test_affine_batch_norm_exports_as_batch_norm_and_scale(tmp_path):
    import h5py

    from mocha.core.io.model import dataset_name

    (tmp_path / "e.toml").write_text(
        """name = "e"
[backend]
name = "numpy"
[[layers]]
type = "MemoryDataLayer"
name = "in"
tops = ["x"]
batch_size = 2
source = "x.h5"
[[layers]]
type = "BatchNormLayer"
name = "bn"
affine = true
use_global_stats = true
bottoms = ["x"]
tops = ["y"]
"""
    )
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["x"] = RNG.normal(size=(2, 3, 2, 2))
    stats = dict(zip(("mean", "variance", "scale_factor"), _stats(3, 2.0)))
    stats |= {"scale": RNG.normal(size=3), "bias": RNG.normal(size=3)}
    with h5py.File(tmp_path / "m.h5", "w") as f:
        for k, v in stats.items():
            f[dataset_name("bn", k)] = v.astype(np.float32)
    written = caffe.export_experiment(tmp_path / "e.toml", tmp_path / "c", model=tmp_path / "m.h5")
    back = caffe.convert(*written)
    kinds = [(t["type"], t["name"]) for t in back.layers]
    assert ("BatchNormLayer", "bn") in kinds and ("ScaleLayer", "bn-affine") in kinds
    np.testing.assert_array_equal(back.params["bn-affine___scale"], stats["scale"].astype("f4"))
    np.testing.assert_array_equal(back.params["bn___scale_factor"], [np.float32(2.0)])
