"""The default thread count of the CPU backends: what the user and the machine allow.

A backend built without `threads=` takes the smallest of these limits, each one that is set:

* the CPU affinity mask (`os.sched_getaffinity`: `taskset`, `numactl`, a batch scheduler);
* a container's CPU quota: cgroup v2 `cpu.max` ("200000 100000" = 2 CPUs) or cgroup v1
  `cpu.cfs_quota_us` / `cpu.cfs_period_us`, rounded up to whole CPUs;
* `OMP_NUM_THREADS` (its first entry) and `NUMBA_NUM_THREADS` in the environment;
* the BLAS and OpenMP thread pools' current counts as threadpoolctl reads them, i.e. an active
  `threadpoolctl.threadpool_limits(n)` (and `OPENBLAS_NUM_THREADS`, `MKL_NUM_THREADS`, which
  set them). Counts that a Mocha backend itself set (`_blas_threads`) are not the user's:
  the counts found before the backend changed them are used instead.

`threads=` (and `mocha run --threads`, `[backend] threads`) overrides all of them.
`default_threads()` returns the count and a sentence saying which limit decided it, which
`thread_info()` and `mocha run --json` report.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import mocha.plugins.backends._blas_threads as blas_threads
from mocha.core.backend import available_cores

#: Where cgroups are mounted, and the file naming this process's cgroups.
CGROUP_ROOT = "/sys/fs/cgroup"
PROC_CGROUP = "/proc/self/cgroup"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(root: str = CGROUP_ROOT, proc_cgroup: str = PROC_CGROUP) -> float | None:
    """The CPUs this process's cgroup may use (quota / period), None when unlimited or
    unknown. cgroup v2: `cpu.max` of the process's own cgroup, else of the root; v1:
    `cpu/cpu.cfs_quota_us` and `cpu.cfs_period_us` (a quota of -1: unlimited)."""
    base = Path(root)
    own_v2, own_v1 = "", ""
    for line in (_read(Path(proc_cgroup)) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            own_v2 = parts[2].lstrip("/")
        elif "cpu" in parts[1].split(","):
            own_v1 = parts[2].lstrip("/")
    for folder in dict.fromkeys((base / own_v2, base)):
        text = _read(folder / "cpu.max")
        if text:
            quota, _, period = text.partition(" ")
            if quota == "max":
                return None
            try:
                return int(quota) / int(period or 100000)
            except ValueError:
                return None
    for v1 in ("cpu", "cpu,cpuacct"):
        for folder in dict.fromkeys((base / v1 / own_v1, base / v1)):
            quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
            if quota is None or period is None:
                continue
            try:
                q, p = int(quota), int(period)
            except ValueError:
                return None
            return q / p if q > 0 and p > 0 else None
    return None


def env_threads(name: str) -> int | None:
    """A thread count from environment variable `name` (`OMP_NUM_THREADS="4,2"`: its first
    entry), None when unset or not a whole number >= 1."""
    text = os.environ.get(name, "").split(",")[0].strip()
    try:
        count = int(text)
    except ValueError:
        return None
    return count if count >= 1 else None


def _pool_limits() -> list[tuple[int, str]]:
    """(count, why) of each BLAS and OpenMP pool threadpoolctl finds, the BLAS counts a
    Mocha backend set replaced by the user's."""
    out = []
    for count, lib in zip(blas_threads.user_counts(), blas_threads.controllers()):
        out.append((count, f"{lib.internal_api} at {count} thread(s) (threadpoolctl)"))
    try:
        from threadpoolctl import ThreadpoolController

        omp = ThreadpoolController().select(user_api="openmp").lib_controllers
    except Exception:  # threadpoolctl cannot inspect this process
        omp = []
    for lib in omp:
        count = lib.get_num_threads()
        if count:
            out.append((count, f"OpenMP ({lib.internal_api}) at {count} thread(s) (threadpoolctl)"))
    return out


def default_threads(pool: int | None = None) -> tuple[int, str]:
    """The default thread count and which limit decided it. `pool`: the most threads the
    backend's own pool can run (numba's `NUMBA_NUM_THREADS`), None for no such limit."""
    cores = available_cores()
    limits: list[tuple[float, str]] = [(cores, f"{cores} core(s) in the CPU affinity mask")]
    quota = cgroup_cpu_limit()
    if quota is not None:
        limits.append((math.ceil(quota), f"CPU quota of {quota:g} CPUs (cgroup)"))
    for name in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        count = env_threads(name)
        if count is not None:
            limits.append((count, f"{name}={count}"))
    if pool is not None:
        limits.append((pool, f"numba's pool of {pool} thread(s)"))
    limits.extend(_pool_limits())
    count = max(1, int(min(c for c, _ in limits)))
    why = "; ".join(dict.fromkeys(w for c, w in limits if int(c) == count))
    return count, why
