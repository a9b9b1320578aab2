"""The default thread count honours the user's settings (`_thread_settings`): OMP_NUM_THREADS,
NUMBA_NUM_THREADS, an active threadpool_limits, the CPU affinity mask and a container's CPU
quota; `threads=` overrides them. Settings read when a library loads are tested in child
processes (the environment set before the import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import mocha.plugins.backends._thread_settings as settings

CHILD = """
import json, sys
import mocha
{before}
out = {{}}
for name in {backends!r}:
    b = mocha.make_backend(name, threads={threads})
    mocha.init(b)
    out[name] = [b.threads, b.threads_reason]
    mocha.shutdown(b)
print(json.dumps(out))
"""


def _child(env: dict[str, str], before: str = "", threads=None, backends=("numba", "numpy")):
    pytest.importorskip("numba")
    full = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    full.update(env)
    full.setdefault("NUMBA_NUM_THREADS", "2")
    code = CHILD.format(before=before, threads=threads, backends=list(backends))
    proc = subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _two_cores():
    if settings.available_cores() < 2:
        pytest.skip("needs 2 cores in the affinity mask")


def test_without_settings_the_default_is_the_cores():
    _two_cores()
    if settings.cgroup_cpu_limit() is not None and settings.cgroup_cpu_limit() < 2:
        pytest.skip("a CPU quota under 2 CPUs")
    out = _child({})
    assert out["numba"][0] == out["numpy"][0] == 2
    assert "affinity mask" in out["numba"][1]


@pytest.mark.parametrize("name", ["OMP_NUM_THREADS", "NUMBA_NUM_THREADS"])
def test_thread_variables_set_the_default(name):
    _two_cores()
    out = _child({name: "1"})
    assert out["numba"] == [1, f"{name}=1"] or out["numba"][0] == 1 and name in out["numba"][1]
    assert out["numpy"][0] == 1


def test_an_active_threadpool_limits_sets_the_default():
    _two_cores()
    before = "from threadpoolctl import threadpool_limits\n_limits = threadpool_limits(1)"
    out = _child({}, before=before)
    assert out["numba"][0] == out["numpy"][0] == 1
    assert "threadpoolctl" in out["numba"][1]


def test_the_affinity_mask_sets_the_default():
    _two_cores()
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no sched_setaffinity here")
    before = "import os\nos.sched_setaffinity(0, {min(os.sched_getaffinity(0))})"
    out = _child({}, before=before)
    assert out["numba"][0] == out["numpy"][0] == 1
    assert "1 core(s) in the CPU affinity mask" in out["numba"][1]


def test_threads_given_override_the_settings():
    _two_cores()
    out = _child({"OMP_NUM_THREADS": "1"}, threads=2)
    assert out["numba"] == [2, "threads=2 given"]
    assert out["numpy"][0] == 2


def test_a_cpu_quota_sets_the_default(monkeypatch):
    monkeypatch.setattr(settings, "cgroup_cpu_limit", lambda: 0.5)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    count, why = settings.default_threads()
    assert count == 1 and "CPU quota of 0.5 CPUs (cgroup)" in why


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_cpu_max_is_read_for_the_process_cgroup(tmp_path):
    proc = tmp_path / "proc_cgroup"
    _write(proc, "0::/box/job\n")
    _write(tmp_path / "cg" / "box" / "job" / "cpu.max", "150000 100000\n")
    _write(tmp_path / "cg" / "cpu.max", "max 100000\n")
    assert settings.cgroup_cpu_limit(str(tmp_path / "cg"), str(proc)) == 1.5
    (tmp_path / "cg" / "box" / "job" / "cpu.max").write_text("max 100000\n")
    assert settings.cgroup_cpu_limit(str(tmp_path / "cg"), str(proc)) is None


def test_cgroup_v1_cfs_quota_is_read(tmp_path):
    proc = tmp_path / "proc_cgroup"
    _write(proc, "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n")
    folder = tmp_path / "cg" / "cpu,cpuacct" / "docker" / "abc"
    _write(folder / "cpu.cfs_quota_us", "200000\n")
    _write(folder / "cpu.cfs_period_us", "100000\n")
    assert settings.cgroup_cpu_limit(str(tmp_path / "cg"), str(proc)) == 2.0
    (folder / "cpu.cfs_quota_us").write_text("-1\n")
    assert settings.cgroup_cpu_limit(str(tmp_path / "cg"), str(proc)) is None
    assert settings.cgroup_cpu_limit(str(tmp_path / "none"), str(proc)) is None


@pytest.mark.parametrize(
    ("value", "count"), [("3", 3), ("4,2", 4), (" 2 ", 2), ("0", None), ("x", None), ("", None)]
)
def test_thread_variables_are_parsed(monkeypatch, value, count):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert settings.env_threads("OMP_NUM_THREADS") == count
