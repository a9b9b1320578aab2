"""PoolingLayer's `ceil_mode`, `global_pooling` and `count_include_pad` on export: ONNX
reproduces each (checked with onnxruntime) or refuses the one divisor it has no count for;
Caffe (which always rounds up and divides by the padded count) gets what it can express and
refuses the rest by name."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_support import check_export, make_net

import mocha
from mocha.plugins.formats.onnx import OnnxError
from mocha.plugins.formats.onnx import export_net as export


def images(n=3, c=2, h=9, w=8):
    return np.random.default_rng(0).standard_normal((n, c, h, w)).astype(np.float32)


def pool(**kw):
    return mocha.PoolingLayer(name="p", bottoms=["data"], tops=["y"], **kw)


@pytest.mark.parametrize(
    "kw",
    [
        {"kernel": 3, "stride": 2, "pad": 1, "ceil_mode": False},
        {"kernel": 3, "stride": 2, "pad": 1, "ceil_mode": False, "pooling": "mean"},
        {"kernel": 3, "stride": 2, "pad": 1, "pooling": "mean", "count_include_pad": False},
        {"kernel": 2, "stride": 2, "pad": 1, "pooling": "mean", "count_include_pad": False},
        {"kernel": 3, "stride": 2, "pad": 1, "pooling": "mean", "count_include_pad": True,
         "ceil_mode": False},
        {"global_pooling": True},
        {"global_pooling": True, "pooling": "mean"},
    ],
)  # fmt: skip
def test_onnx_export_matches_onnxruntime(kw):
    pytest.importorskip("onnxruntime")
    check_export([pool(**kw)], {"data": images()})


def test_onnx_refuses_a_padded_count_it_cannot_express():
    pytest.importorskip("onnx")
    layer = pool(kernel=2, stride=2, pad=1, pooling="mean", count_include_pad=True)
    net = make_net([layer], {"data": images(h=4, w=4)})  # windows [-1,1) [1,3) [3,5)
    export(net)  # every window inside the padded input [-1, 5): exact, accepted
    net.shutdown()
    layer = pool(kernel=3, stride=2, pad=1, pooling="mean", count_include_pad=True)
    net = make_net([layer], {"data": images(h=4, w=4)})  # last window [3, 6) passes 4 + 1
    with pytest.raises(OnnxError, match=r"count_include_pad = true whose last window runs"):
        export(net)
    net.shutdown()


CAFFE = """name = "p"
[backend]
name = "numpy"
[[layers]]
type = "MemoryDataLayer"
name = "data"
source = "arrays.h5"
batch_size = 2
tops = ["data"]
[[layers]]
type = "PoolingLayer"
name = "pool"
bottoms = ["data"]
tops = ["y"]
{fields}
"""


def _caffe_export(tmp_path, fields, size=7):
    pytest.importorskip("google.protobuf")
    import h5py

    from mocha.interop import caffe

    with h5py.File(tmp_path / "arrays.h5", "w") as f:
        f["data"] = images(n=2, h=size, w=size)
    (tmp_path / "p.toml").write_text(CAFFE.format(fields=fields))
    return caffe, caffe.export_experiment(tmp_path / "p.toml", tmp_path / "caffe")


def test_caffe_export_of_global_and_padded_mean_pooling(tmp_path):
    caffe, written = _caffe_export(
        tmp_path, 'global_pooling = true\npooling = "mean"\ncount_include_pad = true'
    )
    text = written[0].read_text()
    assert "kernel_h: 7" in text and "kernel_w: 7" in text and "pool: AVE" in text


@pytest.mark.parametrize(
    "fields, message",
    [
        ("kernel = 3\nstride = 2\npad = 1\nceil_mode = false", "ceil_mode = false"),
        (
            'kernel = 3\nstride = 2\npad = 1\npooling = "mean"\ncount_include_pad = false',
            "count_include_pad = false",
        ),
    ],
)
def test_caffe_export_refuses_what_caffe_cannot_compute(tmp_path, fields, message):
    with pytest.raises(mocha.MochaError, match=message):  # 8: 4 rounded down, 5 up
        _caffe_export(tmp_path, fields, size=8)


def test_caffe_export_of_floor_rounding_where_it_equals_ceil(tmp_path):
    _, written = _caffe_export(tmp_path, "kernel = 3\nstride = 2\nceil_mode = false")
    assert "kernel_h: 3" in written[0].read_text()  # (7 − 3)/2 + 1 = 3 either way
