"""Step 2 of benchmarks/gpu/run.sh: the device, the driver, CUDA and the package versions, one
`key: value` line each (benchmarks/gpu/report.py copies them into the report).

    python3 benchmarks/gpu/versions.py SITE     # SITE: where run.sh installed the wheel
"""

from __future__ import annotations

import importlib
import platform
import subprocess
import sys


def version(name: str) -> str:
    try:
        return str(importlib.import_module(name).__version__)
    except Exception as exc:  # a report line, never a crash
        return f"not importable ({type(exc).__name__}: {exc})"


def main(argv: list[str]) -> int:
    import cupy

    import mocha

    site = argv[0] if argv else ""
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    lines = {
        "device": f"{name}, {props['totalGlobalMem'] / 2**30:.1f} GiB, "
        f"{props['multiProcessorCount']} SMs, compute capability {props['major']}.{props['minor']}",
        "devices visible": cupy.cuda.runtime.getDeviceCount(),
        "CUDA driver": cupy.cuda.runtime.driverGetVersion(),
        "CUDA runtime": cupy.cuda.runtime.runtimeGetVersion(),
        "python": f"{platform.python_version()} ({sys.executable})",
        "mocha": f"{mocha.__version__} from {mocha.__file__}",
        "installed from the wheel": bool(site) and mocha.__file__.startswith(site),
    }
    for pkg in ("numpy", "cupy", "torch", "numba", "h5py", "pluggy", "pytest", "hypothesis"):
        lines[pkg] = version(pkg)
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        lines["nvidia-smi"] = smi.stdout.strip() or smi.stderr.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        lines["nvidia-smi"] = f"not run ({exc})"
    for key, value in lines.items():
        print(f"{key}: {value}")
    return 0 if lines["installed from the wheel"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
