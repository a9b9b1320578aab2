"""Every registered layer, built by name from a small valid configuration, runs forward (and
backward where it can) on every available backend and agrees with the float64 NumPy reference
(`mocha.testing.check_layer`, with the finite-difference gradient check on the reference).

A layer registered without an entry in CASES fails with "add a configuration for X": a new
layer gets at least this smoke test on every backend. The layer's own test file checks its
semantics against an oracle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import mocha
from mocha.core.parameter import make_parameter
from mocha.testing import LayerHarness, check_layer

RNG = np.random.default_rng(2024)


def L(registered_name: str, /, **fields: Any) -> mocha.Layer:  # noqa: N802
    """A layer looked up by its registered name (the way a third-party one would be)."""
    return mocha.lookup("layers", registered_name)(**fields)


def normal(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def uniform(low: float, high: float, *shape: int) -> np.ndarray:
    return RNG.uniform(low, high, shape)


def labels(n_class: int, *shape: int) -> np.ndarray:
    return RNG.integers(0, n_class, shape).astype(np.float64)


def signs(*shape: int) -> np.ndarray:
    return np.where(RNG.random(shape) < 0.5, -1.0, 1.0)


def distributions(*shape: int) -> np.ndarray:
    e = np.exp(normal(*shape))
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class Case:
    """How to build one layer and what to feed it. `make(tmp_path)` returns the layer."""

    make: Callable[[Path], mocha.Layer]
    inputs: list[np.ndarray] = field(default_factory=list)
    no_grad: tuple[int, ...] = ()  # bottoms that want no gradient (labels)
    compare: bool = True  # False: run on the backend only (layers writing files)
    gradcheck: bool = True
    prepare: Callable[[Any], None] | None = None  # registers what the layer looks up
    shapes: list[tuple[int, ...]] | None = None  # expected top shapes


def _hdf5_source(tmp: Path) -> str:
    """Two HDF5 files (7 + 5 samples) listed in a source file; returns the list's path."""
    for i, n in enumerate((7, 5)):
        with h5py.File(tmp / f"part{i}.h5", "w") as f:
            f["data"] = np.arange(n * 6, dtype=np.float32).reshape(n, 2, 3) + 100 * i
            f["label"] = labels(3, n, 1).astype(np.float32)
    (tmp / "source.txt").write_text("part0.h5\npart1.h5\n")
    return str(tmp / "source.txt")


ENCODER_W = normal(3, 5)


def _register_encoder(backend: Any) -> None:
    """What TiedInnerProductLayer needs: an encoder weight (3, 5) under the key "enc"."""
    from mocha.plugins.components.constraints import NoCons
    from mocha.plugins.components.regularizers import NoRegu

    w = make_parameter(backend, "weight", (3, 5), mocha.NullInitializer(), NoRegu(), NoCons(),
                       1.0, "enc", None)
    w.blob.copy_from(ENCODER_W)
    backend.param_registry["enc"] = [w]


CASES: dict[str, Case] = {
    "AccuracyLayer": Case(lambda t: L("AccuracyLayer", bottoms=["p", "y"]),
                          [normal(4, 3), labels(3, 4, 1)]),
    "ArgmaxLayer": Case(lambda t: L("ArgmaxLayer", dim=2, bottoms=["x"], tops=["y"]),
                        [normal(4, 3, 5)], shapes=[(4, 3, 1)]),
    "AsyncHDF5DataLayer": Case(lambda t: L("AsyncHDF5DataLayer", source=_hdf5_source(t),
                                           batch_size=4, prefetch=2, chunk_size=3),
                               shapes=[(4, 2, 3), (4, 1)]),
    "BinaryAccuracyLayer": Case(lambda t: L("BinaryAccuracyLayer", bottoms=["p", "y"]),
                                [normal(4, 3), signs(4, 3)]),
    "BinaryCrossEntropyLossLayer": Case(
        lambda t: L("BinaryCrossEntropyLossLayer", weight=0.5, bottoms=["p", "y"]),
        [uniform(0.1, 0.9, 4, 3), uniform(0, 1, 4, 3)]),
    "ChannelPoolingLayer": Case(
        lambda t: L("ChannelPoolingLayer", kernel=3, stride=2, pad=1, bottoms=["x"],
                    tops=["y"]), [normal(2, 6, 3)], shapes=[(2, 4, 3)]),
    "ConcatLayer": Case(lambda t: L("ConcatLayer", dim=1, bottoms=["a", "b"], tops=["y"]),
                        [normal(2, 3, 2), normal(2, 1, 2)], shapes=[(2, 4, 2)]),
    "ConvolutionLayer": Case(
        lambda t: L("ConvolutionLayer", name="conv", n_filter=4, kernel=3, pad=1, stride=2,
                    n_group=2, neuron=mocha.Neurons.Tanh(), bottoms=["x"], tops=["y"]),
        [normal(2, 4, 5, 5)], shapes=[(2, 4, 3, 3)]),
    "CropLayer": Case(lambda t: L("CropLayer", crop_size=(3, 4), bottoms=["x"], tops=["y"]),
                      [normal(2, 3, 5, 6)], shapes=[(2, 3, 3, 4)]),
    "DropoutLayer": Case(lambda t: L("DropoutLayer", ratio=0.3, bottoms=["x"]),
                         [normal(4, 5)]),
    "ElementWiseLayer": Case(
        lambda t: L("ElementWiseLayer", operation="Multiply", bottoms=["a", "b"], tops=["y"]),
        [normal(3, 4), normal(3, 4)], shapes=[(3, 4)]),
    "GaussianKLLossLayer": Case(lambda t: L("GaussianKLLossLayer", weight=0.7),
                                [normal(4, 3), uniform(0.5, 1.5, 4, 3)]),
    "HDF5DataLayer": Case(lambda t: L("HDF5DataLayer", source=_hdf5_source(t), batch_size=4),
                          shapes=[(4, 2, 3), (4, 1)]),
    "HDF5OutputLayer": Case(
        lambda t: L("HDF5OutputLayer", filename=str(t / "out.h5"), bottoms=["a", "b"]),
        [normal(3, 2), normal(3, 4, 2)], compare=False),
    "HingeLossLayer": Case(lambda t: L("HingeLossLayer", bottoms=["p", "y"]),
                           [normal(4, 3), signs(4, 3)]),
    "IdentityLayer": Case(lambda t: L("IdentityLayer", bottoms=["a", "b"], tops=["c", "d"]),
                          [normal(3, 4), normal(2, 2)], shapes=[(3, 4), (2, 2)]),
    "Index2OnehotLayer": Case(
        lambda t: L("Index2OnehotLayer", n_class=4, bottoms=["x"], tops=["y"]),
        [labels(4, 5, 1)], shapes=[(5, 4)]),
    "InnerProductLayer": Case(
        lambda t: L("InnerProductLayer", name="ip", output_dim=4,
                    neuron=mocha.Neurons.Sigmoid(), bottoms=["x"], tops=["y"]),
        [normal(3, 2, 2)], shapes=[(3, 4)]),
    "LRNLayer": Case(lambda t: L("LRNLayer", kernel=3, bottoms=["x"], tops=["y"]),
                     [normal(2, 5, 3, 3)], shapes=[(2, 5, 3, 3)]),
    "MemoryDataLayer": Case(
        lambda t: L("MemoryDataLayer", data=[np.arange(30.0).reshape(5, 2, 3),
                                             np.arange(5.0).reshape(5, 1)], batch_size=2),
        shapes=[(2, 2, 3), (2, 1)]),
    "MemoryOutputLayer": Case(lambda t: L("MemoryOutputLayer", bottoms=["a", "b"]),
                              [normal(3, 2), normal(3, 4)], compare=False),
    "MultinomialLogisticLossLayer": Case(
        lambda t: L("MultinomialLogisticLossLayer", bottoms=["p", "y"]),
        [distributions(4, 3), labels(3, 4, 1)], no_grad=(1,)),
    "PoolingLayer": Case(
        lambda t: L("PoolingLayer", kernel=3, stride=2, pad=1, bottoms=["x"], tops=["y"]),
        [normal(2, 3, 5, 5)], shapes=[(2, 3, 3, 3)]),
    "PowerLayer": Case(
        lambda t: L("PowerLayer", power=2.5, scale=0.7, shift=0.3, bottoms=["x"], tops=["y"]),
        [uniform(0.5, 2.0, 4, 3)], shapes=[(4, 3)]),
    "RandomMaskLayer": Case(lambda t: L("RandomMaskLayer", ratio=0.4, bottoms=["a", "b"]),
                            [normal(3, 4), normal(2, 5)]),
    "RandomNormalLayer": Case(
        lambda t: L("RandomNormalLayer", tops=["r1", "r2"], output_dims=(2, 3),
                    batch_sizes=(4, 2)), shapes=[(4, 2, 3), (2, 2, 3)]),
    "ReshapeLayer": Case(lambda t: L("ReshapeLayer", shape=(4, 3), bottoms=["x"], tops=["y"]),
                         [normal(2, 3, 4)], shapes=[(2, 4, 3)]),
    "SoftlabelSoftmaxLossLayer": Case(
        lambda t: L("SoftlabelSoftmaxLossLayer", bottoms=["p", "y"]),
        [normal(4, 3), distributions(4, 3)], no_grad=(1,)),
    "SoftmaxLayer": Case(lambda t: L("SoftmaxLayer", bottoms=["x"], tops=["y"]),
                         [normal(3, 4, 2)], shapes=[(3, 4, 2)]),
    "SoftmaxLossLayer": Case(lambda t: L("SoftmaxLossLayer", bottoms=["p", "y"]),
                             [normal(2, 3, 2, 2), labels(3, 2, 1, 2, 2)], no_grad=(1,)),
    "SplitLayer": Case(lambda t: L("SplitLayer", bottoms=["x"], tops=["a", "b", "c"]),
                       [normal(3, 4)], shapes=[(3, 4)] * 3),
    "SquareLossLayer": Case(lambda t: L("SquareLossLayer", bottoms=["p", "y"]),
                            [normal(4, 3), normal(4, 3)]),
    "TiedInnerProductLayer": Case(
        lambda t: L("TiedInnerProductLayer", name="dec", tied_param_key="enc",
                    bottoms=["h"], tops=["y"]),
        [normal(2, 3)], prepare=_register_encoder, shapes=[(2, 5)]),
    # gradcheck=False: d pred = log(u)/λ/N is the gradient of the *regularised* transport
    # cost (up to a constant per sample), not of the reported loss; test_wasserstein_loss.py
    # checks it by finite differences of that cost on the simplex.
    "WassersteinLossLayer": Case(
        lambda t: L("WassersteinLossLayer", M=[[0.0, 1.0, 2.0], [1.0, 0.0, 1.0],
                                               [2.0, 1.0, 0.0]], lambda_=3.0,
                    bottoms=["p", "y"]),
        [distributions(4, 3), distributions(4, 3)], gradcheck=False),
}


def _registered() -> list[str]:
    return [e.name for e in mocha.get_registry().entries("layers")
            if e.distribution == "mocha-dl"]


@pytest.mark.parametrize("name", sorted(set(_registered()) | set(CASES)))
def test_every_layer_has_a_configuration(name):
    if name not in CASES:
        pytest.fail(f"add a configuration for {name} to CASES in {Path(__file__).name}")
    assert name in _registered(), f"CASES lists {name}, which no plugin registers"


def _check_invariants(name: str, case: Case, h: LayerHarness) -> None:
    layer, state = h.layer, h.state
    assert type(layer).__name__ == name
    # the traits agree with what the layer does
    assert bool(state.parameters) == layer.has_param, f"{name}: has_param vs parameters"
    if layer.has_neuron:
        assert hasattr(layer, "neuron"), f"{name}: has_neuron but no neuron field"
    if layer.is_source:
        assert not layer.bottoms and not case.inputs, f"{name}: a source takes no bottoms"
    if layer.is_sink or layer.is_inplace:
        assert not layer.tops, f"{name}: sinks and in-place layers declare no tops"
        if layer.is_sink:
            assert not state.blobs, f"{name}: a sink produces no blobs"
    elif layer.can_do_bp:
        assert len(state.blobs_diff) == len(layer.tops), f"{name}: one top diff per top"
    if layer.is_sink or layer.is_inplace:
        tops = [x.to_host() for x in h.inputs] if layer.is_inplace else []
    else:
        assert len(state.blobs) == len(layer.tops), f"{name}: one blob per top"
        tops = h.tops()
        if case.shapes is not None:
            assert [t.shape for t in tops] == case.shapes
    for top in tops:
        assert np.all(np.isfinite(top)), f"{name}: a top is not finite"
    if layer.has_loss:
        assert np.isfinite(float(state.loss))
    if layer.can_do_bp:
        for d in h.diffs:
            if not d.is_null:
                assert np.all(np.isfinite(d.to_host())), f"{name}: a bottom diff is not finite"
    if layer.has_stats:
        stats = state.dump_statistics()
        assert stats and all(k.startswith(layer.name) for k in stats)
        assert all(np.isfinite(v) for v in stats.values())
        state.reset_statistics()


def _run_without_reference(case: Case, layer: mocha.Layer, backend: Any) -> LayerHarness:
    h = LayerHarness(layer, case.inputs, backend, no_grad=case.no_grad)
    h.forward()
    if layer.can_do_bp:
        h.backward([RNG.standard_normal(b.shape) for b in h.state.blobs])
    return h


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_layer_runs_on_every_backend(name, backend, tmp_path):
    if name not in _registered():
        pytest.fail(f"CASES lists {name}, which no plugin registers")
    case = CASES[name]
    layer = case.make(tmp_path)
    backend.param_registry.clear()
    try:
        if case.compare:
            h = check_layer(layer, case.inputs, backend, no_grad=case.no_grad,
                            gradcheck=case.gradcheck, prepare=case.prepare)
        else:
            if case.prepare is not None:
                case.prepare(backend)
            h = _run_without_reference(case, layer, backend)
        _check_invariants(name, case, h)
        h.shutdown()
    finally:
        backend.param_registry.clear()


def test_output_layers_keep_what_they_saw(backend, tmp_path):
    case = CASES["HDF5OutputLayer"]
    h = _run_without_reference(case, case.make(tmp_path), backend)
    h.forward()  # a second mini-batch is appended
    h.shutdown()
    with h5py.File(tmp_path / "out.h5", "r") as f:
        for name, x in zip(["a", "b"], case.inputs):
            np.testing.assert_allclose(f[name][()], np.concatenate([x, x]), rtol=1e-6)
    case = CASES["MemoryOutputLayer"]
    h = _run_without_reference(case, case.make(tmp_path), backend)
    assert len(h.state.outputs) == 2
    for kept, x in zip(h.state.outputs, case.inputs):
        np.testing.assert_allclose(np.concatenate(kept), x, rtol=1e-6)
    h.shutdown()


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_layer_runs_in_a_net(name, backend, tmp_path):
    """The same configuration wired into a Net: memory data layers feed its bottoms; forward,
    then backward from random top gradients (the net's own wiring of blobs and diffs)."""
    if name not in _registered():
        pytest.fail(f"CASES lists {name}, which no plugin registers")
    case = CASES[name]
    layer = case.make(tmp_path)
    backend.param_registry.clear()
    if case.prepare is not None:
        case.prepare(backend)
    feeds = [L("MemoryDataLayer", name=f"feed-{i}", data=[x], tops=[bottom], batch_size=len(x))
             for i, (bottom, x) in enumerate(zip(layer.bottoms, case.inputs))]
    net = mocha.Net(f"only-{name}", backend, feeds + [layer])
    try:
        net.init()
        net.forward()
        produced = [] if (layer.is_sink or layer.is_inplace) else list(layer.tops)
        for top in produced:
            assert np.all(np.isfinite(net.output_blobs[top].to_host())), f"{name}: {top}"
        if case.shapes is not None:
            assert [net.output_blobs[t].shape for t in produced] == case.shapes
        if layer.can_do_bp:
            for top in produced:
                diff = net.diff_blobs[top]
                if not diff.is_null:
                    diff.copy_from(RNG.standard_normal(diff.shape))
            net.backward()
            for _, param in net.parameters():
                assert np.all(np.isfinite(param.gradient.to_host()))
        assert f"({layer.name})" in str(net)
    finally:
        net.shutdown()
        backend.param_registry.clear()
