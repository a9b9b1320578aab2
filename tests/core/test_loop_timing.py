"""`solve()` measures where its iterations' time goes (`state.timing`, mocha.core.loop_timing):
the layers' forward and backward, the update, and the loop's own overhead."""

import time

import numpy as np
import pytest

import mocha
from mocha import CoffeeBreak, Net, add_coffee_break
from mocha.core.loop_timing import LoopTiming

RNG = np.random.default_rng(3)
X, Y = RNG.standard_normal((8, 3)), RNG.integers(0, 3, (8, 1)).astype(float)


class Sleepy(CoffeeBreak):
    """A coffee break that takes `seconds` (loop overhead by definition)."""

    def __init__(self, seconds):
        self.seconds = seconds

    def enjoy(self, lounge, solver, net, state):
        time.sleep(self.seconds)


def test_summary_is_per_iteration_and_overhead_is_the_rest():
    t = LoopTiming(iterations=4, total=1.0, forward=0.3, backward=0.4, update=0.1)
    s = t.summary()
    assert s["iterations"] == 4
    assert s["iteration_ms"] == pytest.approx(250.0)
    assert s["forward_ms"] == pytest.approx(75.0)
    assert s["backward_ms"] == pytest.approx(100.0)
    assert s["update_ms"] == pytest.approx(25.0)
    assert s["overhead_ms"] == pytest.approx(50.0)
    assert s["overhead_fraction"] == pytest.approx(0.2)
    assert LoopTiming().summary()["overhead_fraction"] == 0.0


def test_solve_reports_the_breakdown_and_counts_coffee_breaks_as_overhead(backend):
    net = Net(
        "timed",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[X, Y], batch_size=2),
            mocha.InnerProductLayer(name="ip", output_dim=3, bottoms=["data"], tops=["ip"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )
    params = mocha.make_solver_parameters(
        mocha.SGD(), max_iter=5, lr_policy=mocha.LRPolicy.Fixed(0.1)
    )
    solver = mocha.Solver(mocha.SGD(), params)
    add_coffee_break(solver, Sleepy(0.01), every_n_iter=1)
    state = mocha.solve(solver, net)
    timing = state.timing
    assert timing.iterations == 5  # the training iterations, not the initial forward
    assert min(timing.forward, timing.backward, timing.update) > 0
    assert timing.forward + timing.backward + timing.update + timing.overhead == pytest.approx(
        timing.total
    )
    assert timing.overhead >= 5 * 0.01  # the five breaks' sleeps, at least
    summary = timing.summary()
    assert summary["overhead_ms"] >= 10.0
    assert 0 < summary["overhead_fraction"] <= 1
