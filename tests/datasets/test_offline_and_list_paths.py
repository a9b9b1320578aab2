"""Offline hints and Mocha.jl's list files (issue 28 items 9 and 10): a failed download names
`--mirror` (and `--synthetic` for CIFAR-10); a missing list file names the `mocha data`
command that writes it; list files may name their HDF5 files relative to the working folder."""

from __future__ import annotations

import os
import shutil
import urllib.error
from pathlib import Path

import h5py
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from mocha.cli import data_cmd
from mocha.core.errors import DataError
from mocha.datasets import fetch
from mocha.datasets.hdf5_stream import read_source_list

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def offline(monkeypatch):
    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(fetch.urllib.request, "urlopen", refuse)


@pytest.fixture
def data_app():
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    data_cmd.mocha_register_commands(app=app)
    return app


@pytest.mark.parametrize("name, synthetic", [("cifar10", True), ("mnist", False)])
def test_a_failed_download_names_the_offline_ways(data_app, tmp_path, offline, name, synthetic):
    out = tmp_path / name
    result = CliRunner().invoke(data_app, ["data", name, "--out", str(out)])
    assert result.exit_code == 1
    text = " ".join(result.output.split())  # rich may wrap the long message
    assert "could not download" in text
    assert f"mocha data {name} --mirror FOLDER_OR_URL --out {out}" in text
    assert (f"mocha data cifar10 --synthetic 5000 --out {out}" in text) == synthetic


def test_a_missing_list_file_names_the_mocha_data_command(tmp_path, monkeypatch):
    from mocha.experiment import ExperimentError, load_experiment, run_experiment

    examples = tmp_path / "examples" / "mnist"
    examples.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "mnist" / "lenet.toml", examples)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExperimentError) as info:
        run_experiment(load_experiment(examples / "lenet.toml"), max_iter=1, handle_sigint=False)
    message = str(info.value)
    assert "train.txt' does not exist" in message
    assert "`mocha data mnist --out data/mnist` writes it" in message


def test_an_unknown_missing_list_file_lists_the_data_sets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as info:
        read_source_list("mine/train.txt", "HDF5DataLayer('d')")
    message = str(info.value)
    assert "`mocha data NAME --out mine` writes a data set's list files" in message
    assert "mnist" in message and "cifar10" in message and "mocha data convert" in message


def _h5(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f["data"] = np.full((4, 2), value, np.float32)


def test_list_entries_relative_to_the_working_folder(tmp_path, monkeypatch):
    """Mocha.jl's `data/train.txt` holds `data/train.hdf5`, a path from the working folder."""
    _h5(tmp_path / "data" / "train.hdf5", 1.0)
    (tmp_path / "data" / "train.txt").write_text("data/train.hdf5\n")
    monkeypatch.chdir(tmp_path)
    assert read_source_list("data/train.txt", "d") == [str(tmp_path / "data" / "train.hdf5")]
    # from another folder, the entry is looked for next to the list file first
    os.chdir(tmp_path / "data")
    _h5(tmp_path / "data" / "data" / "train.hdf5", 2.0)
    assert read_source_list("train.txt", "d") == [str(tmp_path / "data" / "data" / "train.hdf5")]


def test_list_entries_relative_to_the_list_file_win(tmp_path, monkeypatch):
    _h5(tmp_path / "sets" / "a.h5", 1.0)
    _h5(tmp_path / "a.h5", 2.0)  # the same name in the working folder
    (tmp_path / "sets" / "train.txt").write_text("a.h5\n")
    monkeypatch.chdir(tmp_path)
    assert read_source_list("sets/train.txt", "d") == [str(tmp_path / "sets" / "a.h5")]


def test_an_entry_found_nowhere_names_the_list_files_folder(tmp_path, monkeypatch):
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "train.txt").write_text("missing.h5\n")
    monkeypatch.chdir(tmp_path)
    assert read_source_list("sets/train.txt", "d") == [str(tmp_path / "sets" / "missing.h5")]


def test_a_missing_listed_file_names_the_mocha_data_command(tmp_path, monkeypatch):
    from mocha.datasets.hdf5_stream import scan_files

    (tmp_path / "data" / "mnist").mkdir(parents=True)
    (tmp_path / "data" / "mnist" / "train.txt").write_text("train.h5\n")
    monkeypatch.chdir(tmp_path)
    paths = read_source_list("data/mnist/train.txt", "d")
    with pytest.raises(DataError, match="`mocha data mnist --out data/mnist` writes it"):
        scan_files(paths, ("data",), "d", source="data/mnist/train.txt")
