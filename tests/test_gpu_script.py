"""benchmarks/gpu/run.sh, the one-shot GPU verification, on a machine without a GPU: its shell
syntax, its dry run, its refusal (exit 2, with the reason) where CuPy is missing, and its
report built from a run's logs."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu" / "run.sh"
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="no bash")


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BASH, str(SCRIPT), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_script_parses():
    proc = subprocess.run([BASH, "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _has_cupy() -> bool:
    try:
        return importlib.util.find_spec("cupy") is not None
    except ValueError:  # a stand-in module without a spec (a fake cupy in sys.modules)
        return True


@pytest.mark.skipif(_has_cupy(), reason="CuPy is installed")
def test_without_cupy_it_exits_2_and_says_why():
    proc = _run()
    assert proc.returncode == 2
    assert "CuPy cannot be imported" in proc.stderr and "nothing was run" in proc.stderr
    assert not list((ROOT / "benchmarks" / "results").glob("gpu-*.md.tmp"))


def test_the_dry_run_prints_the_plan(tmp_path):
    proc = _run("--dry-run", MOCHA_GPU_WHEEL=str(tmp_path / "x.whl"), MOCHA_MNIST_DIR="nowhere")
    assert proc.returncode == 0, proc.stderr
    assert f"wheel: {tmp_path / 'x.whl'}" in proc.stdout
    assert "MNIST: nowhere MISSING" in proc.stdout
    assert "report: benchmarks/results/gpu-" in proc.stdout


def test_an_unknown_argument_is_refused():
    proc = _run("--fast")
    assert proc.returncode == 2 and "unknown argument '--fast'" in proc.stderr


JUNIT = """<?xml version="1.0"?><testsuites><testsuite tests="5" failures="1" errors="0"
skipped="1" time="12.5"><testcase classname="tests.a" name="test_ok"/>
<testcase classname="tests.a" name="test_bad"><failure message="assert 1 == 2"/></testcase>
</testsuite></testsuites>"""


def test_the_report_carries_every_figure_of_the_logs(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "versions.log").write_text("device: NVIDIA H100 80GB HBM3\ncupy: 14.2.0\n")
    (logs / "suite.xml").write_text(JUNIT)
    (logs / "lenet.log").write_text("TRAIN iter=002000 obj_val=0.05\ntest accuracy: 98.10%\n")
    (logs / "bench.log").write_text("  [1/1] lenet ...\n| mocha | 1 | 900.0 (1.20×) |\n")
    report = tmp_path / "gpu.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu" / "report.py"), str(logs), str(report)]
        + ["| suite | FAILED (exit 1) | 30 |"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    text = report.read_text()
    for figure in (
        "| suite | FAILED (exit 1) | 30 |",
        "device: NVIDIA H100 80GB HBM3",
        "5 tests: 3 passed, 1 failed, 0 errors, 1 skipped (12 s)",
        "`tests.a::test_bad`: assert 1 == 2",
        "test accuracy: 98.10%",
        "Test accuracy 98.10%: the target >= 96.5% is met.",
        "| mocha | 1 | 900.0 (1.20×) |",
    ):
        assert figure in text
    assert "[1/1]" not in text  # bench progress lines are left out
