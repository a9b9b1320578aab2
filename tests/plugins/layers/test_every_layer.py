"""Every registered layer, built by name from a small valid configuration, runs forward (and
backward where it can) on every available backend and agrees with the float64 NumPy reference
(`mocha.testing.check_layer`, with the finite-difference gradient check on the reference).

Each layer's test module supplies its configuration (`SMOKE_CASES`, see layer_smoke.py); a
layer registered without one fails with "add a smoke case for X": a new layer gets at least
this smoke test on every backend. The layer's own test file checks its semantics against an
oracle.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
import pytest
from layer_smoke import RNG, Case, L, collect_cases

import mocha
from mocha.testing import LayerHarness, check_layer

CASES, WHERE = collect_cases()


def _registered() -> list[str]:
    return [e.name for e in mocha.get_registry().entries("layers") if e.distribution == "mocha-dl"]


@pytest.mark.parametrize("name", sorted(set(_registered()) | set(CASES)))
def test_every_layer_has_a_configuration(name):
    if name not in CASES:
        pytest.fail(
            f"add a smoke case for {name}: SMOKE_CASES = {{{name!r}: Case(...)}} in its "
            f"test module under tests/plugins/layers/ (see layer_smoke.py)"
        )
    assert name in _registered(), (
        f"{WHERE[name]} has a smoke case for {name}, which no plugin registers"
    )


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
            h = check_layer(
                layer,
                case.inputs,
                backend,
                no_grad=case.no_grad,
                gradcheck=case.gradcheck,
                prepare=case.prepare,
            )
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
    feeds = [
        L("MemoryDataLayer", name=f"feed-{i}", data=[x], tops=[bottom], batch_size=len(x))
        for i, (bottom, x) in enumerate(zip(layer.bottoms, case.inputs))
    ]
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
