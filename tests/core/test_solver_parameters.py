"""Solver settings that would be ignored or are nonsensical are refused (issue 11, item 4),
in Python and in experiment files; `copy(params, load_from=...)` (manual §1.4.5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mocha
from mocha import (
    LRPolicy,
    MemoryDataLayer,
    MomPolicy,
    Net,
    SoftmaxLossLayer,
    Solver,
    SolverError,
    TrainingSummary,
    add_coffee_break,
    make_solver_parameters,
    solve,
)
from mocha.plugins.backends.numpy_backend import NumpyBackend


def test_momentum_keyword_names_the_policy_to_use():
    """The manual's CIFAR-10 tutorial writes `momentum=0.9`; it used to train with 0."""
    with pytest.raises(SolverError, match=r"'momentum'.*mom_policy=MomPolicy\.Fixed\(0\.9\)"):
        make_solver_parameters(
            mocha.SGD(), max_iter=10, regu_coef=0.004, momentum=0.9, lr_policy=LRPolicy.Fixed(0.001)
        )


@pytest.mark.parametrize(
    "method,key,hint",
    [
        ("SGD", "max_iters", "'max_iter'"),
        ("SGD", "base_lr", "lr_policy=LRPolicy.Fixed(0.1)"),
        ("SGD", "weight_decay", "regu_coef=0.1"),
        ("Adam", "mom_policy", "Known parameters of Adam"),  # Adam has no momentum policy
        ("Nesterov", "lr_polciy", "'lr_policy'"),
    ],
)
def test_unknown_keys_are_errors_with_a_did_you_mean(method, key, hint):
    with pytest.raises(SolverError, match="does not use solver parameter") as err:
        make_solver_parameters(getattr(mocha, method)(), **{key: 0.1})
    assert hint in str(err.value)


def test_solver_refuses_unknown_keys_of_a_plain_dict_too():
    params = dict(make_solver_parameters(mocha.SGD(), max_iter=3), momentum=0.9)
    with pytest.raises(SolverError, match="mom_policy=MomPolicy.Fixed"):
        Solver(mocha.SGD(), params)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"regu_coef": "0.0005"}, "regu_coef must be a number >= 0, got '0.0005'"),
        ({"regu_coef": -1.0}, "regu_coef must be >= 0"),
        ({"max_iter": "1000"}, "max_iter must be a non-negative integer or inf, got '1000'"),
        ({"max_iter": 10.5}, "max_iter must be a non-negative integer"),
        ({"max_iter": True}, "max_iter must be a non-negative integer"),
        ({"max_iter": -1}, "max_iter must be a non-negative integer"),
        ({"lr_policy": 0.01}, "lr_policy must be a policy such as LRPolicy.Fixed"),
        ({"mom_policy": 0.9}, "mom_policy must be a policy such as MomPolicy.Fixed"),
        ({"load_from": 3}, "load_from must be a path"),
    ],
)
def test_values_of_the_wrong_kind_or_range(kwargs, message):
    with pytest.raises(SolverError) as err:
        make_solver_parameters(mocha.SGD(), **kwargs)
    assert message in str(err.value)


def test_method_parameters_keep_their_kind():
    with pytest.raises(SolverError, match="Adam: beta1 must be a number, got '0.9'"):
        make_solver_parameters(mocha.Adam(), beta1="0.9")
    with pytest.raises(SolverError, match="Adam: use_lr_multipliers must be true or false"):
        make_solver_parameters(mocha.Adam(), use_lr_multipliers="no")
    params = make_solver_parameters(mocha.Adam(), beta1=np.float32(0.8), max_iter=np.int64(5))
    assert params["max_iter"] == 5 and params["beta1"] == pytest.approx(0.8)
    assert make_solver_parameters(mocha.SGD(), max_iter=2000.0)["max_iter"] == 2000
    assert make_solver_parameters(mocha.SGD())["max_iter"] == math.inf


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: LRPolicy.Fixed(-0.01), "LRPolicy.Fixed: base_lr must be >= 0"),
        (lambda: LRPolicy.Inv(-0.01, 0.0001, 0.75), "LRPolicy.Inv: base_lr must be >= 0"),
        (lambda: LRPolicy.Inv(0.01, -0.0001, 0.75), "LRPolicy.Inv: gamma must be >= 0"),
        (lambda: LRPolicy.Step(0.01, -0.5, 100), "LRPolicy.Step: gamma must be >= 0"),
        (lambda: LRPolicy.Step(0.01, 0.5, 0), "stepsize must be an integer >= 1"),
        (lambda: LRPolicy.Exp(0.01, -0.9), "LRPolicy.Exp: gamma must be >= 0"),
        (lambda: LRPolicy.Fixed("0.01"), "base_lr must be a finite number, got '0.01'"),
        (lambda: LRPolicy.Fixed(math.nan), "base_lr must be a finite number"),
        (lambda: MomPolicy.Fixed(1.0), "MomPolicy.Fixed: base_mom must be < 1.0"),
        (lambda: MomPolicy.Fixed(-0.1), "MomPolicy.Fixed: base_mom must be >= 0"),
        (lambda: MomPolicy.Fixed("0.9"), "base_mom must be a finite number"),
        (lambda: MomPolicy.Step(0.5, 2.0, 100, 1.5), "MomPolicy.Step: max_mom must be < 1.0"),
        (lambda: MomPolicy.Linear(0.5, 0.1, 100, 1.0), "MomPolicy.Linear: max_mom must be < 1.0"),
        (lambda: LRPolicy.Staged((-5, LRPolicy.Fixed(0.1))), "n_iter) must be an integer >= 0"),
        (lambda: LRPolicy.DecayOnValidation(-0.1, "acc"), "base_lr must be >= 0"),
    ],
)
def test_nonsensical_policies(build, message):
    with pytest.raises(ValueError) as err:
        build()
    assert message in str(err.value)


def test_sensible_policies_still_work():
    assert MomPolicy.Fixed(0.0).initial() == 0.0 and MomPolicy.Fixed(0.99).initial() == 0.99
    assert LRPolicy.Fixed(0).initial() == 0.0
    assert LRPolicy.Inv(0.01, 0.0, 0.75).initial() == 0.01
    assert LRPolicy.Staged((10, LRPolicy.Fixed(0.1)), (np.int64(5), LRPolicy.Fixed(0.01)))


def test_copy_of_solver_parameters_changes_load_from(tmp_path):
    """Manual §1.4.5: `params = copy(params, load_from=base_dir)`."""
    method = mocha.SGD()
    params = make_solver_parameters(
        method, max_iter=3, regu_coef=0.0, mom_policy=MomPolicy.Fixed(0.5), load_from="finetune"
    )
    copied = mocha.copy(params, load_from=str(tmp_path / "randinit"))
    assert copied["load_from"] == str(tmp_path / "randinit") and params["load_from"] == "finetune"
    assert {k: v for k, v in copied.items() if k != "load_from"} == {
        k: v for k, v in params.items() if k != "load_from"
    }
    assert params.copy(max_iter=7)["max_iter"] == 7
    Solver(method, copied)
    layer = mocha.InnerProductLayer(name="ip", output_dim=2, bottoms=["x"], tops=["y"])
    assert mocha.copy(layer, bottoms=["z"]).bottoms == ("z",)
    with pytest.raises(mocha.MochaError, match="neither a layer nor solver parameters"):
        mocha.copy(3, x=1)


def tiny_net():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)), rng.integers(0, 2, (8, 1)).astype(float)
    return Net(
        "tiny",
        NumpyBackend(seed=0),
        [
            MemoryDataLayer(data=[x, y], batch_size=4),
            mocha.InnerProductLayer(name="ip", output_dim=2, bottoms=["data"], tops=["ip"]),
            SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )


def test_training_summary_refuses_a_statistic_that_does_not_exist(capsys):
    method = mocha.SGD()
    solver = Solver(method, make_solver_parameters(method, max_iter=2))
    add_coffee_break(solver, TrainingSummary("iter", "obj_val", "learning_rat"), every_n_iter=1)
    net = tiny_net()
    with pytest.raises(SolverError, match="no statistic 'learning_rat'.*'learning_rate'"):
        solve(solver, net)
    assert "nan" not in capsys.readouterr().out
    solver = Solver(method, make_solver_parameters(method, max_iter=2))
    summary = add_coffee_break(
        solver, TrainingSummary("obj_val", "momentum", "loss"), every_n_iter=1
    )
    solve(solver, net)
    assert "loss=" in summary.last_line and "nan" not in summary.last_line
    net.shutdown()
