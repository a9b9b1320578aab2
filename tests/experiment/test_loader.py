"""The TOML spelling of experiment files: nested objects, policies, phases, paths."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from mocha.core.policies import LRPolicy, MomPolicy
from mocha.experiment import (
    ExperimentError,
    build_solver,
    experiment_nets,
    load_experiment,
    load_provider,
    make_policy,
)

BASE = textwrap.dedent("""\
    name = "spelling"
    [backend]
    name = "numpy"
    seed = 3

    [[layers]]
    type = "MemoryDataLayer"
    name = "train-data"
    phase = "train"
    source = "sklearn:digits"
    split = "train"
    sample_shape = [1, 8, 8]
    batch_size = 16
    transformers = [{top = "data", type = "Scale", scale = 0.5}]

    [[layers]]
    type = "MemoryDataLayer"
    name = "test-data"
    phase = "test"
    source = "sklearn:digits"
    split = "test"
    sample_shape = [1, 8, 8]
    batch_size = 60

    [[layers]]
    type = "ConvolutionLayer"
    name = "conv"
    n_filter = 4
    kernel = [3, 3]
    pad = 1
    filter_init = {type = "GaussianInitializer", std = 0.01}
    neuron = {type = "ReLU", epsilon = 0.0}
    bottoms = ["data"]
    tops = ["conv"]

    [[layers]]
    type = "PoolingLayer"
    name = "pool"
    kernel = [2, 2]
    stride = [2, 2]
    pooling = "Mean"
    bottoms = ["conv"]
    tops = ["pool"]

    [[layers]]
    type = "InnerProductLayer"
    name = "ip"
    output_dim = 10
    weight_regu = {type = "L2Regu", coefficient = 2.0}
    bias_cons = {type = "L2Cons", threshold = 3.0}
    bottoms = ["pool"]
    tops = ["ip"]

    [[layers]]
    type = "SoftmaxLossLayer"
    name = "loss"
    phase = "train"
    bottoms = ["ip", "label"]

    [[layers]]
    type = "AccuracyLayer"
    name = "acc"
    phase = "test"
    bottoms = ["ip", "label"]

    [solver]
    method = "SGD"
    max_iter = 3
    mom_policy = 0.9
    load_from = "snaps"

    [solver.lr_policy]
    type = "Staged"
    stages = [
      {n_iter = 2, type = "Fixed", base_lr = 0.1},
      {n_iter = 5, type = "Exp", base_lr = 0.01, gamma = 0.5},
    ]

    [lounge]
    save_into = "out/statistics.h5"
    every_n_iter = 10
    """)


@pytest.fixture
def exp(tmp_path):
    path = tmp_path / "sub" / "exp.toml"
    path.parent.mkdir()
    path.write_text(BASE)
    return load_experiment(path)


def test_nested_objects_are_built(exp):
    layers = {e.layer.name: e.layer for e in exp.layers}
    conv, pool, ip = layers["conv"], layers["pool"], layers["ip"]
    assert type(conv.filter_init).__name__ == "GaussianInitializer"
    assert conv.filter_init.std == 0.01 and conv.kernel == (3, 3) and conv.pad == (1, 1)
    assert type(conv.neuron).__name__ == "ReLU"
    assert type(pool.pooling).__name__ == "MeanPooling"
    assert ip.weight_regu.coefficient == 2.0 and ip.bias_cons.threshold == 3.0
    top, scale = layers["train-data"].transformers[0]
    assert top == "data" and scale.scale == 0.5
    assert layers["train-data"].data[0].shape == (1437, 1, 8, 8)


def test_phases_and_shared_layers(exp):
    train = exp.layers_for("train")
    test = exp.layers_for("test")
    assert [layer.name for layer in train] == ["train-data", "conv", "pool", "ip", "loss"]
    assert [layer.name for layer in test] == ["test-data", "conv", "pool", "ip", "acc"]
    assert train[1] is test[1]  # the same object: parameters are shared
    with experiment_nets(exp) as (train_net, test_net):
        assert test_net.phase == "test"
        w_train = train_net.state_of("ip").parameters[0].blob
        w_test = test_net.state_of("ip").parameters[0].blob
        assert w_train.data is w_test.data or np.shares_memory(w_train.data, w_test.data)


def test_solver_policies_and_paths(exp, tmp_path):
    assert exp.solver["load_from"] == str(tmp_path / "sub" / "snaps")
    assert exp.lounge["save_into"] == str(tmp_path / "sub" / "out" / "statistics.h5")
    staged = exp.solver["lr_policy"]
    assert isinstance(staged, LRPolicy.Staged) and len(staged.stages) == 2
    assert isinstance(exp.solver["mom_policy"], MomPolicy.Fixed)
    solver = build_solver(exp, max_iter=7, load_from="elsewhere")
    assert solver.params["max_iter"] == 7 and solver.params["load_from"] == "elsewhere"
    assert exp.backend == {"name": "numpy", "seed": 3}


@pytest.mark.parametrize(
    "value,expected",
    [
        (0.01, "LRPolicy.Fixed(0.01)"),
        (
            {"type": "Inv", "base_lr": 0.01, "gamma": 0.0001, "power": 0.75},
            "LRPolicy.Inv(0.01, 0.0001, 0.75)",
        ),
        (
            {"type": "Step", "base_lr": 0.1, "gamma": 0.5, "stepsize": 10},
            "LRPolicy.Step(0.1, 0.5, 10)",
        ),
    ],
)
def test_make_policy(value, expected):
    assert repr(make_policy(LRPolicy, value, "here")) == expected


def test_make_policy_errors():
    with pytest.raises(ExperimentError, match="unknown LRPolicy 'Fix'. Did you mean Fixed"):
        make_policy(LRPolicy, {"type": "Fix", "base_lr": 1}, "here")
    with pytest.raises(ExperimentError, match="Staged takes only 'stages'"):
        make_policy(LRPolicy, {"type": "Staged"}, "here")
    with pytest.raises(ExperimentError, match="Inv"):
        make_policy(LRPolicy, {"type": "Inv", "base_lr": 1}, "here")


def test_providers_split_and_files(tmp_path):
    x_tr, y_tr = load_provider("sklearn:digits", split="train")
    x_te, y_te = load_provider("sklearn:digits", split="test")
    assert len(x_tr) + len(x_te) == 1797 and y_tr.shape[1] == 1
    again, _ = load_provider("sklearn:digits", split="test")
    np.testing.assert_array_equal(x_te, again)  # the split is reproducible
    path = tmp_path / "arrays.npz"
    np.savez(path, data=np.ones((5, 3)), label=np.zeros((5, 1)))
    data, label = load_provider(str(path))
    assert data.shape == (5, 3) and data.dtype == np.float32
    with pytest.raises(Exception, match="has no array for top"):
        load_provider(str(path), tops=["x", "y"])
