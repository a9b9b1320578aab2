"""Malformed inputs end in one clear message with the right exit status, or a warning and a
correct result; never a traceback, never silent nonsense (issue 19).

Every case is built in the test: experiment files (edits of the small digits experiment),
HDF5 and list files, arrays, images, archives and snapshots. Plugin packages built in the
test are in test_plugins_robust.py; solver-section validation is tested elsewhere.
"""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from mocha.cli.app import make_app

SNAPSHOT = '[[coffee_breaks]]\ntype = "Snapshot"\ndir = "{dir}"\nevery_n_iter = {every}\n'
HDF5_TRAIN = """type = "HDF5DataLayer"
name = "train-data"
phase = "train"
source = "{source}"
batch_size = 8
"""
MEMORY_TRAIN = """type = "MemoryDataLayer"
name = "train-data"
phase = "train"
source = "sklearn:digits"
split = "train"
batch_size = 32
shuffle = true
"""


@pytest.fixture(scope="module")
def cli():
    return make_app()


def _run(cli, path, *args):
    result = CliRunner().invoke(cli, ["run", str(path), "--no-progress", *args])
    assert "Traceback" not in result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}")
    return result


def _error(result, *fragments, code=2):
    assert result.exit_code == code, result.output
    message = result.stderr
    assert message.startswith("Error:"), message
    assert [line for line in message.splitlines() if line.startswith("Error:")] == [
        message.splitlines()[0]
    ], message  # one message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


# -- experiment files ----------------------------------------------------------------------
def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


EXPERIMENT_CASES = [
    (
        "snapshot-dir-under-a-file",
        lambda t, d: t + SNAPSHOT.format(dir=d / "afile" / "s", every=1),
        ["Snapshot", "cannot create the snapshot folder", "afile"],
    ),
    (
        "lounge-save_into-not-a-string",
        lambda t, d: t + "[lounge]\nsave_into = 3\n",
        ["[lounge]", "save_into = 3"],
    ),
    (
        "lounge-save_into-under-a-file",
        lambda t, d: t + '[lounge]\nsave_into = "afile/s.h5"\n',
        ["[lounge]", "afile", "is a file, not a folder"],
    ),
    (
        "lounge-every_n_iter-string",
        lambda t, d: t + '[lounge]\nsave_into = "s.h5"\nevery_n_iter = "x"\n',
        ["[lounge]", "every_n_iter = 'x'", "integer >= 0"],
    ),
    (
        "lounge-every_n_iter-bool",
        lambda t, d: t + '[lounge]\nsave_into = "s.h5"\nevery_n_iter = true\n',
        ["every_n_iter = True"],
    ),
    (
        "lounge-file_exists",
        lambda t, d: t + '[lounge]\nsave_into = "s.h5"\nfile_exists = "x"\n',
        ["file_exists = 'x'", "merge, overwrite, panic"],
    ),
    (
        "output_dim-bool",
        lambda t, d: t.replace("output_dim = 20", "output_dim = true"),
        ["'ip1'", "output_dim = true must be an integer (not a boolean)"],
    ),
    (
        "shuffle-string",
        lambda t, d: t.replace("shuffle = true", 'shuffle = "no"'),
        ["'train-data'", "field 'shuffle'", "shuffle = 'no' must be a boolean (true or false)"],
    ),
    (
        "shuffle-number",
        lambda t, d: t.replace("shuffle = true", "shuffle = 0"),
        ["'train-data'", "shuffle = 0 must be a boolean"],
    ),
    (
        "output_dim-float",
        lambda t, d: t.replace("output_dim = 20", "output_dim = 2.5"),
        ["'ip1'", "output_dim = 2.5 must be an integer"],
    ),
    (
        "neuron-argument-string",
        lambda t, d: t.replace('neuron = "ReLU"', 'neuron = {type = "ReLU", epsilon = "x"}'),
        ["'ip1'", "field 'neuron' (ReLU)", "epsilon = 'x' must be a number"],
    ),
    (
        "output_dim-too-large",
        lambda t, d: t.replace("output_dim = 20", "output_dim = 10000000000000"),
        ["InnerProductLayer('ip1')", "memory available", "output_dim"],
    ),
    (
        "output_dim-beyond-any-array",
        lambda t, d: t.replace("output_dim = 20", "output_dim = 9223372036854775807"),
        ["InnerProductLayer('ip1')", "output_dim"],
    ),
    (
        "batch_size-too-large",
        lambda t, d: t.replace("batch_size = 32", "batch_size = 10000000000000"),
        ["MemoryDataLayer('train-data')", "memory available", "batch_size"],
    ),
    (
        "deeply-nested-value",
        lambda t, d: t + f"[lounge]\nsave_into = {_nested(3000)}\n",
        ["nested too deeply"],
    ),
    (
        "deeply-nested-layer-field",
        lambda t, d: t.replace("output_dim = 20", f"output_dim = {_nested(3000)}"),
        ["nested too deeply"],
    ),
]


@pytest.mark.parametrize(
    "edit,fragments", [c[1:] for c in EXPERIMENT_CASES], ids=[c[0] for c in EXPERIMENT_CASES]
)
def test_malformed_experiment_file(cli, tmp_path, small_toml, edit, fragments):
    (tmp_path / "afile").write_text("not a folder")
    path = tmp_path / "exp.toml"
    path.write_text(edit(small_toml, tmp_path))
    _error(_run(cli, path, "--max-iter", "2"), *fragments)


def test_blobs_above_available_memory_are_refused_before_training(
    cli, tmp_path, small_toml, monkeypatch
):
    monkeypatch.setattr("mocha.experiment.build.available_memory", lambda: 1 << 16)
    path = tmp_path / "exp.toml"
    path.write_text(small_toml)
    _error(
        _run(cli, path, "--max-iter", "2"),
        "the nets need",
        "more than the",
        "lower batch_size or output_dim",
    )


# -- HDF5 and list files ---------------------------------------------------------------------
def _h5(path: Path, n: int = 40, **dataset_options) -> Path:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "data", data=rng.standard_normal((n, 64)).astype(np.float32), **dataset_options
        )
        f.create_dataset("label", data=rng.integers(0, 10, (n, 1)).astype(np.float32))
    return path


def _hdf5_experiment(small_toml: str, source: Path) -> str:
    return small_toml.replace(MEMORY_TRAIN, HDF5_TRAIN.format(source=source.as_posix()))


def _corrupt_chunk(folder: Path) -> Path:
    h5 = _h5(folder / "d.h5", compression="gzip", chunks=(8, 64))
    with h5py.File(h5, "r") as f:
        info = f["data"].id.get_chunk_info(2)  # samples 16..23, read by the 3rd batch
    with open(h5, "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(b"\xff" * info.size)
    (folder / "list.txt").write_text("d.h5\n")
    return folder / "list.txt"


def _source_is_the_h5(folder: Path) -> Path:
    return _h5(folder / "d.h5")


def _binary_list(folder: Path) -> Path:
    (folder / "list.txt").write_bytes(bytes(range(128, 256)))
    return folder / "list.txt"


def _dangling_external_link(folder: Path) -> Path:
    h5 = _h5(folder / "d.h5")
    with h5py.File(h5, "a") as f:
        del f["data"]
        f["data"] = h5py.ExternalLink("gone.h5", "/data")
    (folder / "list.txt").write_text("d.h5\n")
    return folder / "list.txt"


def _dangling_soft_link(folder: Path) -> Path:
    h5 = _h5(folder / "d.h5")
    with h5py.File(h5, "a") as f:
        del f["data"]
        f["data"] = h5py.SoftLink("/nowhere")
    (folder / "list.txt").write_text("d.h5\n")
    return folder / "list.txt"


HDF5_CASES = [
    (
        "corrupt-compressed-chunk",
        _corrupt_chunk,
        ["train-data", "cannot read samples", "of dataset 'data'", "d.h5", "damaged"],
    ),
    (
        "source-is-the-h5-file",
        _source_is_the_h5,
        ["train-data", "is an HDF5 file", "text file listing HDF5 files"],
    ),
    ("source-is-binary", _binary_list, ["train-data", "not a UTF-8 text file"]),
    (
        "dangling-external-link",
        _dangling_external_link,
        ["train-data", "dataset 'data'", "cannot be resolved", "external link to 'gone.h5'"],
    ),
    (
        "dangling-soft-link",
        _dangling_soft_link,
        ["train-data", "cannot be resolved (soft link to '/nowhere')"],
    ),
]


@pytest.mark.parametrize(
    "make,fragments", [c[1:] for c in HDF5_CASES], ids=[c[0] for c in HDF5_CASES]
)
def test_malformed_hdf5_input(cli, tmp_path, small_toml, make, fragments):
    path = tmp_path / "exp.toml"
    path.write_text(_hdf5_experiment(small_toml, make(tmp_path)))
    _error(_run(cli, path, "--max-iter", "4"), *fragments)


def test_intact_hdf5_input_trains(cli, tmp_path, small_toml):
    """The control case of the HDF5 faults above."""
    _h5(tmp_path / "d.h5", compression="gzip", chunks=(8, 64))
    (tmp_path / "list.txt").write_text("d.h5\n")
    path = tmp_path / "exp.toml"
    path.write_text(_hdf5_experiment(small_toml, tmp_path / "list.txt"))
    assert _run(cli, path, "--max-iter", "4").exit_code == 0


# -- arrays and images: mocha predict --------------------------------------------------------
@pytest.fixture
def trained(cli, tmp_path, small_toml):
    path = tmp_path / "exp.toml"
    path.write_text(small_toml + SNAPSHOT.format(dir="snaps", every=2))
    assert _run(cli, path, "--max-iter", "2").exit_code == 0
    return path, tmp_path / "snaps"


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e39])
def test_predict_refuses_non_finite_arrays(cli, tmp_path, trained, value):
    path, snaps = trained
    x = np.ones((3, 64), np.float64)
    x[1, 5] = value  # 1e39 overflows float32 to inf
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(
        cli, ["predict", str(path), str(tmp_path / "x.npy"), "-m", str(snaps), "--backend", "numpy"]
    )
    _error(result, "x.npy[1]", "NaN or infinite", "refusing non-finite input")


def test_predict_refuses_a_nan_scale_for_images(cli, tmp_path, trained):
    pil = pytest.importorskip("PIL.Image")
    path, snaps = trained
    pil.fromarray(np.zeros((8, 8), np.uint8), mode="L").save(tmp_path / "a.png")
    result = CliRunner().invoke(
        cli,
        [
            "predict",
            str(path),
            str(tmp_path / "a.png"),
            "-m",
            str(snaps),
            "--backend",
            "numpy",
            "--scale",
            "nan",
        ],
    )
    _error(result, "a.png", "NaN or infinite")


def test_predict_finite_arrays_still_work(cli, tmp_path, trained):
    path, snaps = trained
    np.save(tmp_path / "x.npy", np.ones((3, 64)))
    result = CliRunner().invoke(
        cli,
        [
            "predict",
            str(path),
            str(tmp_path / "x.npy"),
            "-m",
            str(snaps),
            "--backend",
            "numpy",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["predictions"]
    assert len(rows) == 3 and all(np.isfinite(r["probability"]) for r in rows)


# -- archives --------------------------------------------------------------------------------
def _forged_cifar(folder: Path, size: int) -> Path:
    """A small .tar.gz whose first member's header claims `size` bytes."""
    info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
    info.size = size
    raw = info.tobuf(tarfile.GNU_FORMAT) + b"\0" * 4096
    path = folder / "cifar-10-binary.tar.gz"
    path.write_bytes(gzip.compress(raw))
    return path


@pytest.mark.parametrize("size", [1_200_000_000, 3073 * 10_001, 3073 * 2 + 1])
def test_cifar10_member_sizes_are_checked_before_reading(tmp_path, size):
    from mocha.core.errors import DataError
    from mocha.datasets.cifar10 import read_archive

    path = _forged_cifar(tmp_path, size)
    with pytest.raises(
        DataError, match=f"member 'cifar-10-batches-bin/data_batch_1.bin' claims {size:,} bytes"
    ):
        read_archive(path)


def test_cifar10_forged_archive_on_the_command_line(cli, tmp_path):
    (tmp_path / "m").mkdir()
    _forged_cifar(tmp_path / "m", 1_200_000_000)
    result = CliRunner().invoke(
        cli, ["data", "cifar10", "--mirror", str(tmp_path / "m"), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output  # `mocha data`'s status
    [error] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "claims 1,200,000,000 bytes" in error and "at most 10,000 records" in error


# -- snapshots ---------------------------------------------------------------------------------
def _flip(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        f["ip1___weight"][0, 0] += 1.0


def test_damaged_snapshot_file_is_a_clear_error(cli, trained):
    path, snaps = trained
    _flip(snaps / "snapshot-000002.h5")
    result = _run(cli, path, "--max-iter", "4", "--load-from", str(snaps / "snapshot-000002.h5"))
    _error(result, "snapshot-000002.h5", "does not match its checksum")


def test_damaged_latest_snapshot_falls_back_with_a_warning(cli, trained, caplog):
    path, snaps = trained
    _flip(snaps / "snapshot-000002.h5")
    with caplog.at_level(logging.WARNING, logger="mocha"):
        result = _run(cli, path, "--max-iter", "4", "--load-from", str(snaps), "--json")
    assert result.exit_code == 0, result.output
    assert "skipping damaged snapshot" in caplog.text and "snapshot-000002.h5" in caplog.text
    assert json.loads(result.stdout)["iterations"] == 4


def test_snapshot_without_solver_state_needs_weights_only(cli, trained):
    path, snaps = trained
    with h5py.File(snaps / "snapshot-000002.h5", "r+") as f:
        del f["solver/history"]
    target = str(snaps / "snapshot-000002.h5")
    _error(_run(cli, path, "--max-iter", "3", "--load-from", target), "--weights-only")
    result = _run(cli, path, "--max-iter", "3", "--load-from", target, "--weights-only", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["iterations"] == 3


def test_load_from_a_folder_not_created_yet_starts_fresh(cli, tmp_path, small_toml):
    path = tmp_path / "exp.toml"
    path.write_text(small_toml)
    result = _run(cli, path, "--max-iter", "2", "--load-from", str(tmp_path / "never"))
    assert result.exit_code == 0, result.output
    assert "does not exist yet" in result.stderr and "starting fresh" in result.stderr
    _error(_run(cli, path, "--load-from", str(tmp_path / "never.h5")), "no such snapshot file")


def test_second_run_on_a_folder_in_use_is_refused(cli, trained, small_toml):
    path, snaps = trained
    path.write_text(
        small_toml
        + SNAPSHOT.format(dir="snaps", every=2)
        + '[lounge]\nsave_into = "snaps/statistics.h5"\n'
    )
    (snaps / "statistics.h5").write_bytes(b"the first run's statistics")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket

        (snaps / ".mocha.lock").write_text(
            json.dumps({"pid": other.pid, "host": socket.gethostname()})
        )
        before = {p.name: p.read_bytes() for p in snaps.iterdir()}
        result = _run(cli, path, "--max-iter", "4")
        _error(result, "is in use by another run", f"pid {other.pid}", ".mocha.lock")
        assert {p.name: p.read_bytes() for p in snaps.iterdir()} == before  # nothing touched
    finally:
        other.kill()
        other.wait()


def test_snapshot_of_another_experiment_is_refused_unless_asked(cli, trained, small_toml):
    path, snaps = trained
    other = path.parent / "other.toml"
    other.write_text(
        small_toml.replace(
            "output_dim = 10",
            'output_dim = 10\nbias_init = {type = "ConstantInitializer", value = 0.5}',
        )
    )
    _error(
        _run(cli, other, "--max-iter", "4", "--load-from", str(snaps)),
        "written by another experiment",
        "--allow-foreign-snapshot",
    )
    result = _run(
        cli,
        other,
        "--max-iter",
        "4",
        "--load-from",
        str(snaps),
        "--allow-foreign-snapshot",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["iterations"] == 4


def test_a_longer_max_iter_is_the_same_experiment(cli, trained):
    path, snaps = trained
    result = _run(cli, path, "--max-iter", "4", "--load-from", str(snaps), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["iterations"] == 4


# -- training that goes wrong without a NaN ------------------------------------------------------
def test_objective_far_above_its_start_gets_a_warning(cli, tmp_path, small_toml, caplog):
    text = (
        small_toml.replace('method = "SGD"', 'method = "Adam"')
        .replace("mom_policy = 0.9\n", "")
        .replace(
            'lr_policy = {type = "Inv", base_lr = 0.05, gamma = 0.0001, power = 0.75}',
            'lr_policy = {type = "Fixed", base_lr = 1e6}',
        )
    )
    path = tmp_path / "exp.toml"
    path.write_text(text)
    with caplog.at_level(logging.WARNING, logger="mocha"):
        result = _run(cli, path, "--max-iter", "80", "--json")
    assert result.exit_code == 0, result.output
    [warning] = json.loads(result.stdout)["warnings"]
    assert "stayed above 10x its starting value" in warning and "lower the learning rate" in warning
    assert "probably diverging" in caplog.text


def test_a_healthy_run_has_no_warning(cli, tmp_path, small_toml):
    path = tmp_path / "exp.toml"
    path.write_text(small_toml)
    result = _run(cli, path, "--max-iter", "60", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["warnings"] == []


def test_predict_with_a_corrupt_model_file(cli, tmp_path, trained):
    """A model file without checksums (as Caffe or older Mocha write them) whose compressed
    chunk is corrupt: one message, not an HDF5 traceback."""
    path, snaps = trained
    model = tmp_path / "model.h5"
    with h5py.File(snaps / "snapshot-000002.h5", "r") as src, h5py.File(model, "w") as dst:
        for name in src:
            if name != "solver":
                dst.create_dataset(
                    name, data=src[name][()], compression="gzip", chunks=src[name].shape
                )
    with h5py.File(model, "r") as f:
        info = f["ip1___weight"].id.get_chunk_info(0)
    with open(model, "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(b"\xff" * info.size)
    np.save(tmp_path / "x.npy", np.ones((1, 64)))
    result = CliRunner().invoke(
        cli, ["predict", str(path), str(tmp_path / "x.npy"), "-m", str(model), "--backend", "numpy"]
    )
    _error(result, "model.h5", "cannot read dataset 'ip1___weight'", "damaged")


# -- two real runs, one folder -----------------------------------------------------------------
def _mocha(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mocha", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_runs_on_one_folder(tmp_path, small_toml):
    """A second `mocha run` on a folder in use exits 2 at once; after the first is killed
    (SIGKILL: its lock stays behind), a third run takes the stale lock over and resumes."""
    import time

    path = tmp_path / "exp.toml"
    path.write_text(
        small_toml.replace("max_iter = 20", "max_iter = 100000000")
        + SNAPSHOT.format(dir="snaps", every=50)
    )
    first = _mocha("run", str(path), "--no-progress")
    try:
        lock = tmp_path / "snaps" / ".mocha.lock"
        deadline = time.monotonic() + 60
        while not (lock.exists() and list((tmp_path / "snaps").glob("snapshot-*.h5"))):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never locked its folder"
            time.sleep(0.1)
        second = _mocha("run", str(path), "--no-progress", "--max-iter", "5")
        out, err = second.communicate(timeout=60)
        assert second.returncode == 2, err
        assert "is in use by another run" in err and f"pid {first.pid}" in err
        assert "Traceback" not in err
    finally:
        first.kill()
        first.communicate()  # waits and closes the pipes
    assert lock.exists()  # killed: the lock stays, stale
    latest = max(int(p.stem.split("-")[1]) for p in (tmp_path / "snaps").glob("snapshot-*.h5"))
    third = _mocha(
        "run",
        str(path),
        "--no-progress",
        "--max-iter",
        "60",
        "--load-from",
        str(tmp_path / "snaps"),
        "--json",
    )
    out, err = third.communicate(timeout=120)
    assert third.returncode == 0, err
    assert "taking over the stale lock" in err
    assert json.loads(out)["iterations"] == max(latest, 60)  # resumed at `latest`
    assert not lock.exists()
