"""The manual's last spellings (issue 28 item 10): make_blob / make_zero_blob in the manual's
argument order (dtype kept), readable SolverParameters fields, `copy_from` of a blob,
`size(blob, d)` past the last axis, `length`, the free functions `forward_backward`,
`get_epoch`, `trainable_layers`, an ImageClassifier that wraps a net with the manual's
keywords, a warning for Julia-looking `dim`s, and `mocha describe Adam` with defaults."""

from __future__ import annotations

import copy
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import mocha
from mocha import (
    ConcatLayer,
    InnerProductLayer,
    MemoryDataLayer,
    Net,
    SoftmaxLayer,
    SoftmaxLossLayer,
    freeze,
)
from mocha.plugins.backends.numpy_backend import NumpyBackend

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def backend():
    b = NumpyBackend()
    b.init()
    yield b
    b.shutdown()


def test_make_blob_in_the_manuals_argument_order(backend):
    # Mocha: make_blob(backend, Float32, dims...), make_zero_blob(backend, Float32, dims...)
    assert mocha.make_blob(backend, np.float32, 2, 3).shape == (2, 3)
    assert mocha.make_blob(backend, np.float64, (2, 3)).dtype == np.float64
    assert mocha.make_blob(backend, "Float32", 4).dtype == np.float32
    zero = mocha.make_zero_blob(backend, np.float64, 2, 5)
    assert zero.shape == (2, 5) and zero.dtype == np.float64 and not zero.to_host().any()
    assert mocha.make_zero_blob(backend, (3, 4)).dtype == backend.dtype  # the old spelling
    assert mocha.make_zero_blob(backend, (3, 4), np.float64).dtype == np.float64
    # an array keeps its dtype (Mocha's blob has the array's eltype)
    a = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    blob = mocha.make_blob(backend, a)
    assert blob.dtype == np.float64
    np.testing.assert_array_equal(blob.to_host(), a)
    assert mocha.make_blob(backend, a.astype(np.float32)).dtype == np.float32
    with pytest.raises(TypeError, match="dims must be non-negative ints"):
        mocha.make_blob(backend, np.float32, 2, -1)


def test_solver_parameters_fields_are_readable():
    params = mocha.make_solver_parameters(mocha.SGD(), max_iter=7, regu_coef=0.1)
    assert params.max_iter == 7 and params.regu_coef == 0.1
    assert params.lr_policy is params["lr_policy"]
    assert not hasattr(params, "no_such_parameter")
    with pytest.raises(AttributeError, match="no_such_parameter"):
        params.no_such_parameter  # noqa: B018
    assert params.copy(max_iter=9).max_iter == 9 and copy.copy(params).max_iter == 7
    assert params.keys() == params.copy().keys()  # dict methods are still methods


def test_blob_spellings(backend):
    src = backend.from_host(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    dst = backend.zeros((2, 3, 4))
    dst.copy_from(src)  # Mocha's copy!(dst, src) of two blobs
    np.testing.assert_array_equal(dst.to_host(), src.to_host())
    with pytest.raises(ValueError, match="cannot copy an array of shape"):
        backend.zeros((3, 2, 4)).copy_from(src)
    assert mocha.size(src) == (2, 3, 4)
    assert [mocha.size(src, d) for d in range(5)] == [2, 3, 4, 1, 1]  # 1 past the last axis
    assert mocha.size(src, -1) == 4
    assert mocha.length(src) == 24 == src.size  # Mocha's length: the number of elements
    assert len(src) == 2  # Python's len: the batch size, as for a numpy array


def _net(backend, **softmax):
    x = np.random.default_rng(0).normal(size=(6, 3, 4, 5)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 4, (6, 1)).astype(np.float32)
    return Net(
        "n",
        backend,
        [
            MemoryDataLayer(data=[x, y], batch_size=3),
            InnerProductLayer(name="ip", output_dim=4, bottoms=["data"], tops=["ip"]),
            SoftmaxLayer(name="prob", bottoms=["ip"], tops=["prob"], **softmax),
            SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )


def test_free_functions_forward_backward_get_epoch_trainable_layers(backend):
    net = _net(backend)
    net.init()
    assert mocha.get_epoch(net) == 0
    obj = mocha.forward_backward(net)
    assert np.isfinite(obj) and obj > 0
    assert net.states[1].parameters[0].gradient.to_host().any()  # the backward ran
    mocha.forward_backward(net)
    assert mocha.get_epoch(net) == 1  # 6 samples, batches of 3
    ip = [i for i, layer in enumerate(net.layers) if layer.name == "ip"]
    assert mocha.trainable_layers(net) == ip
    freeze(net, "ip")
    assert mocha.trainable_layers(net) == []
    net.shutdown()


def test_image_classifier_wraps_a_net_with_the_manuals_keywords(backend):
    pytest.importorskip("PIL")
    rng = np.random.default_rng(3)
    net = Net(
        "run",
        backend,
        [
            MemoryDataLayer(tops=["data"], data=[np.zeros((1, 3, 4, 5), np.float32)], batch_size=1),
            InnerProductLayer(name="ip", output_dim=3, bottoms=["data"], tops=["ip"]),
            SoftmaxLayer(name="prob", bottoms=["ip"], tops=["prob"]),
        ],
    )
    net.init()
    classes = ["cat", "dog", "bird"]
    classifier = mocha.ImageClassifier(
        net, "prob", channel_order=(3, 2, 1), sp_order=(2, 1), grayscale=False, classes=classes
    )
    # sp_order=(2, 1): the net is trained on transposed images (H and W swapped): a 5x4 image
    image = rng.integers(0, 256, (5, 4, 3)).astype(np.uint8)  # H=5, W=4, RGB
    probs, name = classifier.classify([image])[0]  # Mocha's `prob, class = classify(...)`
    x = image.astype(np.float32).transpose(2, 1, 0)[::-1]  # (C, W, H) = (3, 4, 5), BGR
    want = mocha.predict(net, x[None], output="prob")
    np.testing.assert_allclose(probs, want.probabilities[0], rtol=1e-5)
    assert name == classes[int(want.classes[0])]
    with pytest.raises(mocha.MochaError, match="channel_order must order 1..3"):
        mocha.ImageClassifier(net, "prob", channel_order=(0, 1, 2))
    with pytest.raises(mocha.MochaError, match="grayscale=True, but the net takes 3"):
        mocha.ImageClassifier(net, "prob", grayscale=True)
    net.shutdown()


def _softmax_net(backend, **softmax):
    x = np.zeros((2, 3, 4, 5), np.float32)
    return Net(
        "s",
        backend,
        [
            MemoryDataLayer(tops=["data"], data=[x], batch_size=2),
            SoftmaxLayer(name="prob", bottoms=["data"], tops=["prob"], **softmax),
        ],
    )


def test_a_julia_looking_dim_is_warned_about(backend):
    with pytest.warns(UserWarning, match=r"dim=-2 is numpy axis 2 .* write dim=1 if the layer"):
        _softmax_net(backend, dim=-2).shutdown()
    with pytest.warns(UserWarning, match=r"dim=3 is numpy axis 3 .* or dim=-1 to mean"):
        _softmax_net(backend, dim=3).shutdown()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _softmax_net(backend).shutdown()  # the default, numpy's channel axis 1
        _softmax_net(backend, dim=2).shutdown()  # the axes spelled the other way: no warning
        _softmax_net(backend, dim=-1).shutdown()
    x = np.zeros((2, 3, 4, 5), np.float32)
    with pytest.warns(UserWarning, match=r"ConcatLayer\('cat'\): dim=3 is numpy axis 3"):
        Net(
            "c",
            backend,
            [
                MemoryDataLayer(tops=["a", "b"], data=[x, x], batch_size=2),
                ConcatLayer(name="cat", dim=3, bottoms=["a", "b"], tops=["c"]),
            ],
        ).shutdown()


def test_describe_adam_lists_its_parameters_with_defaults(app_runner):
    app, runner = app_runner
    result = runner.invoke(app, ["describe", "Adam", "--json"])
    assert result.exit_code == 0, result.output
    fields = {f["name"]: f["default"] for f in json.loads(result.stdout)["fields"]}
    assert fields["beta1"] == 0.9 and fields["beta2"] == 0.999 and fields["epsilon"] == 1e-8
    assert fields["lr_policy"] == "LRPolicy.Inv(0.003, 0.0001, 0.5)"
    assert fields["max_iter"] == "inf" and fields["regu_coef"] == 0.0005
    text = runner.invoke(app, ["describe", "Adam"]).stdout
    assert re.search(r"beta2\s*│\s*float\s*│\s*0\.999", text)


@pytest.fixture
def app_runner():
    from typer.testing import CliRunner

    from mocha.cli.app import make_app

    return make_app(), CliRunner()


def test_porting_table_names_exist():
    """Every free function the porting table gives as "the same" exists in mocha."""
    text = (ROOT / "docs" / "porting.md").read_text(encoding="utf-8")
    for name in ("forward_backward", "get_epoch", "trainable_layers", "size", "length"):
        assert f"`{name}" in text, name
        assert callable(getattr(mocha, name))
    assert "ImageClassifier(net" in text and mocha.ImageClassifier
