"""Learning-rate and momentum policies against their formulas (semantics §6.7), Staged
boundaries, the iteration-1 start (Appendix A5), MomPolicy.Staged with SGD (A3)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import mocha
from mocha import LRPolicy, MomPolicy, add_coffee_break


class It:
    def __init__(self, t, internal=None):
        self.iter, self.internal = t, internal or {}


ITERS = range(1, 40)


@pytest.mark.parametrize(
    "policy,formula",
    [
        (LRPolicy.Fixed(0.3), lambda t: 0.3),
        (LRPolicy.Step(0.3, 0.5, 4), lambda t: 0.3 * 0.5 ** (t // 4)),
        (LRPolicy.Exp(0.3, 0.9), lambda t: 0.3 * 0.9**t),
        (LRPolicy.Inv(0.3, 0.01, 0.75), lambda t: 0.3 * (1 + 0.01 * t) ** -0.75),
        (MomPolicy.Fixed(0.9), lambda t: 0.9),
        (MomPolicy.Step(0.5, 1.1, 3, 0.8), lambda t: min(0.5 * 1.1 ** (t // 3), 0.8)),
        (MomPolicy.Linear(0.5, 0.05, 3, 0.8), lambda t: min(0.5 + (t // 3) * 0.05, 0.8)),
    ],
)
def test_policy_formulas(policy, formula):
    for t in ITERS:
        assert policy.get(It(t)) == pytest.approx(formula(t), rel=1e-12), t
    assert policy.initial() == pytest.approx(formula(0))


def test_staged_boundaries_use_the_global_iteration():
    policy = LRPolicy.Staged(
        (3, LRPolicy.Fixed(1.0)), (2, LRPolicy.Fixed(0.1)), (1, LRPolicy.Exp(1.0, 0.5))
    )
    assert policy.initial() == 1.0
    got = [policy.get(It(t)) for t in range(1, 9)]
    assert got == pytest.approx([1.0, 1.0, 0.1, 0.1] + [0.5**t for t in range(5, 9)])
    assert policy.initial() == 1.0  # the last stage's initial value, now that it is active
    # the CIFAR-10 tutorial's stages
    cifar = LRPolicy.Staged(
        (60000, LRPolicy.Fixed(1e-3)), (5000, LRPolicy.Fixed(1e-4)), (5000, LRPolicy.Fixed(1e-5))
    )
    for t, lr in [
        (1, 1e-3),
        (59999, 1e-3),
        (60000, 1e-4),
        (64999, 1e-4),
        (65000, 1e-5),
        (10**6, 1e-5),
    ]:
        assert cifar.get(It(t)) == lr, t
    assert cifar.get(It(5)) == 1e-3  # recomputed from the iteration (a rewind goes back)


def test_staged_rejects_bad_stages():
    with pytest.raises(ValueError, match="at least one"):
        LRPolicy.Staged()
    with pytest.raises(ValueError, match="n_iter, policy"):
        LRPolicy.Staged((3, 0.1))
    with pytest.raises(ValueError, match="stepsize"):
        LRPolicy.Step(0.1, 0.5, 0)


def _solve(max_iter, **params):
    backend = mocha.make_backend("numpy", dtype="float64", seed=0)
    x = np.random.default_rng(0).standard_normal((4, 3))
    y = np.array([[0.0], [1.0], [0.0], [1.0]])
    net = mocha.Net(
        "pol",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[x, y], batch_size=2),
            mocha.InnerProductLayer(name="ip", output_dim=2, bottoms=["data"], tops=["ip"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )
    solver = mocha.Solver(
        mocha.SGD(), mocha.make_solver_parameters(mocha.SGD(), max_iter=max_iter, **params)
    )
    add_coffee_break(
        solver,
        mocha.TrainingSummary("iter", "learning_rate", "momentum", stream=io.StringIO()),
        every_n_iter=1,
    )
    mocha.solve(solver, net)
    net.shutdown()
    return solver.coffee_lounge


def test_first_update_sees_iteration_one():
    lounge = _solve(
        4, lr_policy=LRPolicy.Step(1.0, 0.5, 1), mom_policy=MomPolicy.Step(0.4, 2.0, 1, 0.95)
    )
    _, lr = lounge.series("learning_rate")
    _, mom = lounge.series("momentum")
    assert lr.tolist() == [1.0, 0.5, 0.25, 0.125, 0.0625]  # iteration 0 shows initial()
    # internal momentum after update t is μ(t) (used by update t + 1: the A4 lag)
    assert mom.tolist() == pytest.approx([0.4, 0.8, 0.95, 0.95, 0.95])


def test_mom_policy_staged_with_sgd():
    staged = MomPolicy.Staged((2, MomPolicy.Fixed(0.5)), (1, MomPolicy.Fixed(0.9)))
    assert staged.initial() == 0.5  # A3: the first stage's base momentum
    lounge = _solve(4, mom_policy=staged)
    _, mom = lounge.series("momentum")
    assert mom.tolist() == [0.5, 0.5, 0.9, 0.9, 0.9]


def test_decay_on_validation_basics():
    policy = LRPolicy.DecayOnValidation(0.1, "acc-accuracy", 0.5, min_lr=1e-3)
    assert policy.initial() == 0.1 and policy.higher_better
    assert policy.get(It(1, {"learning_rate": 0.025})) == 0.025  # adopts a loaded rate once
    assert policy.get(It(2, {"learning_rate": 0.7})) == 0.025
    assert policy.is_worse(0.5, 0.6) and not policy.is_worse(0.6, 0.6)
    lower = LRPolicy.DecayOnValidation(0.1, "loss", higher_better=False)
    assert lower.is_worse(0.7, 0.6) and not lower.is_worse(0.5, 0.6)
    policy.best = (4, 0.75)
    fresh = LRPolicy.DecayOnValidation(0.1, "acc-accuracy")
    fresh.load_state_dict(policy.state_dict())
    assert (fresh.curr_lr, fresh.best) == (0.025, (4, 0.75))
    assert fresh.get(It(9, {"learning_rate": 0.3})) == 0.025  # the saved state wins
    with pytest.raises(ValueError, match="gamma"):
        LRPolicy.DecayOnValidation(0.1, "k", gamma=0.0)
