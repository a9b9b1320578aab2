"""Evaluation runs without random masks, training keeps them (issue 11, item 2).

A validation net built as the manual builds it (`Net("test", backend, [...])`) and used by
ValidationPerformance, `predict`, or a net used only forward must not drop activations.
"""

from __future__ import annotations

import numpy as np
import pytest

import mocha
from mocha import (
    AccuracyLayer,
    DropoutLayer,
    InnerProductLayer,
    LRPolicy,
    MemoryDataLayer,
    Net,
    RandomMaskLayer,
    SoftmaxLossLayer,
    Solver,
    ValidationPerformance,
    add_coffee_break,
    make_solver_parameters,
    solve,
)
from mocha.plugins.backends.numpy_backend import NumpyBackend

RNG = np.random.default_rng(5)
X = RNG.uniform(0.5, 1.5, (40, 8))
Y = RNG.integers(0, 3, (40, 1)).astype(np.float64)


def ip(name, bottom, out):
    return InnerProductLayer(name=name, output_dim=out, bottoms=[bottom], tops=[name])


def layers_with(head, batch_size=40):
    return [
        MemoryDataLayer(name="data", data=[X, Y], batch_size=batch_size),
        ip("ip1", "data", 40),
        DropoutLayer(name="drop", ratio=0.5, bottoms=["ip1"]),
        ip("ip2", "ip1", 3),
        *head,
    ]


def zeros_in_ip1_after_forward(net):
    net.forward()
    return int((net.output_blobs["ip1"].to_host() == 0).sum())


def test_default_phase_follows_the_loss_layers():
    backend = NumpyBackend(seed=0)
    train = Net("train", backend, layers_with([SoftmaxLossLayer(bottoms=["ip2", "label"])]))
    test = Net("test", backend, layers_with([AccuracyLayer(bottoms=["ip2", "label"])]))
    train.init()
    assert train.phase == "train" and test.phase == "test"
    assert zeros_in_ip1_after_forward(train) > 5  # training keeps its masks
    assert zeros_in_ip1_after_forward(test) == 0  # the manual's validation net: none
    assert (
        Net(
            "t", backend, layers_with([AccuracyLayer(bottoms=["ip2", "label"])]), phase="train"
        ).phase
        == "train"
    )


def test_evaluating_switches_to_test_and_restores_even_after_an_error():
    backend = NumpyBackend(seed=0)
    net = Net("train", backend, layers_with([SoftmaxLossLayer(bottoms=["ip2", "label"])]))
    net.init()
    with net.evaluating():
        assert net.phase == "test"
        assert zeros_in_ip1_after_forward(net) == 0
    assert net.phase == "train"
    with pytest.raises(RuntimeError), mocha.evaluating(net):
        raise RuntimeError("inside")
    assert net.phase == "train" and zeros_in_ip1_after_forward(net) > 5
    with pytest.raises(ValueError, match="phase must be 'train' or 'test'"):
        net.phase = "validation"


def test_backward_after_an_evaluation_forward_leaves_the_data_alone():
    """The mask of a test-phase forward is not applied by a later backward."""
    backend = NumpyBackend(seed=0)
    net = Net("train", backend, layers_with([SoftmaxLossLayer(bottoms=["ip2", "label"])]))
    net.init()
    with net.evaluating():
        net.forward()
    before = net.output_blobs["ip1"].to_host().copy()
    net.backward()
    np.testing.assert_array_equal(net.output_blobs["ip1"].to_host(), before)


def oracle_accuracy(net):
    """Accuracy of the trained parameters on X without dropout (plain NumPy)."""
    p = {f"{n}/{q.name}": q.blob.to_host() for n, q in net.parameters()}
    h = X @ p["ip1/weight"].T + p["ip1/bias"].reshape(1, -1)
    z = h @ p["ip2/weight"].T + p["ip2/bias"].reshape(1, -1)
    return float((z.argmax(1) == Y[:, 0]).mean())


@pytest.mark.parametrize("with_loss", [False, True])
def test_validation_performance_reports_the_accuracy_without_dropout(with_loss):
    """With or without a loss layer in the validation net (with one, the net is built in
    the train phase): the reported accuracy is the deterministic one, at every validation."""
    backend = NumpyBackend(seed=0)
    train = Net(
        "train", backend, layers_with([SoftmaxLossLayer(bottoms=["ip2", "label"])], batch_size=8)
    )
    head = [AccuracyLayer(name="acc", bottoms=["ip2", "label"])]
    if with_loss:
        head.append(SoftmaxLossLayer(name="test-loss", bottoms=["ip2", "label"]))
    test = Net("test", backend, layers_with(head, batch_size=10))
    method = mocha.SGD()
    solver = Solver(
        method, make_solver_parameters(method, max_iter=6, lr_policy=LRPolicy.Fixed(0.05))
    )
    seen = []

    class Check(mocha.CoffeeBreak):
        def enjoy(self, lounge, solver, net, state):
            seen.append(
                (lounge.statistics["acc-accuracy"][state.iter], oracle_accuracy(net), test.phase)
            )

    vp = ValidationPerformance(test)
    add_coffee_break(solver, vp, every_n_iter=2)
    add_coffee_break(solver, Check(), every_n_iter=2)
    solve(solver, train)
    assert len(seen) == 4
    for reported, want, _ in seen:
        assert reported == pytest.approx(want, abs=1e-12)
    assert {phase for _, _, phase in seen} == {"train" if with_loss else "test"}  # restored


def test_random_mask_in_a_training_net_still_corrupts():
    backend = NumpyBackend(seed=0)
    net = Net(
        "dae",
        backend,
        [
            MemoryDataLayer(name="data", data=[X, Y], batch_size=40),
            mocha.SplitLayer(bottoms=["data"], tops=["orig", "corrupt"]),
            RandomMaskLayer(ratio=0.5, bottoms=["corrupt"]),
            ip("ip1", "corrupt", 8),
            mocha.SquareLossLayer(bottoms=["ip1", "orig"]),
        ],
    )
    net.init()
    net.forward()
    assert net.phase == "train"
    assert 0.3 < (net.output_blobs["corrupt"].to_host() == 0).mean() < 0.7
    with net.evaluating():
        net.forward()
        np.testing.assert_array_equal(net.output_blobs["corrupt"].to_host(), X.astype(np.float32))


def test_predict_of_a_net_with_dropout_is_deterministic():
    backend = NumpyBackend(seed=0)
    net = Net("train", backend, layers_with([SoftmaxLossLayer(bottoms=["ip2", "label"])]))
    net.init()
    first = mocha.predict(net, X, batch_size=7).outputs
    np.testing.assert_array_equal(mocha.predict(net, X, batch_size=7).outputs, first)
    p = {f"{n}/{q.name}": q.blob.to_host() for n, q in net.parameters()}
    h = X @ p["ip1/weight"].T + p["ip1/bias"].reshape(1, -1)
    want = h @ p["ip2/weight"].T + p["ip2/bias"].reshape(1, -1)
    np.testing.assert_allclose(first, want, rtol=1e-5, atol=1e-6)
