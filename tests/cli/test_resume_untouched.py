"""A run with nothing to train leaves the snapshot it resumed from as it is (issue 28 item 7):
neither the breaks of the resumed iteration nor the runner's final snapshot rewrite it."""

from __future__ import annotations

import os

import pytest

SNAPSHOT = '\n[[coffee_breaks]]\ntype = "Snapshot"\ndir = "snaps"\nevery_n_iter = 10\n'


def _run(app, runner, path, *args):
    result = runner.invoke(app, ["run", str(path), "--no-progress", *args])
    assert result.exit_code == 0, result.output
    return result


def _identity(path):
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns, path.read_bytes()


@pytest.mark.parametrize(
    "trained, again, load_from",
    [
        (20, 20, "folder"),  # at max_iter
        (20, 10, "folder"),  # past max_iter
        (25, 25, "file"),  # the final snapshot (25 is off the every-10 schedule)
    ],
)
def test_nothing_to_train_leaves_the_snapshot(
    app, runner, write_experiment, small_toml, trained, again, load_from
):
    path = write_experiment(small_toml + SNAPSHOT)
    _run(app, runner, path, "--max-iter", str(trained))
    snaps = path.parent / "snaps"
    resumed = snaps / f"snapshot-{trained:06d}.h5"
    before = _identity(resumed)
    others = {p.name: _identity(p) for p in snaps.glob("snapshot-*.h5")}
    source = snaps if load_from == "folder" else resumed
    result = _run(app, runner, path, "--load-from", str(source), "--max-iter", str(again))
    assert "nothing to train (resumed)" in result.stdout
    assert "overwriting" not in result.stderr
    assert _identity(resumed) == before
    assert {p.name: _identity(p) for p in snaps.glob("snapshot-*.h5")} == others


def test_a_resume_that_trains_still_saves_its_snapshots(app, runner, write_experiment, small_toml):
    path = write_experiment(small_toml + SNAPSHOT)
    _run(app, runner, path, "--max-iter", "20")
    snaps = path.parent / "snaps"
    before = _identity(snaps / "snapshot-000020.h5")
    result = _run(app, runner, path, "--load-from", str(snaps), "--max-iter", "30")
    assert "overwriting" not in result.stderr
    assert _identity(snaps / "snapshot-000020.h5") == before
    assert (snaps / "snapshot-000030.h5").exists()
