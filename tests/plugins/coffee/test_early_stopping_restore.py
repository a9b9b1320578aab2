"""EarlyStopping(restore_best=True): the net ends with the parameters of its best evaluation
(Keras' restore_best_weights), and `mocha run` says which model its final validation
measured (issue 28 item 8)."""

from __future__ import annotations

import numpy as np
from test_monitoring import _close, _nets, _validation

from mocha import CoffeeBreak, add_coffee_break, solve
from mocha.experiment.runner import validate
from mocha.plugins.coffee.early_stopping import EarlyStopping


class _Weights(CoffeeBreak):
    """The ip layer's weights and the accuracy at each evaluation."""

    def __init__(self):
        self.seen = {}

    def enjoy(self, lounge, solver, net, state):
        w = net.state_of("ip").parameters[0].blob.to_host().copy()
        self.seen[state.iter] = (w, lounge.statistics["accuracy"][state.iter])


def test_restore_best_gives_back_the_best_parameters():
    train, test, solver = _nets(lr=0.5)
    add_coffee_break(solver, _validation(test), every_n_iter=5)
    stopper = add_coffee_break(
        solver,
        EarlyStopping("accuracy", patience=2, min_delta=0.2, restore_best=True),
        every_n_iter=5,
    )
    weights = add_coffee_break(solver, _Weights(), every_n_iter=5)
    state = solve(solver, train)
    assert stopper.stopped_at == state.iter  # it stopped early ...
    best = stopper.best.iteration
    assert stopper.restored_iteration == best and best < state.iter  # ... after its best
    final = weights.seen[state.iter][0]
    restored = train.state_of("ip").parameters[0].blob.to_host()
    np.testing.assert_array_equal(restored, weights.seen[best][0])
    assert not np.array_equal(restored, final)
    assert validate(test)["accuracy"] == weights.seen[best][1]  # the test net shares them
    _close(train, test)


def test_without_restore_best_the_last_parameters_stay():
    train, test, solver = _nets(lr=0.5)
    add_coffee_break(solver, _validation(test), every_n_iter=5)
    stopper = add_coffee_break(
        solver, EarlyStopping("accuracy", patience=2, min_delta=0.2), every_n_iter=5
    )
    weights = add_coffee_break(solver, _Weights(), every_n_iter=5)
    state = solve(solver, train)
    assert stopper.restored_iteration is None
    last = train.state_of("ip").parameters[0].blob.to_host()
    np.testing.assert_array_equal(last, weights.seen[state.iter][0])
    _close(train, test)
