"""What `mocha run --json` records about the environment of a run: seed, backend, thread
counts, versions and the git commit of the experiment's folder (when it is a git checkout)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_commit(folder: Path) -> str | None:
    """`git rev-parse HEAD` in `folder` (plus "-dirty" with uncommitted changes), or None."""
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def threads() -> dict[str, Any]:
    """The thread settings in force: the environment variables that are set, numba's thread
    count when numba is loaded, and the BLAS pools when threadpoolctl is installed."""
    out: dict[str, Any] = {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}
    numba = sys.modules.get("numba")
    if numba is not None:
        try:
            out["numba"] = int(numba.get_num_threads())
        except Exception:  # a numba without a threading layer
            pass
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return out
    out["blas"] = [
        {"library": i.get("internal_api"), "threads": i.get("num_threads")}
        for i in threadpool_info()
    ]
    return out


def run_info(exp: Any, seed: int) -> dict[str, Any]:
    """The `environment` object of `mocha run --json`."""
    versions = {"python": platform.python_version()}
    for dist in ("mocha-dl", "numpy", "numba", "h5py", "cupy-cuda12x", "mpi4py"):
        v = _version(dist)
        if v is not None:
            versions[dist] = v
    return {
        "seed": seed,
        "threads": threads(),
        "versions": versions,
        "git_commit": git_commit(Path(exp.path).resolve().parent),
    }
