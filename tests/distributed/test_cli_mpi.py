"""`mocha run` under mpiexec, and the clear errors when MPI is asked for but missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mocha.cli.app import make_app
from mocha.distributed import find_mpiexec, launched_world_size

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits" / "digits.toml"
ARGS = ["run", str(DIGITS), "--backend", "numpy", "--max-iter", "40", "--json"]


@pytest.fixture
def no_mpi4py(monkeypatch):
    """Importing mpi4py fails, as without the mpi extra."""
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(name, raising=False)


def test_asking_for_mpi_without_mpi4py_names_the_extra(no_mpi4py):
    result = CliRunner().invoke(make_app(), ["run", str(DIGITS), "--distributed"])
    assert result.exit_code == 2
    assert 'pip install "mocha-dl[mpi]"' in result.stderr
    assert "Traceback" not in result.output


def test_launched_by_mpirun_without_mpi4py_is_an_error(no_mpi4py, monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")  # what mpiexec sets for each of its processes
    result = CliRunner().invoke(make_app(), ["run", str(DIGITS), "--max-iter", "1"])
    assert result.exit_code == 2
    assert "launched by mpirun with 2 processes" in result.stderr
    assert "mocha-dl[mpi]" in result.stderr


def test_outside_mpirun_nothing_changes(no_mpi4py):
    """Without a launcher (and without mpi4py) `mocha run` trains in one process."""
    result = CliRunner().invoke(make_app(), [*ARGS[:-2], "5", "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["iterations"] == 5


def test_launched_world_size_reads_the_launchers_variables():
    assert launched_world_size({}) == 1
    assert launched_world_size({"PMI_SIZE": "4"}) == 4
    assert launched_world_size({"OMPI_COMM_WORLD_SIZE": "3", "PMI_SIZE": "x"}) == 3


@pytest.mark.skipif(find_mpiexec() is None, reason="no mpiexec (pip install '.[mpi]')")
def test_mpirun_mocha_run_matches_one_process(tmp_path):
    """`mpiexec -n 2 mocha run digits.toml` reports the single-process objective and
    validation accuracy, once (rank 0 prints; the others stay silent)."""
    pytest.importorskip("mpi4py.MPI", exc_type=ImportError)
    single = CliRunner().invoke(make_app(), [*ARGS, "--no-progress"])
    assert single.exit_code == 0, single.output
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    run = subprocess.run(
        [find_mpiexec(), "-n", "2", sys.executable, "-m", "mocha", *ARGS],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr
    one, two = json.loads(single.stdout), json.loads(run.stdout)  # exactly one JSON object
    assert two["iterations"] == 40
    assert two["objective"] == pytest.approx(one["objective"], rel=1e-5)
    assert two["validation"]["accuracy"] == pytest.approx(
        one["validation"]["accuracy"], abs=1 / 360 + 1e-9
    )
    assert run.stderr.count("TRAIN iter=000000") == 1


@pytest.mark.skipif(find_mpiexec() is None, reason="no mpiexec (pip install '.[mpi]')")
def test_an_error_during_training_ends_the_mpi_job(tmp_path):
    """A diverging objective (reduced, so seen by every rank at once) stops the job with the
    message and exit status 1 of one process, not a hang."""
    pytest.importorskip("mpi4py.MPI", exc_type=ImportError)
    text = DIGITS.read_text().replace("base_lr = 0.05", "base_lr = 1e12")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    run = subprocess.run(
        [
            find_mpiexec(),
            "-n",
            "2",
            sys.executable,
            "-m",
            "mocha",
            "run",
            str(bad),
            "--backend",
            "numpy",
            "--max-iter",
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 1, run.stderr
    assert "objective became" in run.stderr and "ending the MPI job" in run.stderr


@pytest.mark.skipif(find_mpiexec() is None, reason="no mpiexec (pip install '.[mpi]')")
def test_early_stopping_restores_the_best_on_every_rank(tmp_path):
    """EarlyStopping(restore_best) under mpiexec -n 2: every rank restores the same best
    parameters, so the final (collective) validation is the single process's (issue 28)."""
    pytest.importorskip("mpi4py.MPI", exc_type=ImportError)
    text = DIGITS.read_text().replace("every_n_iter = 500", "every_n_iter = 10")
    text += (
        '\n[[coffee_breaks]]\ntype = "EarlyStopping"\nstatistic = "accuracy"\npatience = 1\n'
        "min_delta = 0.9\nrestore_best = true\nevery_n_iter = 10\n"
    )
    exp = tmp_path / "stop.toml"
    exp.write_text(text)
    args = ["run", str(exp), "--backend", "numpy", "--max-iter", "40", "--json"]
    single = CliRunner().invoke(make_app(), [*args, "--no-progress"])
    assert single.exit_code == 0, single.output
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    run = subprocess.run(
        [find_mpiexec(), "-n", "2", sys.executable, "-m", "mocha", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr
    one, two = json.loads(single.stdout), json.loads(run.stdout)
    assert one["iterations"] == two["iterations"] == 10  # no evaluation improves by 0.9
    assert one["model_iteration"] == two["model_iteration"] == 0
    assert two["validation"]["accuracy"] == pytest.approx(
        one["validation"]["accuracy"], abs=1 / 360 + 1e-9
    )
