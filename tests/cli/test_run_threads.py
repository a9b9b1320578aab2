"""`mocha run --threads N` and `[backend] threads` reach the backend; `--json` reports the
thread count and the solver loop's timing breakdown."""

from __future__ import annotations

import json

import mocha.core.backend as core_backend


def test_mocha_run_threads_reaches_the_backend(
    monkeypatch, app, runner, write_experiment, small_toml
):
    seen = []
    real_init = core_backend.init

    def spy(backend):
        seen.append((type(backend).__name__, backend.threads))
        real_init(backend)

    monkeypatch.setattr(core_backend, "init", spy)
    toml = write_experiment(small_toml)
    result = runner.invoke(
        app, ["run", str(toml), "--threads", "1", "--no-progress", "--json", "--max-iter", "2"]
    )
    assert result.exit_code == 0, result.output
    assert seen == [("NumpyBackend", 1)]
    assert json.loads(result.stdout)["threads"] == 1
    toml = write_experiment(small_toml.replace('name = "numpy"', 'name = "numpy"\nthreads = 2'))
    result = runner.invoke(app, ["run", str(toml), "--no-progress", "--max-iter", "1"])
    assert result.exit_code == 0, result.output
    assert seen[-1] == ("NumpyBackend", 2)


def test_bad_thread_counts_are_refused(app, runner, write_experiment, small_toml):
    toml = write_experiment(small_toml)
    result = runner.invoke(app, ["run", str(toml), "--threads", "0", "--no-progress"])
    assert result.exit_code == 2
    toml = write_experiment(small_toml.replace('name = "numpy"', 'name = "numpy"\nthreads = "x"'))
    result = runner.invoke(app, ["run", str(toml), "--no-progress"])
    assert result.exit_code == 2
    assert "threads must be a whole number >= 1, not 'x'" in result.output


def test_mocha_run_json_has_the_loop_timing(app, runner, write_experiment, small_toml):
    toml = write_experiment(small_toml)
    result = runner.invoke(app, ["run", str(toml), "--no-progress", "--json", "--max-iter", "4"])
    assert result.exit_code == 0, result.output
    timing = json.loads(result.stdout)["loop_timing"]
    assert timing["iterations"] == 4
    assert set(timing) == {
        "iterations",
        "iteration_ms",
        "forward_ms",
        "backward_ms",
        "update_ms",
        "overhead_ms",
        "overhead_fraction",
    }
    assert timing["iteration_ms"] > 0 and 0 <= timing["overhead_fraction"] <= 1


def test_mocha_run_json_says_which_thread_count_it_used_and_why(
    app, runner, write_experiment, small_toml, monkeypatch
):
    toml = write_experiment(small_toml)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # read when the backend is initialized
    result = runner.invoke(app, ["run", str(toml), "--no-progress", "--json", "--max-iter", "2"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["threads"] == out["thread_choice"]["threads"] == 1
    assert "OMP_NUM_THREADS=1" in out["thread_choice"]["why"]
    result = runner.invoke(
        app, ["run", str(toml), "--no-progress", "--json", "--max-iter", "2", "--threads", "2"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["threads"] == 2 and out["thread_choice"]["why"] == "threads=2 given"
