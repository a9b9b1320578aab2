"""The experiment file's [init] table: named layers start from a model's weights, the others
from their initializers, frozen layers are not trained; bad tables are named errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mocha.core.io.model import dataset_name
from mocha.experiment import RunOptions, load_experiment
from mocha.experiment.base import ExperimentError
from mocha.experiment.runner import run_experiment

RNG = np.random.default_rng(3)

EXPERIMENT = """name = "ft"
[backend]
name = "numpy"
dtype = "float64"
{init}
[[layers]]
type = "MemoryDataLayer"
name = "data"
source = "data.h5"
batch_size = 8
tops = ["data", "label"]
[[layers]]
type = "InnerProductLayer"
name = "body"
output_dim = 6
bottoms = ["data"]
tops = ["h"]
neuron = "ReLU"
[[layers]]
type = "InnerProductLayer"
name = "middle"
output_dim = 5
bottoms = ["h"]
tops = ["m"]
[[layers]]
type = "InnerProductLayer"
name = "head"
output_dim = 3
bottoms = ["m"]
tops = ["out"]
[[layers]]
type = "SoftmaxLossLayer"
name = "loss"
bottoms = ["out", "label"]
[solver]
method = "SGD"
max_iter = 5
lr_policy = 0.1
mom_policy = 0.9
"""

WEIGHTS = {
    "body": {"weight": RNG.normal(size=(6, 4)), "bias": RNG.normal(size=6)},
    "middle": {"weight": RNG.normal(size=(5, 6)), "bias": RNG.normal(size=5)},
    "head": {"weight": RNG.normal(size=(7, 5)), "bias": RNG.normal(size=7)},  # another head
}


def _files(tmp_path, init: str):
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["data"] = RNG.normal(size=(32, 4))
        f["label"] = RNG.integers(0, 3, size=(32, 1)).astype(float)
    with h5py.File(tmp_path / "model.h5", "w") as f:
        for layer, params in WEIGHTS.items():
            for name, value in params.items():
                f[dataset_name(layer, name)] = value
    path = tmp_path / "ft.toml"
    path.write_text(EXPERIMENT.format(init=init))
    return path


def _params(net, layer):
    state = net.state_of(layer)
    return {p.name: net.backend.to_host(p.blob.data).copy() for p in state.parameters}


def test_init_loads_named_layers_freezes_and_trains_the_rest(tmp_path):
    from mocha.experiment.runner import _build, make_experiment_backend

    init = '[init]\nmodel = "model.h5"\nlayers = ["body", "middle"]\nfreeze = ["body"]\n'
    exp = load_experiment(_files(tmp_path, init))
    backend = make_experiment_backend(exp)
    train, test, _ = _build(exp, backend)
    try:
        train.init()
        for layer in ("body", "middle"):
            for name, value in _params(train, layer).items():
                np.testing.assert_array_equal(value, WEIGHTS[layer][name])
        assert train.state_of("body").frozen and not train.state_of("middle").frozen
        assert _params(train, "head")["weight"].shape == (3, 5)  # from its initializer
    finally:
        train.shutdown()
        backend.shutdown()
    result = run_experiment(exp, handle_sigint=False, final_validation=False)
    assert result.iterations == 5 and np.isfinite(result.objective)


def test_frozen_layer_does_not_move_and_the_loaded_one_does(tmp_path):
    from mocha.core.solver import solve
    from mocha.experiment.runner import _build, make_experiment_backend

    init = '[init]\nmodel = "model.h5"\nlayers = ["body", "middle"]\nfreeze = ["body"]\n'
    exp = load_experiment(_files(tmp_path, init))
    backend = make_experiment_backend(exp)
    train, test, solver = _build(exp, backend, RunOptions(max_iter=5, load_from=""))
    try:
        solve(solver, train)
        body, middle = _params(train, "body"), _params(train, "middle")
    finally:
        train.shutdown()
        backend.shutdown()
    np.testing.assert_array_equal(body["weight"], WEIGHTS["body"]["weight"])
    assert not np.allclose(middle["weight"], WEIGHTS["middle"]["weight"])


def test_default_layers_are_those_the_model_has_with_matching_shapes(tmp_path):
    init = '[init]\nmodel = "model.h5"\nlayers = ["head"]\n'
    exp = load_experiment(_files(tmp_path, init))
    with pytest.raises(Exception, match=r"head___weight.*\(7, 5\).*\(3, 5\)"):
        run_experiment(exp, handle_sigint=False)


@pytest.mark.parametrize(
    "init,message",
    [
        ('[init]\nlayers = ["body"]\n', "`model`"),
        ('[init]\nmodel = "nope.h5"\n', "does not exist"),
        ('[init]\nmodel = "model.h5"\nlayer = ["body"]\n', "unknown key 'layer'"),
        ('[init]\nmodel = "model.h5"\nlayers = ["bodyy"]\n', "'bodyy'.*not a layer"),
        (
            '[init]\nmodel = "model.h5"\nlayers = ["body"]\nfreeze = ["head"]\n',
            "'head'.*does not load",
        ),
    ],
)
def test_bad_init_tables_are_named(tmp_path, init, message):
    with pytest.raises(ExperimentError, match=message):
        load_experiment(_files(tmp_path, init))


def test_a_damaged_model_is_refused_as_load_network_refuses_it(tmp_path):
    from mocha.core.io.model import stamp
    from mocha.experiment.runner import _build, make_experiment_backend

    init = '[init]\nmodel = "model.h5"\nlayers = ["body"]\n'
    path = _files(tmp_path, init)
    with h5py.File(tmp_path / "model.h5", "r+") as f:
        stamp(f)  # the checksums Mocha writes
        f[dataset_name("body", "weight")][0, 0] += 1.0  # then a flipped value
    exp = load_experiment(path)
    backend = make_experiment_backend(exp)
    try:
        with pytest.raises(ExperimentError, match=r"\[init\] model .*checksum.*damaged"):
            _build(exp, backend)
    finally:
        backend.shutdown()
