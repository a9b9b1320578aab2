"""`mocha bench`: the table's shape and the environment lines, with tiny iteration counts and
no PyTorch (speed is never asserted)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("numba")


def test_bench_prints_one_row_per_configuration(app, runner, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")  # removed from the children's env
    # Numba, the default choice on a machine without a GPU (named: a GPU or the emulated GPU
    # of a test session would be the default otherwise)
    monkeypatch.setenv("MOCHA_BACKEND", "numba")
    out = tmp_path / "bench.json"
    result = runner.invoke(
        app, ["bench", "--iters", "2", "--threads", "1", "--compare", "none", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| framework"))
    assert lines[header].count("|") == 9
    rows = [line for line in lines[header + 2 :] if line.startswith("|")]
    assert len(rows) == 1 and rows[0].startswith("| mocha | 1 |")
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert float(cells[2]) > 0  # it/s, no ratio without PyTorch
    assert cells[3].endswith("GFLOP/s") and cells[4].endswith("%")
    assert "through solve()" in result.stdout
    assert "mocha 1t [NumbaBackend]" in result.stdout and "numba x1" in result.stdout
    assert "unset for every framework: OPENBLAS_L2_SIZE" in result.stdout
    report = json.loads(out.read_text())
    r = report["nets"]["lenet"]["mocha/1"]
    assert r["loop"]["iterations"] == 2
    assert {i["num_threads"] for i in r["env"] if i["internal_api"] == "openblas"} >= {1}


def test_bench_refuses_bad_options(app, runner):
    for args, message in (
        (["--net", "vgg"], "--net 'vgg'"),
        (["--threads", "0"], "--threads"),
        (["--threads", "a"], "--threads"),
        (["--compare", "tf"], "--compare"),
    ):
        result = runner.invoke(app, ["bench", *args])
        assert result.exit_code == 2, args
        assert message in result.output


def test_repeats_keep_the_best_of_each_column():
    from mocha.cli.bench_cmd import best

    a = {
        "train_it_s": 10.0,
        "first_iter_s": 1.0,
        "peak_rss_mb": 200.0,
        "latency_ms": 0.5,
        "sgemm_gflops": 50.0,
        "loop": {"overhead_fraction": 0.01},
    }
    b = {
        "train_it_s": 12.0,
        "first_iter_s": 1.2,
        "peak_rss_mb": 190.0,
        "latency_ms": 0.6,
        "sgemm_gflops": 40.0,
        "loop": {"overhead_fraction": 0.02},
    }
    assert best(None, a) is a
    merged = best(a, b)
    assert merged == {
        "train_it_s": 12.0,
        "first_iter_s": 1.0,
        "peak_rss_mb": 190.0,
        "latency_ms": 0.5,
        "sgemm_gflops": 50.0,
        "runs": 2,
        "loop": {"overhead_fraction": 0.02},
    }  # the faster run's breakdown
