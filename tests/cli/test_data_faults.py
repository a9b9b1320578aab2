"""Data that is bad or changes under a run: `mocha run` stops with exit status 2 and a message
naming the file and the row, never trains on zeros or NaN, never exits 0. A data file
truncated or replaced while training; NaN/Inf in training or validation data; class labels
out of range (10 of 10 classes), negative, fractional or NaN."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

import mocha.experiment
from mocha.core.coffee import CoffeeBreak

N = 60

HDF5_RUN = """
name = "faults"

[backend]
name = "numpy"

[[layers]]
type = "HDF5DataLayer"
name = "train-data"
phase = "train"
source = "train.txt"
batch_size = 10
shuffle = SHUFFLE

[[layers]]
type = "InnerProductLayer"
name = "ip"
output_dim = 10
bottoms = ["data"]
tops = ["ip"]

[[layers]]
type = "SoftmaxLossLayer"
name = "loss"
phase = "train"
bottoms = ["ip", "label"]

[solver]
method = "SGD"
max_iter = 40
lr_policy = 0.01
"""

NPZ_RUN = """
name = "faults"

[backend]
name = "numpy"

[[layers]]
type = "MemoryDataLayer"
name = "train-data"
phase = "train"
source = "train.npz"
batch_size = 10

[[layers]]
type = "MemoryDataLayer"
name = "test-data"
phase = "test"
source = "valid.npz"
batch_size = 10

[[layers]]
type = "InnerProductLayer"
name = "ip"
output_dim = 10
bottoms = ["data"]
tops = ["ip"]

[[layers]]
type = "SoftmaxLossLayer"
name = "loss"
phase = "train"
bottoms = ["ip", "label"]

[[layers]]
type = "AccuracyLayer"
name = "accuracy"
phase = "test"
bottoms = ["ip", "label"]

[[coffee_breaks]]
type = "ValidationPerformance"
every_n_iter = 10

[solver]
method = "SGD"
max_iter = 20
lr_policy = 0.01
"""


def _arrays(label=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, 4)).astype(np.float32)
    y = (np.arange(N) % 10).astype(np.float32).reshape(N, 1) if label is None else label
    return x, y


def _hdf5_experiment(tmp_path, shuffle=False, x=None, y=None):
    ax, ay = _arrays()
    with h5py.File(tmp_path / "train.h5", "w") as f:
        f["data"] = ax if x is None else x
        f["label"] = ay if y is None else y
    (tmp_path / "train.txt").write_text("train.h5\n")
    path = tmp_path / "faults.toml"
    path.write_text(HDF5_RUN.replace("SHUFFLE", "true" if shuffle else "false"))
    return path


def _npz_experiment(tmp_path, train=None, valid=None):
    x, y = _arrays()
    np.savez(tmp_path / "train.npz", **(train or {"data": x, "label": y}))
    np.savez(tmp_path / "valid.npz", **(valid or {"data": x[:30], "label": y[:30]}))
    path = tmp_path / "faults.toml"
    path.write_text(NPZ_RUN)
    return path


def _error(result):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    [line] = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    return result.stderr


class _AtIteration(CoffeeBreak):
    def __init__(self, iteration, action):
        self.iteration, self.action = iteration, action

    def enjoy(self, lounge, solver, net, state):
        if state.iter == self.iteration:
            self.action()


def _with_break(monkeypatch, coffee):
    run = mocha.experiment.run_experiment

    def run_with(exp, options=None, *, extra_coffee_breaks=(), **overrides):
        extra = [*extra_coffee_breaks, (coffee, 1)]
        return run(exp, options, extra_coffee_breaks=extra, **overrides)

    monkeypatch.setattr(mocha.experiment, "run_experiment", run_with)


@pytest.mark.parametrize("change", ["truncated", "replaced", "removed"])
def test_a_data_file_that_changes_under_the_run_stops_it(
    app, runner, tmp_path, monkeypatch, change
):
    path = _hdf5_experiment(tmp_path)
    data = tmp_path / "train.h5"

    def damage():
        if change == "truncated":
            os.truncate(data, os.path.getsize(data) // 2)
        elif change == "replaced":
            other = tmp_path / "other.h5"
            with h5py.File(other, "w") as f:
                f["data"], f["label"] = np.zeros((N, 4), np.float32), np.zeros((N, 1), np.float32)
            os.replace(other, data)
        else:
            os.remove(data)

    _with_break(monkeypatch, _AtIteration(3, damage))
    err = _error(runner.invoke(app, ["run", str(path), "--no-progress"]))
    assert f"data file {str(data)!r} changed while the run was reading it" in err
    assert "TRAIN iter=000010" not in err  # stopped at the next batch, not at the epoch's end


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("which", ["train", "valid"])
def test_non_finite_values_in_npz_data(app, runner, tmp_path, bad, which):
    x, y = _arrays()
    x[17, 2] = bad
    arrays = {"data": x, "label": y}
    path = _npz_experiment(tmp_path, **{which: arrays})
    err = _error(runner.invoke(app, ["run", str(path), "--no-progress"]))
    assert f"{which}.npz" in err and "NaN or infinite values (first at sample 17" in err


@pytest.mark.parametrize("bad", [-1.0, 3.5, np.nan])
def test_labels_that_are_not_class_indices_in_npz_data(app, runner, tmp_path, bad):
    x, y = _arrays()
    y[23, 0] = bad
    path = _npz_experiment(tmp_path, valid={"data": x, "label": y})
    err = _error(runner.invoke(app, ["run", str(path), "--no-progress"]))
    assert "valid.npz" in err and "first at sample 23" in err


@pytest.mark.parametrize("bad", [-1.0, 3.5, np.nan, np.inf])
def test_bad_labels_in_hdf5_data_name_file_and_sample(app, runner, tmp_path, bad):
    x, y = _arrays()
    y[42, 0] = bad
    path = _hdf5_experiment(tmp_path, shuffle=True, y=y)
    err = _error(runner.invoke(app, ["run", str(path), "--no-progress"]))
    assert "train.h5" in err and "'label'" in err and "first at sample 42" in err


def test_a_label_out_of_range_names_the_file_and_row_at_its_batch(app, runner, tmp_path):
    x, y = _arrays()
    y[34, 0] = 10  # 10 classes: 0..9
    path = _npz_experiment(tmp_path, train={"data": x, "label": y})
    err = _error(runner.invoke(app, ["run", str(path), "--no-progress"]))
    assert "label 10.0" in err and "out of range" in err
    assert "data layer 'train-data'" in err and "row 34" in err and "train.npz" in err


def test_a_label_out_of_range_in_hdf5_data(app, runner, tmp_path):
    x, y = _arrays()
    y[51, 0] = 12
    path = _hdf5_experiment(tmp_path, shuffle=True, y=y)
    err = _error(runner.invoke(app, ["run", str(path), "--no-progress"]))
    assert "label 12.0" in err and f"sample 51 of {str(tmp_path / 'train.h5')!r}" in err


def test_an_output_path_that_is_a_folder_is_the_files_fault(app, runner, tmp_path):
    """A coffee break told to write a file where a folder is: exit 2 (the file is at fault,
    as the docs say), not 1 (the system)."""
    path = _npz_experiment(tmp_path)
    (tmp_path / "log.csv").mkdir()
    path.write_text(
        path.read_text()
        + '\n[[coffee_breaks]]\ntype = "CSVLogger"\nfilename = "log.csv"\nevery_n_iter = 5\n'
    )
    err = _error(runner.invoke(app, ["run", str(path), "--no-progress"]))
    assert "log.csv" in err
