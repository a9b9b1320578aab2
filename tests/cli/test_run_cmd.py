"""`mocha run`: the digits example end to end, JSON summary, snapshots and resuming."""

from __future__ import annotations

import json
import math
import os
import signal
import threading

import pytest

from mocha.core.coffee import CoffeeBreak
from mocha.core.io.statistics import load_statistics
from mocha.experiment import load_experiment, run_experiment


def test_digits_example_json_summary(app, runner, digits_toml):
    result = runner.invoke(
        app,
        [
            "run",
            str(digits_toml),
            "--max-iter",
            "50",
            "--no-progress",
            "--json",
            "--backend",
            "numpy",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # stdout holds only the JSON object
    assert summary["experiment"] == "digits"
    assert summary["iterations"] == 50
    assert summary["backend"] == "NumpyBackend"
    assert math.isfinite(summary["objective"])
    assert 0.0 <= summary["validation"]["accuracy"] <= 1.0
    assert summary["wall_time_s"] >= 0
    assert summary["interrupted"] is False
    assert "TRAIN iter=000000" in result.stderr  # the training log went to stderr


def test_digits_example_reaches_95_percent(app, runner, digits_toml):
    result = runner.invoke(app, ["run", str(digits_toml), "--no-progress", "--backend", "numpy"])
    assert result.exit_code == 0, result.output
    assert "done at iteration 1000" in result.stdout
    exp = load_experiment(digits_toml)
    res = run_experiment(exp, backend="numpy", handle_sigint=False)
    assert res.validation["accuracy"] >= 0.95


def test_snapshot_validation_lounge_and_resume(app, runner, write_experiment, tmp_path, small_toml):
    text = (
        small_toml
        + """
    [[coffee_breaks]]
    type = "TrainingSummary"
    statistics = ["iter", "obj_val", "learning_rate"]
    every_n_iter = 5

    [[coffee_breaks]]
    type = "ValidationPerformance"
    every_n_iter = 10

    [[coffee_breaks]]
    type = "Snapshot"
    dir = "snapshots"
    every_n_iter = 10

    [lounge]
    save_into = "snapshots/statistics.h5"
    every_n_iter = 10
    """.replace("\n    ", "\n")
    )
    path = write_experiment(text)
    result = runner.invoke(app, ["run", str(path), "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["iterations"] == 20
    snaps = sorted(os.listdir(tmp_path / "snapshots"))
    assert "snapshot-000020.h5" in snaps and "statistics.h5" in snaps
    stats = load_statistics(str(tmp_path / "snapshots" / "statistics.h5"))
    assert set(stats["accuracy"]) == {0, 10, 20}
    assert 5 in stats["obj_val"]
    # resume from the snapshot folder and continue to 30 iterations
    result = runner.invoke(
        app,
        [
            "run",
            str(path),
            "--no-progress",
            "--json",
            "--max-iter",
            "30",
            "--load-from",
            str(tmp_path / "snapshots"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["iterations"] == 30
    assert "TRAIN iter=000020" in result.stderr and "TRAIN iter=000000" not in result.stderr
    # the last iteration is saved even when the schedule does not fall on it
    result = runner.invoke(app, ["run", str(path), "--no-progress", "--json", "--max-iter", "33"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["snapshot_written"].endswith("snapshot-000033.h5")
    assert (tmp_path / "snapshots" / "snapshot-000033.h5").exists()


class _SendSigint(CoffeeBreak):
    def enjoy(self, lounge, solver, net, state):
        if state.iter == 7:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers live in the main thread",
)
def test_ctrl_c_stops_cleanly_and_writes_a_snapshot(write_experiment, tmp_path, small_toml):
    text = (
        small_toml.replace("max_iter = 20", "max_iter = 1000")
        + """
[[coffee_breaks]]
type = "Snapshot"
dir = "snaps"
every_n_iter = 500
"""
    )
    exp = load_experiment(write_experiment(text))
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when pytest runs as a background job
    result = run_experiment(exp, extra_coffee_breaks=[(_SendSigint(), 1)])
    assert result.interrupted
    assert 7 <= result.iterations <= 9
    assert result.snapshot_written.endswith(f"snapshot-{result.iterations:06d}.h5")
    assert os.path.exists(result.snapshot_written)
    assert result.snapshot_dir == str(tmp_path / "snaps")
    # the handler is removed afterwards
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's overflow on the way to inf
def test_diverging_training_exits_1_with_a_message(app, runner, write_experiment, small_toml):
    text = small_toml.replace('type = "Inv", base_lr = 0.05', 'type = "Inv", base_lr = 1e12')
    result = runner.invoke(app, ["run", str(write_experiment(text)), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error:") and "objective became" in result.stderr
    assert "Traceback" not in result.output


def test_interrupted_run_tells_how_to_resume(
    app, runner, write_experiment, small_toml, monkeypatch
):
    import mocha.experiment as experiment

    def fake_run(exp, options=None, **kwargs):
        return experiment.RunResult(
            experiment="small",
            backend="NumpyBackend",
            iterations=12,
            objective=0.5,
            interrupted=True,
            snapshot_dir="/x/snaps",
            snapshot_written="/x/snaps/snapshot-000012.h5",
        )

    monkeypatch.setattr(experiment, "run_experiment", fake_run)
    path = write_experiment(small_toml)
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 130, result.output
    assert "interrupted at iteration 12" in result.stdout
    assert "snapshot written to /x/snaps/snapshot-000012.h5" in result.stderr
    assert f"mocha run {path} --load-from /x/snaps" in result.stderr
