"""`mocha run` with EarlyStopping(restore_best = true): the final snapshot keeps the trained
state, the final validation measures the restored best model and says so (issue 28 item 8)."""

from __future__ import annotations

import json

import h5py
import numpy as np

BREAKS = """
[[coffee_breaks]]
type = "ValidationPerformance"
every_n_iter = 5

[[coffee_breaks]]
type = "EarlyStopping"
statistic = "accuracy"
patience = 1
min_delta = 0.9
restore_best = true
every_n_iter = 5

[[coffee_breaks]]
type = "Snapshot"
dir = "snaps"
every_n_iter = 10
"""


def test_mocha_run_restores_after_its_final_snapshot_and_says_so(
    app, runner, write_experiment, small_toml
):
    path = write_experiment(small_toml + BREAKS)
    result = runner.invoke(app, ["run", str(path), "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    # no evaluation improves on iteration 0 by 0.9: stopped at 5, the initial model restored
    assert info["iterations"] == 5 and info["stopped_early"]
    assert (info["model_iteration"], info["model"]) == (0, "best (restored by EarlyStopping)")
    snaps = path.parent / "snaps"
    with h5py.File(snaps / "snapshot-000000.h5") as a, h5py.File(snaps / "snapshot-000005.h5") as b:
        # the final snapshot holds the trained state, to resume from, not the restored one
        assert not np.array_equal(a["ip1___weight"][()], b["ip1___weight"][()])
    evaluated = runner.invoke(
        app, ["evaluate", str(path), "--model", str(snaps / "snapshot-000000.h5"), "--json"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert info["validation"] == json.loads(evaluated.stdout)["statistics"]
    text = runner.invoke(app, ["run", str(path), "--no-progress", "--fresh"])
    assert text.exit_code == 0, text.output
    assert "the best (restored by EarlyStopping) model, of iteration 0:" in text.stdout
