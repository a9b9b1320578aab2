"""The adaptive thread count: the parallel regions run at T threads (the backend's) or all at 1,
whichever measured faster as the training runs.

Why: a parallel region splits its work statically between its threads and ends when the
slowest one does. On a machine whose cores are busy with other processes, the scheduler sets
one of our threads aside for a time slice (milliseconds) in many regions, and the region waits
for it; and OpenMP's idle workers spin for a while after each region (GNU OpenMP's default
policy, which keeps the next region's wake-up cheap on a quiet machine), taking CPU time from
the thread that goes on alone. LeNet at 2 threads with one competing busy process on 2 cores
trained at 0.61× the speed of 1 thread (issue 25; the SGD update alone took 10-13 ms at 2
threads against 0.3-0.65 at 1). With the cores free, 2 threads are 1.3-1.8× faster. No
setting fits both, and the load changes while a run goes on, so the backend measures.

Why all regions at once: measured one site at a time, the sites that chose 1 thread still ran
slowly while another site's region left the worker spinning beside them; only all-at-1 lets
the workers sleep. So the tuner switches the whole process between two modes, T and 1:

* a **window** is as many region calls as there are region sites (about one training
  step); a call's cost is its own time plus the gap since the previous region ended (capped
  at `GAP_CAP`), so the serial work between regions, which a spinning worker slows, counts;
* **probe**: windows alternate T and 1 (after one warm-up window each, the first time:
  numba's loading, the scratch allocation), up to `PROBE` each, stopping early when one
  mode is `CLEAR` times faster (under contention a window at T costs time slices, so probes
  stay short); the estimate of a mode is the sum over the sites of their mean cost in it, and
  T is kept when it is at least `MARGIN` faster (a tie goes to 1, which wakes no worker);
* **exploit** for `interval` windows, then probe again; the interval doubles (up to
  `MAX_INTERVAL`) while the choice holds and falls back to `MIN_INTERVAL` when it changes;
* **drift**: in mode T, a moving average of the windows' cost per call that rises `DRIFT`
  times above the probe's (load arriving) starts a probe at once.

Results do not depend on the mode: the work split is the same at any thread count (see
`threads.py`). Only a backend built without `threads=` adapts (`NumbaBackend.init` turns the
tuner on); `threads=N` runs every region at N. `summary()` says what was chosen and why, for
`thread_info()` and `mocha run --json`.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

#: At most this many timed windows per mode in a probe.
PROBE = 3
#: A probe ends early once one mode's estimate is this many times the other's.
CLEAR = 1.5
#: T threads are kept only when their estimate is below (1 - MARGIN) × 1 thread's.
MARGIN = 0.05
#: Windows between probes: from MIN_INTERVAL, doubling while the choice holds, up to MAX.
MIN_INTERVAL = 40
MAX_INTERVAL = 640
#: In mode T, a moving average (weight 1/4) of the windows' cost per call this many times
#: the probe's starts a new probe.
DRIFT = 1.6
#: The gap before a region counted in its cost at most (a pause between two solve() calls,
#: a data read, is not the regions' doing).
GAP_CAP = 0.1


class Tuner:
    """The process's adaptive thread mode (`runtime.TUNER`); off unless a default
    `NumbaBackend` is initialized."""

    def __init__(self) -> None:
        self.reset(False)

    def reset(self, enabled: bool) -> None:
        self.enabled = enabled
        self.sites: set[Any] = set()
        self.many = True  # the mode: T threads (True) or 1
        self.plan: list[bool] = [True, False] * (1 + PROBE)  # the first probe
        self.warmup = 2  # windows of `plan` whose costs are dropped
        self.choice: bool | None = None  # the last decision
        self.threads = 1  # T, as the last call gave it
        self.sums: dict[bool, dict[Any, float]] = {True: {}, False: {}}
        self.counts: dict[bool, dict[Any, int]] = {True: {}, False: {}}
        self.windows = {True: 0, False: 0}  # timed windows per mode in this probe
        self.estimate = {True: 0.0, False: 0.0}  # seconds per window, last decision
        self.per_call = {True: 0.0, False: 0.0}
        self.interval = MIN_INTERVAL
        self.until_probe = 0
        self.average = 0.0
        self.last_end = 0.0
        self.window_calls = 0
        self.window_cost = 0.0
        self.calls = {True: 0, False: 0}
        self.probes = 1 if enabled else 0
        self.decisions = 0

    def call(self, key: Any, threads: int, set_threads: Any, loop: Any, *args: Any) -> None:
        """Run `loop(*args)` at T = `threads` or 1 thread, as the mode says, and time it;
        `set_threads(n)` sets numba's count (put back to `threads` after)."""
        many = self.many
        self.threads = threads
        if not many:
            set_threads(1)
        t0 = perf_counter()
        try:
            loop(*args)
        finally:
            t1 = perf_counter()
            if not many:
                set_threads(threads)
        gap = t0 - self.last_end if self.last_end else 0.0
        self.last_end = t1
        self._record(key, many, t1 - t0 + min(max(gap, 0.0), GAP_CAP))

    def _record(self, key: Any, many: bool, cost: float) -> None:
        self.sites.add(key)
        self.calls[many] += 1
        self.window_calls += 1
        self.window_cost += cost
        if self.plan and not self.warmup:
            self.sums[many][key] = self.sums[many].get(key, 0.0) + cost
            self.counts[many][key] = self.counts[many].get(key, 0) + 1
        if self.window_calls >= max(len(self.sites), 4):
            self._end_window()

    def _end_window(self) -> None:
        per_call = self.window_cost / self.window_calls
        self.window_calls, self.window_cost = 0, 0.0
        if self.plan:  # probing
            self.plan.pop(0)
            if self.warmup:
                self.warmup -= 1
            else:
                self.windows[self.many] += 1
                est = {m: self._estimate(m) for m in (True, False)}
                clear = est[True] > CLEAR * est[False] or est[False] > CLEAR * est[True]
                if not self.plan or (self.windows[True] and self.windows[False] and clear):
                    self._decide(est)
                    return
            self.many = self.plan[0]
            return
        self.until_probe -= 1
        drifting = False
        if self.many:
            self.average += (per_call - self.average) / 4.0
            drifting = self.average > DRIFT * self.per_call[True]
        if self.until_probe <= 0 or drifting:
            self._start_probe()

    def _estimate(self, many: bool) -> float:
        """Seconds per window in a mode: the sites' mean costs, over the sites timed in both."""
        sums, counts, other = self.sums[many], self.counts[many], self.counts[not many]
        return sum(sums[k] / counts[k] for k in counts if k in other)

    def _start_probe(self) -> None:
        self.sums, self.counts = {True: {}, False: {}}, {True: {}, False: {}}
        self.windows = {True: 0, False: 0}
        self.plan = [not self.many, self.many] * PROBE  # the other mode first
        self.many = self.plan[0]
        self.probes += 1

    def _decide(self, est: dict[bool, float]) -> None:
        many = est[True] < (1.0 - MARGIN) * est[False]
        same = many == self.choice
        self.interval = min(self.interval * 2, MAX_INTERVAL) if same else MIN_INTERVAL
        self.choice = many
        self.estimate = est
        for m in (True, False):
            n = sum(self.counts[m].values())
            self.per_call[m] = sum(self.sums[m].values()) / n if n else 0.0
        self.many, self.plan = many, []
        self.decisions += 1
        self.until_probe = self.interval
        self.average = self.per_call[many]

    def summary(self) -> dict[str, Any]:
        """What the mode is and why: the last probe's estimates (ms per window of all the
        region sites) at T threads and at 1, the share of region calls run at T, probes."""
        ms = {m: round(1e3 * self.estimate[m], 3) for m in (True, False)}
        total = self.calls[True] + self.calls[False]
        if not self.decisions:
            why = "still measuring"
        elif self.many:
            why = f"regions faster at T threads ({ms[True]} vs {ms[False]} ms per round)"
        else:
            why = f"regions faster at 1 thread ({ms[False]} vs {ms[True]} ms per round at T)"
        return {
            "adaptive": self.enabled,
            "threads_now": self.threads if self.many else 1,
            "why": why,
            "round_ms_at_T": ms[True],
            "round_ms_at_1": ms[False],
            "regions": len(self.sites),
            "calls_at_T_share": round(self.calls[True] / total, 3) if total else 0.0,
            "probes": self.probes,
        }
