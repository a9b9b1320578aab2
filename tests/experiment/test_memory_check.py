"""The memory check before training counts what training holds (weights, their gradients,
the solver's history, activations and their gradients) against what the machine or this
process's cgroup has left, and names the largest layer and the sizes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from mocha.experiment import ExperimentError, load_experiment, run_experiment
from mocha.experiment import build as build_module

BIG = textwrap.dedent("""\
    name = "big"

    [backend]
    name = "numpy"

    [[layers]]
    type = "MemoryDataLayer"
    name = "data"
    source = "sklearn:digits"
    batch_size = 2

    [[layers]]
    type = "InnerProductLayer"
    name = "wide"
    output_dim = 20000
    bottoms = ["data"]
    tops = ["wide"]

    [[layers]]
    type = "InnerProductLayer"
    name = "out"
    output_dim = 10
    bottoms = ["wide"]
    tops = ["out"]

    [[layers]]
    type = "SoftmaxLossLayer"
    name = "loss"
    bottoms = ["out", "label"]

    [solver]
    method = "METHOD"
    max_iter = 1
    lr_policy = 0.01
    """)
# 'wide' holds 64 x 20000 float32 weights (+ bias): about 4.9 MiB; 'out' 20000 x 10: 0.8 MiB
WEIGHTS = (64 * 20000 + 20000 + 20000 * 10 + 10) * 4


def _experiment(tmp_path, method):
    path = tmp_path / "big.toml"
    path.write_text(BIG.replace("METHOD", method))
    return load_experiment(path)


@pytest.mark.parametrize(("method", "slots"), [("SGD", 1), ("Adam", 2)])
def test_training_memory_counts_gradients_and_solver_state(tmp_path, monkeypatch, method, slots):
    exp = _experiment(tmp_path, method)
    need = WEIGHTS * (2 + slots)  # weights, gradients, history; activations are small here
    monkeypatch.setattr(build_module, "available_memory", lambda: int(need * 0.95))
    with pytest.raises(ExperimentError) as info:
        run_experiment(exp, max_iter=1, handle_sigint=False)
    message = str(info.value)
    assert "the largest layer is 'wide'" in message
    for part in ("weights", "gradients", "solver state", "activations"):
        assert part in message
    assert "more than the" in message and "lower batch_size or output_dim" in message
    monkeypatch.setattr(build_module, "available_memory", lambda: int(need * 1.5))
    assert run_experiment(exp, max_iter=1, handle_sigint=False).iterations == 1


def _cgroup_files(tmp_path, lines, files):
    tmp_path.mkdir(parents=True, exist_ok=True)
    own = tmp_path / "cgroup"
    own.write_text("".join(f"{line}\n" for line in lines))
    for rel, text in files.items():
        target = tmp_path / "fs" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return str(tmp_path / "fs"), str(own)


def test_cgroup_v2_limit(tmp_path):
    root, own = _cgroup_files(
        tmp_path,
        ["0::/job/step"],
        {"job/step/memory.max": "1073741824", "job/step/memory.current": "73741824"},
    )
    assert build_module.cgroup_memory_left(root, own) == 1_000_000_000


def test_cgroup_v1_limit_and_no_limit(tmp_path):
    root, own = _cgroup_files(
        tmp_path,
        ["4:memory:/docker/abc", "3:cpu:/"],
        {"memory/memory.limit_in_bytes": "500000000", "memory/memory.usage_in_bytes": "100"},
    )  # inside the container the group's folder is the root of the hierarchy
    assert build_module.cgroup_memory_left(root, own) == 499_999_900
    root, own = _cgroup_files(
        tmp_path / "none",
        ["0::/"],
        {"memory.max": "max", "memory.current": "5"},
    )
    assert build_module.cgroup_memory_left(root, own) is None


def test_available_memory_is_the_smaller_of_machine_and_cgroup(monkeypatch):
    monkeypatch.setattr(build_module, "cgroup_memory_left", lambda: 12345)
    assert build_module.available_memory() == 12345


def test_a_real_cgroup_limit_refuses_before_training(tmp_path):
    """As root on a machine with the v1 memory controller: `mocha run` inside a cgroup of
    64 MiB refuses a net whose training needs more, naming the cgroup's limit."""
    base = "/sys/fs/cgroup/memory"
    if os.geteuid() != 0 or not os.path.isdir(base) or not os.access(base, os.W_OK):
        pytest.skip("needs root and a writable cgroup v1 memory hierarchy")
    group = os.path.join(base, f"mocha-test-{os.getpid()}")
    try:
        os.mkdir(group)
        with open(os.path.join(group, "memory.limit_in_bytes"), "w") as f:
            f.write(str(256 << 20))
    except OSError as exc:
        pytest.skip(f"cannot make a memory cgroup here: {exc}")
    path = tmp_path / "big.toml"
    path.write_text(BIG.replace("METHOD", "Adam").replace("20000", "200000"))
    try:
        run = subprocess.run(
            [
                "sh",
                "-c",
                f'echo $$ > {group}/cgroup.procs && exec "$0" -m mocha run "$1" --no-progress',
                sys.executable,
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        subprocess.run(["rmdir", group], capture_output=True)
    assert run.returncode == 2, run.stderr
    assert "this process's cgroup limit" in run.stderr and "'wide'" in run.stderr
