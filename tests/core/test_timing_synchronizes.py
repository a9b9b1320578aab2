"""Every time measurement waits for the backend's queued work first (`backend.synchronize()`):
on a GPU, kernels run asynchronously, so a clock read without it would charge a part with
the time it took to *queue* its kernels. Checked with a backend whose synchronize is counted
and a clock that records when it is read."""

from __future__ import annotations

import numpy as np

import mocha
import mocha.core.loop_timing as loop_timing
from mocha.cli._bench_child import median_time


def _net(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4))
    y = rng.integers(0, 3, (8, 1)).astype(float)
    return mocha.Net(
        "sync",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[x, y], batch_size=4),
            mocha.InnerProductLayer(name="ip", output_dim=3, bottoms=["data"], tops=["ip"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )


def test_every_clock_read_of_the_solve_loop_follows_a_synchronize(monkeypatch):
    events: list[str] = []
    backend = mocha.make_backend("numpy", dtype="float64", seed=0)
    backend.init()
    monkeypatch.setattr(backend, "synchronize", lambda: events.append("sync"))
    real = loop_timing.perf_counter
    monkeypatch.setattr(loop_timing, "perf_counter", lambda: events.append("clock") or real())
    net = _net(backend)
    params = mocha.make_solver_parameters(mocha.SGD(), max_iter=3)
    state = mocha.solve(mocha.Solver(mocha.SGD(), params), net)
    assert state.timing.iterations == 3
    clocks = [i for i, e in enumerate(events) if e == "clock"]
    # the initial forward (2 reads), then per iteration: start, after backward, after
    # update, around the forward (2), end
    assert len(clocks) == 2 + 6 * 3
    assert all(i > 0 and events[i - 1] == "sync" for i in clocks)
    net.shutdown()


def test_the_bench_latency_synchronizes_after_every_call():
    events: list[str] = []
    seconds = median_time(lambda: events.append("step"), 5, lambda: events.append("sync"))
    assert seconds >= 0
    # 3 warm-up calls then one sync; then each timed call is followed by its own sync
    assert events == ["step"] * 3 + ["sync"] + ["step", "sync"] * 5
