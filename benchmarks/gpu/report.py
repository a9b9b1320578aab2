"""The report of benchmarks/gpu/run.sh: benchmarks/results/gpu-<date>.md from its logs.

    python3 benchmarks/gpu/report.py LOGS REPORT.md ROW...   # ROW: "| step | verdict | s |"

Every figure comes from the logs of that run: the versions, `mocha backends`, the test
counts (JUnit XML) and the failing tests, LeNet's accuracy, and `mocha bench`'s tables.
"""

from __future__ import annotations

import re
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path


def read(logs: Path, name: str) -> str:
    path = logs / f"{name}.log"
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else "(no log)"


def junit(logs: Path, name: str) -> list[str]:
    """Counts and the first failing tests of a pytest run's JUnit XML."""
    path = logs / f"{name}.xml"
    if not path.exists():
        return [f"no JUnit file ({name}.xml): the run did not finish; its log's last lines:", ""]
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    keys = ("tests", "failures", "errors", "skipped")
    total = {k: sum(int(s.get(k, 0)) for s in suites) for k in keys}
    passed = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
    time_s = sum(float(s.get("time", 0)) for s in suites)
    out = [
        f"{total['tests']} tests: {passed} passed, {total['failures']} failed, "
        f"{total['errors']} errors, {total['skipped']} skipped ({time_s:.0f} s)",
        "",
    ]
    bad = [
        f"- `{case.get('classname')}::{case.get('name')}`: "
        + (next(iter(case)).get("message") or "")[:200].replace("\n", " ")
        for s in suites
        for case in s.iter("testcase")
        if any(child.tag in ("failure", "error") for child in case)
    ]
    return out + (["Failing:", "", *bad[:40], ""] if bad else [])


LENET_TARGET = 96.5  # % of the test images, as tests/slow/test_lenet_mnist.py asks on the CPU


def lenet_verdict(log: str) -> str:
    match = re.search(r"test accuracy: ([0-9.]+)%", log)
    if not match:
        return "LeNet gave no test accuracy (see the log's last lines above)."
    accuracy = float(match.group(1))
    met = "met" if accuracy >= LENET_TARGET else "NOT met"
    return f"Test accuracy {accuracy:.2f}%: the target >= {LENET_TARGET}% is {met}."


def tail(text: str, n: int) -> list[str]:
    return ["```", *text.strip().splitlines()[-n:], "```", ""]


def main(argv: list[str]) -> int:
    logs, report, rows = Path(argv[0]), Path(argv[1]), argv[2:]
    lenet = read(logs, "lenet")
    bench = read(logs, "bench")
    lines = [
        f"# GPU verification, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "Written by `benchmarks/gpu/run.sh` (one run; the machine's figures are its own).",
        "",
        "| step | result | seconds |",
        "|---|---|---|",
        *rows,
        "",
        "## Device and versions",
        "",
        *tail(read(logs, "versions"), 40),
        "## `mocha backends`",
        "",
        *tail(read(logs, "backends"), 30),
        "## The test suite with `--mocha-backend=cupy`",
        "",
        *junit(logs, "suite"),
        *tail(read(logs, "suite"), 15),
        "## Backend agreement (every kernel and layer against the NumPy reference)",
        "",
        *junit(logs, "agreement"),
        "## LeNet on MNIST (examples/mnist/lenet_idx.py, cupy, 2000 iterations)",
        "",
        *tail("\n".join(x for x in lenet.splitlines() if "iter=" in x or "accuracy" in x), 12),
        lenet_verdict(lenet),
        "",
        "## `mocha bench` against PyTorch CUDA eager (same card, same run)",
        "",
        *[x for x in bench.splitlines() if not x.lstrip().startswith("[")],
        "",
    ]
    report.write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
