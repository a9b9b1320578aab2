"""Every way out of `solve` shuts the coffee breaks down exactly once: normal end, a NaN
objective at the initial forward or mid-run, and an exception raised by a coffee break."""

import numpy as np
import pytest

import mocha
from mocha import CoffeeBreak, add_coffee_break, setup_coffee_lounge


class Boom(Exception):
    pass


class Life(CoffeeBreak):
    """Records init/enjoy/destroy; raises Boom in `fail_in` (at iteration `fail_at`)."""

    def __init__(self, events, tag, fail_in="", fail_at=0):
        self.events, self.tag, self.fail_in, self.fail_at = events, tag, fail_in, fail_at

    def init(self, lounge, solver, net):
        self.events.append((self.tag, "init"))
        if self.fail_in == "init":
            raise Boom(self.tag)

    def enjoy(self, lounge, solver, net, state):
        if self.fail_in == "enjoy" and state.iter == self.fail_at:
            raise Boom(self.tag)

    def destroy(self, lounge, solver, net):
        self.events.append((self.tag, "destroy"))
        if self.fail_in == "destroy":
            raise Boom(self.tag)


def _net(nan_row=None):
    backend = mocha.make_backend("numpy", dtype="float64", seed=0)
    backend.param_registry.clear()
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((8, 3)), rng.integers(0, 2, (8, 1)).astype(float)
    if nan_row is not None:
        x[nan_row] = np.nan
    return mocha.Net(
        "exits",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[x, y], batch_size=2),
            mocha.InnerProductLayer(name="ip", output_dim=2, bottoms=["data"], tops=["ip"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )


def _solver(tmp_path, breaks):
    solver = mocha.Solver(mocha.SGD(), mocha.make_solver_parameters(mocha.SGD(), max_iter=3))
    setup_coffee_lounge(solver, save_into=str(tmp_path / "statistics.h5"), every_n_iter=100)
    for coffee in breaks:
        add_coffee_break(solver, coffee, every_n_iter=1)
    return solver


def _lives(events, **fail):
    """Three breaks `a`, `b`, `c`; `b` fails as told."""
    return [Life(events, "a"), Life(events, "b", **fail), Life(events, "c")]


BOTH = [
    ("a", "init"),
    ("b", "init"),
    ("c", "init"),
    ("a", "destroy"),
    ("b", "destroy"),
    ("c", "destroy"),
]


@pytest.mark.parametrize(
    ("nan_row", "fail", "error"),
    [
        (None, {}, None),
        (0, {}, mocha.SolverError),  # NaN at the initial forward (iteration 0)
        (4, {}, mocha.SolverError),  # NaN at iteration 2
        (None, {"fail_in": "enjoy", "fail_at": 0}, Boom),
        (None, {"fail_in": "enjoy", "fail_at": 2}, Boom),
    ],
    ids=["normal", "nan-at-start", "nan-mid-run", "break-raises-at-0", "break-raises-mid-run"],
)
def test_every_exit_destroys_each_break_once_and_saves_statistics(tmp_path, nan_row, fail, error):
    events = []
    solver = _solver(tmp_path, _lives(events, **fail))
    with np.errstate(all="ignore"):
        if error is None:
            mocha.solve(solver, _net(nan_row))
        else:
            with pytest.raises(error):
                mocha.solve(solver, _net(nan_row))
    assert events == BOTH
    assert (tmp_path / "statistics.h5").exists()
    assert not solver.coffee_lounge.active


def test_a_break_failing_in_init_destroys_only_the_breaks_set_up(tmp_path):
    events = []
    solver = _solver(tmp_path, _lives(events, fail_in="init"))
    with pytest.raises(Boom):
        mocha.solve(solver, _net())
    assert events == [("a", "init"), ("b", "init"), ("a", "destroy")]
    assert not solver.coffee_lounge.active


@pytest.mark.parametrize("nan_row", [None, 0], ids=["normal", "nan-at-start"])
def test_a_break_failing_in_destroy_does_not_skip_the_others(tmp_path, nan_row):
    events = []
    solver = _solver(tmp_path, _lives(events, fail_in="destroy"))
    error = Boom if nan_row is None else mocha.SolverError  # the first error is the one seen
    with np.errstate(all="ignore"), pytest.raises(error) as info:
        mocha.solve(solver, _net(nan_row))
    if nan_row is not None:  # the failed destroy is told about, not lost
        assert info.value.__notes__ == [
            "while shutting the coffee lounge down after this error: Boom: b"
        ]
    assert events == BOTH
    assert (tmp_path / "statistics.h5").exists()
    assert not solver.coffee_lounge.active
