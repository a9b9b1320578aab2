"""`mocha run`: resuming (and saying so), `--max-iter` below the resumed iteration, `--fresh`,
`--seed`, the `--json` environment, Ctrl-C's exit status and messages, `-v`/`-q`."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from mocha.cli import run_cmd
from mocha.core.coffee import CoffeeBreak

SNAPSHOT = """
[[coffee_breaks]]
type = "Snapshot"
dir = "snaps"
every_n_iter = 10
"""

main_thread_only = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers live in the main thread",
)


@pytest.fixture
def snapshot_toml(write_experiment, small_toml):
    return write_experiment(small_toml + SNAPSHOT)


def _run(app, runner, path, *args):
    return runner.invoke(app, ["run", str(path), "--no-progress", *args])


def test_resume_is_said_and_a_lower_max_iter_too(app, runner, snapshot_toml, tmp_path):
    assert _run(app, runner, snapshot_toml).exit_code == 0
    snaps = tmp_path / "snaps"
    result = _run(app, runner, snapshot_toml, "--load-from", str(snaps), "--max-iter", "10")
    assert result.exit_code == 0, result.output
    assert f"resumed from {snaps / 'snapshot-000020.h5'} at iteration 20" in result.stderr
    assert "at iteration 20, at or past max_iter 10: nothing was trained" in result.stderr
    assert "--fresh to start over" in result.stderr
    assert "nothing to train (resumed) at iteration 20" in result.stdout
    result = _run(
        app, runner, snapshot_toml, "--load-from", str(snaps), "--max-iter", "30", "--json"
    )
    info = json.loads(result.stdout)
    assert (info["start_iteration"], info["iterations"]) == (20, 30)
    assert info["resumed_from"].endswith("snapshot-000020.h5")
    assert "nothing was trained" not in result.stderr


def test_fresh_moves_the_previous_run_aside(app, runner, snapshot_toml, tmp_path):
    assert _run(app, runner, snapshot_toml, "--max-iter", "20").exit_code == 0
    snaps = tmp_path / "snaps"
    before = sorted(p.name for p in snaps.glob("snapshot-*.h5"))
    assert before == ["snapshot-000000.h5", "snapshot-000010.h5", "snapshot-000020.h5"]
    result = _run(app, runner, snapshot_toml, "--fresh", "--max-iter", "10", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["start_iteration"] == 0 and info["iterations"] == 10
    moved = info["moved_aside"]
    assert os.path.dirname(moved) == str(snaps) and "moved the previous run" in result.stderr
    assert sorted(os.listdir(moved)) == before  # nothing deleted
    assert sorted(p.name for p in snaps.glob("snapshot-*.h5")) == [
        "snapshot-000000.h5",
        "snapshot-000010.h5",
    ]
    # a later resume sees the fresh run only
    result = _run(app, runner, snapshot_toml, "--load-from", str(snaps), "--max-iter", "10")
    assert f"resumed from {snaps / 'snapshot-000010.h5'} at iteration 10" in result.stderr


def test_fresh_refuses_load_from(app, runner, snapshot_toml, tmp_path):
    result = _run(app, runner, snapshot_toml, "--fresh", "--load-from", str(tmp_path))
    assert result.exit_code == 2 and "--fresh starts over" in result.stderr


def test_seed_and_json_environment(app, runner, write_experiment, small_toml):
    path = write_experiment(small_toml)
    out = [
        json.loads(_run(app, runner, path, "--json", "--seed", str(s)).stdout) for s in (5, 5, 6)
    ]
    assert out[0]["objective"] == out[1]["objective"] != out[2]["objective"]
    env = out[0]["environment"]
    assert env["seed"] == 5 and out[2]["environment"]["seed"] == 6
    assert env["versions"]["numpy"] and env["versions"]["python"]
    assert "threads" in env and "git_commit" in env
    assert out[0]["backend"] == "NumpyBackend"


class _Interrupt(CoffeeBreak):
    """Sends SIGINT to this process at the given iterations."""

    def __init__(self, *at: int, times: int = 1) -> None:
        self.at, self.times = at, times

    def enjoy(self, lounge, solver, net, state):
        if state.iter in self.at:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)


@main_thread_only
def test_ctrl_c_exits_130_with_the_resume_hint(
    app, runner, write_experiment, small_toml, monkeypatch
):
    path = write_experiment(small_toml.replace("max_iter = 20", "max_iter = 1000") + SNAPSHOT)
    monkeypatch.setattr(run_cmd, "_progress_breaks", lambda enabled, **kw: [(_Interrupt(13), 1)])
    result = _run(app, runner, path)
    assert result.exit_code == 130, result.output
    assert "snapshot written to" in result.stderr and "--load-from" in result.stderr


@main_thread_only
def test_second_ctrl_c_names_the_snapshot_on_disk(
    app, runner, write_experiment, small_toml, monkeypatch, tmp_path
):
    path = write_experiment(small_toml.replace("max_iter = 20", "max_iter = 1000") + SNAPSHOT)
    monkeypatch.setattr(
        run_cmd, "_progress_breaks", lambda enabled, **kw: [(_Interrupt(12, 13), 1)]
    )
    result = _run(app, runner, path)
    assert result.exit_code == 130, result.output
    assert "without a snapshot" not in result.stderr
    assert f"the latest snapshot is {tmp_path / 'snaps' / 'snapshot-000010.h5'}" in result.stderr


@main_thread_only
def test_second_ctrl_c_without_a_snapshot_break(
    app, runner, write_experiment, small_toml, monkeypatch
):
    path = write_experiment(small_toml.replace("max_iter = 20", "max_iter = 1000"))
    monkeypatch.setattr(
        run_cmd, "_progress_breaks", lambda enabled, **kw: [(_Interrupt(12, times=2), 1)]
    )
    result = _run(app, runner, path)
    assert result.exit_code == 130
    assert "stopped at once, without a snapshot" in result.stderr


def test_log_messages_and_quiet(app, runner, snapshot_toml):
    result = _run(app, runner, snapshot_toml)
    assert "Snapshot: saved" in result.stderr
    result = runner.invoke(app, ["-q", "run", str(snapshot_toml), "--no-progress", "--fresh"])
    assert result.exit_code == 0, result.output
    assert "Snapshot: saved" not in result.stderr
    assert "Warning: --fresh: moved" in result.stderr  # warnings stay


def test_training_log_is_not_repeated_and_plugin_logs_are_shown(
    app, runner, write_experiment, small_toml, monkeypatch
):
    import logging

    class _Chatty(CoffeeBreak):
        def enjoy(self, lounge, solver, net, state):
            if state.iter == 3:
                logging.getLogger("mocha.plugins.chatty").info("chatty plugin at iteration 3")

    text = small_toml + '[[coffee_breaks]]\ntype = "TrainingSummary"\nevery_n_iter = 10\n'
    monkeypatch.setattr(run_cmd, "_progress_breaks", lambda enabled, **kw: [(_Chatty(), 1)])
    result = _run(app, runner, write_experiment(text))
    assert result.exit_code == 0, result.output
    assert (result.stdout + result.stderr).count("TRAIN iter=000010") == 1
    assert "chatty plugin at iteration 3" in result.stderr


def test_monitoring_breaks_in_an_experiment_file(
    app, runner, write_experiment, small_toml, tmp_path
):
    text = (
        small_toml.replace("max_iter = 20", "max_iter = 200").replace(
            "base_lr = 0.05", "base_lr = 0.0"
        )
        + """
[[coffee_breaks]]
type = "ValidationPerformance"
every_n_iter = 10

[[coffee_breaks]]
type = "EarlyStopping"
statistic = "accuracy"
patience = 2
every_n_iter = 10

[[coffee_breaks]]
type = "CSVLogger"
filename = "logs/stats.csv"
every_n_iter = 10

[[coffee_breaks]]
type = "Snapshot"
dir = "snaps"
keep_last = 1
every_n_iter = 10
"""
    )
    result = _run(app, runner, write_experiment(text), "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["iterations"] == 20 and not info["interrupted"]
    assert "has not improved" in info["stopped_early"]
    assert (tmp_path / "logs" / "stats.csv").read_text().startswith("iteration,")
    assert [p.name for p in (tmp_path / "snaps").glob("snapshot-*.h5")] == ["snapshot-000020.h5"]


@main_thread_only
def test_a_second_ctrl_c_while_the_last_snapshot_is_written_is_ignored():
    from types import SimpleNamespace

    from mocha.core.coffee import CoffeeLounge
    from mocha.experiment.stopping import stop_on_signals

    solver = SimpleNamespace(
        coffee_lounge=CoffeeLounge(), stop_requested=False, capture_every_iter=False
    )
    with stop_on_signals(solver):
        os.kill(os.getpid(), signal.SIGINT)  # the first: a graceful stop is requested
        solver.stop_requested = True  # the solver has stopped; the final snapshot is written
        os.kill(os.getpid(), signal.SIGINT)  # ignored: no KeyboardInterrupt
        solver.stop_requested = False  # (a stop requested but not yet honoured)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
