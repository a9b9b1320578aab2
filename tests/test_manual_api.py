"""The manual's API as its users write it (issue 11): the free functions, `from mocha import *`
(lazily, through the registry), single-image prediction by editing the data layer's array,
`load_from` of a foreign folder, statistics names that are not doubled."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import mocha
from mocha import (
    AccuracyLayer,
    InnerProductLayer,
    MemoryDataLayer,
    Net,
    SnapshotError,
    SoftmaxLayer,
    SoftmaxLossLayer,
    Solver,
    ValidationPerformance,
    add_coffee_break,
    make_solver_parameters,
    setup_coffee_lounge,
    solve,
)
from mocha.plugins.backends.numpy_backend import NumpyBackend

RNG = np.random.default_rng(4)
X = RNG.standard_normal((12, 1, 2, 3))
Y = RNG.integers(0, 3, (12, 1)).astype(np.float64)

MANUAL_FUNCTIONS = [
    "forward",
    "backward",
    "destroy",
    "get_layer",
    "get_layer_state",
    "forward_epoch",
    "reset_statistics",
    "show_statistics",
    "dump_statistics",
    "update_statistics",
    "check_bp_topology",
    "load_statistics",
    "init",
    "shutdown",
    "registry_reset",
    "solve",
    "setup",
    "net2dot",
    "load_network",
    "save_network",
    "load_snapshot",
    "copy",
    "freeze",
    "freeze_all",
    "unfreeze",
    "unfreeze_all",
    "make_solver_parameters",
    "add_coffee_break",
    "setup_coffee_lounge",
    "make_blob",
    "make_zero_blob",
    "reshape_blob",
]


def test_star_import_brings_every_registered_public_name():
    namespace: dict = {}
    exec("from mocha import *", namespace)
    registry = mocha.get_registry()
    for kind in (
        "layers",
        "solvers",
        "coffee_breaks",
        "neurons",
        "initializers",
        "regularizers",
        "constraints",
        "data_transformers",
    ):
        for name in registry.names(kind):
            assert name in namespace, (kind, name)
    for name in (
        "Pooling",
        "LRNMode",
        "ElementWiseFunctors",
        "reset_outputs",
        "NumpyBackend",
        "NumbaBackend",
        "CupyBackend",
        "predict",
        "Net",
        "LRPolicy",
        *MANUAL_FUNCTIONS,
    ):
        assert name in namespace, name
    assert namespace["Pooling"].Max is not None and namespace["LRNMode"].AcrossChannel
    assert "numpy" not in namespace  # backends are exported by class name only
    assert set(dir(mocha)) >= set(namespace) - {"__builtins__"}


def test_backend_classes_by_name_and_cupy_says_which_extra():
    assert mocha.NumpyBackend.name == "numpy" and mocha.NumbaBackend.name == "numba"
    cupy_backend = mocha.CupyBackend
    if cupy_backend.why_unavailable():
        with pytest.raises(mocha.MochaError, match=r"mocha-dl\[gpu\]|CUDA"):
            cupy_backend()
    with pytest.raises(AttributeError, match="no attribute 'NoSuchLayer'"):
        mocha.NoSuchLayer  # noqa: B018


def test_import_mocha_stays_cheap():
    code = textwrap.dedent("""
        import sys
        import mocha
        mocha.forward, mocha.get_layer, mocha.Net, mocha.SolverError
        loaded = [m for m in sys.modules if m.startswith("mocha.plugins")]
        print(",".join(loaded) or "-", "numba" in sys.modules, "rich" in sys.modules)
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    assert out == ["-", "False", "False"]


def test_no_hand_written_table_of_plugin_modules():
    source = Path(mocha.__file__).read_text(encoding="utf-8")
    assert "mocha.plugins." not in source


def layers(batch_size=4):
    return [
        MemoryDataLayer(name="data", data=[X, Y], batch_size=batch_size),
        InnerProductLayer(name="ip", output_dim=3, bottoms=["data"], tops=["ip"]),
        SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
    ]


def test_free_functions_call_the_methods(capsys):
    backend = NumpyBackend(seed=0)
    mocha.init(backend)
    net = Net("n", backend, layers())
    net.init()
    mocha.check_bp_topology(net)
    loss = mocha.forward(net)
    assert loss == pytest.approx(net.states[-1].loss)
    mocha.backward(net)
    state = mocha.get_layer_state(net, "ip")
    assert state is net.state_of("ip") and np.abs(state.parameters[0].gradient.to_host()).sum()
    assert mocha.get_layer(net, "ip") is net.state_of("ip").layer
    epoch = net.epoch
    mocha.forward_epoch(net)
    assert net.epoch == epoch + 1
    test = Net(
        "t", backend, [*layers()[:2], AccuracyLayer(name="accuracy", bottoms=["ip", "label"])]
    )
    mocha.forward_epoch(test)
    lounge = mocha.CoffeeLounge()
    stats = mocha.dump_statistics(lounge, test, show=True)
    assert set(stats) == {"accuracy"} and lounge.statistics["accuracy"][0] == stats["accuracy"]
    mocha.update_statistics(lounge, "obj_val", 0.5)
    assert lounge.statistics["obj_val"] == {0: 0.5}
    text = mocha.show_statistics(test)
    assert "Accuracy (avg over 12)" in text and text in capsys.readouterr().out
    mocha.reset_statistics(test)
    assert test.states[-1].n_accum == 0
    blob = mocha.make_blob(backend, np.ones((2, 3)))
    assert mocha.reshape_blob(backend, blob, 3, 2).shape == (3, 2)
    assert mocha.make_zero_blob(backend, (2, 2)).to_host().sum() == 0
    mocha.destroy(blob)
    mocha.destroy(test)
    mocha.destroy(net)
    with pytest.raises(TypeError, match="neither a Net nor a Blob"):
        mocha.destroy(3)
    mocha.shutdown(backend)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_single_image_prediction_the_manual_way(dtype):
    """`get_layer(run_net, "data").data[0][...] = image; forward(run_net)` feeds the image,
    whatever the dtype of the array the layer was given (a float64 one used to be copied)."""
    backend = NumpyBackend(seed=0)
    run_net = Net(
        "run",
        backend,
        [
            MemoryDataLayer(
                name="data", tops=["data"], batch_size=1, data=[np.zeros((1, 1, 2, 3), dtype=dtype)]
            ),
            InnerProductLayer(name="ip", output_dim=3, bottoms=["data"], tops=["ip"]),
            SoftmaxLayer(name="prob", bottoms=["ip"], tops=["prob"]),
        ],
    )
    run_net.init()
    w, b = (p.blob.to_host() for p in run_net.state_of("ip").parameters)
    for image in (X[0], X[5]):
        image = image.astype(dtype)
        mocha.get_layer(run_net, "data").data[0][...] = image
        mocha.forward(run_net)
        z = image.reshape(1, -1).astype(np.float64) @ w.T.astype(np.float64) + b
        want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        np.testing.assert_allclose(run_net.output_blobs["prob"].to_host(), want, rtol=1e-5)
    mocha.destroy(run_net)


def test_load_from_a_folder_of_mocha_jl_snapshots_is_an_error(tmp_path):
    (tmp_path / "snapshot-005000.jld").write_bytes(b"\x89HDF\r\n")
    method = mocha.SGD()
    solver = Solver(method, make_solver_parameters(method, max_iter=2, load_from=str(tmp_path)))
    net = Net("n", NumpyBackend(seed=0), layers())
    with pytest.raises(SnapshotError, match=r"snapshot-005000\.jld.*cannot be read"):
        solve(solver, net)
    net.shutdown()


def test_load_from_a_folder_of_other_files_warns_naming_them(tmp_path, caplog):
    (tmp_path / "model.h5").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "statistics.h5").write_bytes(b"")  # ours: not reported
    method = mocha.SGD()
    solver = Solver(method, make_solver_parameters(method, max_iter=1, load_from=str(tmp_path)))
    net = Net("n", NumpyBackend(seed=0), layers())
    with caplog.at_level(logging.INFO, logger="mocha"):
        state = solve(solver, net)
    assert state.iter == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no snapshot-<iteration>.h5 but model.h5, notes.txt" in m for m in warnings)
    assert not any("statistics.h5" in m for m in warnings)
    net.shutdown()
    empty = tmp_path / "empty"
    empty.mkdir()
    caplog.clear()
    solver = Solver(method, make_solver_parameters(method, max_iter=1, load_from=str(empty)))
    net = Net("n", NumpyBackend(seed=0), layers())
    with caplog.at_level(logging.INFO, logger="mocha"):
        solve(solver, net)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    net.shutdown()


@pytest.mark.parametrize(
    "name,key",
    [("accuracy", "accuracy"), ("test-accuracy", "test-accuracy"), ("acc", "acc-accuracy")],
)
def test_statistics_names_are_not_doubled(tmp_path, capsys, name, key):
    backend = NumpyBackend(seed=0)
    net = Net("n", backend, layers())
    test = Net(
        "t",
        backend,
        [*layers()[:2], AccuracyLayer(name=name, bottoms=["ip", "label"], report_error=True)],
    )
    method = mocha.SGD()
    solver = Solver(method, make_solver_parameters(method, max_iter=2))
    setup_coffee_lounge(solver, save_into=str(tmp_path / "statistics.h5"))
    vp = add_coffee_break(solver, ValidationPerformance(test), every_n_iter=1)
    solve(solver, net)
    error = f"{name}-error"
    assert set(vp.last_statistics) == {key, error}
    saved = mocha.load_statistics(str(tmp_path / "statistics.h5"))
    assert key in saved and "accuracy-accuracy" not in saved
    assert not any(k.endswith("accuracy-accuracy") for k in saved)
    assert not any("-accuracy-accuracy" in line for line in capsys.readouterr().out.splitlines())
    with h5py.File(tmp_path / "statistics.h5") as f:
        assert key in f
    net.shutdown()
    test.shutdown()
