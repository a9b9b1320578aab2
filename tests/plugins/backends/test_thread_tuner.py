"""The adaptive thread mode of a default Numba backend (`numba_backend.tuner`): its decisions
on synthetic costs (no timing is asserted), how it runs a region, and who turns it on."""

from __future__ import annotations

import pytest

from mocha.plugins.backends.numba_backend import tuner as tuner_module
from mocha.plugins.backends.numba_backend.tuner import Tuner

SITES = 6


def feed(t: Tuner, cost, windows: int) -> list[bool]:
    """Run `windows` rounds of SITES region calls; `cost(many, site)` is each call's cost.
    Returns the mode of each round's first call."""
    modes = []
    for _ in range(windows):
        modes.append(t.many)
        for site in range(SITES):
            t.threads = 2
            t._record(site, t.many, cost(t.many, site))
    return modes


def test_a_busy_machine_makes_it_choose_one_thread_after_a_short_probe():
    t = Tuner()
    t.reset(True)
    modes = feed(t, lambda many, site: 0.004 if many else 0.001, 40)
    assert t.choice is False and not t.many
    # warm-up T, warm-up 1, then one timed window each: clearly slower at T, decided
    assert modes[:4] == [True, False, True, False] and not any(modes[4:])
    s = t.summary()
    assert s["threads_now"] == 1 and s["round_ms_at_T"] == pytest.approx(4 * SITES)
    assert s["round_ms_at_1"] == pytest.approx(SITES) and "faster at 1 thread" in s["why"]


def test_a_quiet_machine_keeps_the_threads_and_probes_ever_less_often():
    t = Tuner()
    t.reset(True)
    modes = feed(t, lambda many, site: 0.0007 if many else 0.001, 2000)
    assert t.choice is True and t.many
    assert sum(modes) > 0.98 * len(modes)  # probes at 1 thread are rare
    assert t.interval == tuner_module.MAX_INTERVAL
    assert t.summary()["threads_now"] == 2 and "faster at T" in t.summary()["why"]


def test_a_tie_goes_to_one_thread():
    t = Tuner()
    t.reset(True)
    feed(t, lambda many, site: 0.001, 20)
    assert t.choice is False


def test_load_arriving_while_at_t_threads_starts_a_probe_at_once():
    t = Tuner()
    t.reset(True)
    feed(t, lambda many, site: 0.0007 if many else 0.001, 12)
    assert t.choice is True
    until = t.until_probe
    feed(t, lambda many, site: 0.005 if many else 0.001, 6)  # the competing process starts
    assert t.choice is False and t.probes == 2
    assert until > 6  # it did not wait for the scheduled probe


def test_load_leaving_is_found_at_the_next_probe():
    t = Tuner()
    t.reset(True)
    feed(t, lambda many, site: 0.004 if many else 0.001, 10)
    assert t.choice is False
    feed(t, lambda many, site: 0.0006 if many else 0.001, tuner_module.MIN_INTERVAL + 10)
    assert t.choice is True


def test_call_runs_the_loop_at_one_thread_in_mode_one_and_restores_the_count():
    t = Tuner()
    t.reset(True)
    counts: list[int] = []
    current = [2]

    def set_threads(n):
        current[0] = n

    def loop(x):
        counts.append((current[0], x))

    t.many = False
    t.call("site", 2, set_threads, loop, 7)
    t.many = True
    t.call("site", 2, set_threads, loop, 8)
    assert counts == [(1, 7), (2, 8)] and current[0] == 2
    assert t.calls == {True: 1, False: 1}


def test_only_a_default_numba_backend_adapts():
    pytest.importorskip("numba")
    import numba

    import mocha
    from mocha.plugins.backends.numba_backend import runtime

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    given = mocha.make_backend("numba", threads=2)
    mocha.init(given)
    try:
        assert not runtime.TUNER.enabled and "adaptive" not in given.thread_info()
    finally:
        mocha.shutdown(given)
    default = mocha.make_backend("numba")
    mocha.init(default)
    try:
        assert runtime.TUNER.enabled == (default.threads > 1)
        if default.threads > 1:
            assert default.thread_info()["adaptive"]["why"] == "still measuring"
    finally:
        mocha.shutdown(default)
    assert not runtime.TUNER.enabled
