"""examples/finetune: a real Caffe model (CIFAR-10 quick) converted, its head replaced, its first
layers frozen, trained on MNIST digits with `mocha run`, and resumed from its snapshot."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("google.protobuf")

from mocha.cli.app import make_app  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "finetune" / "prepare.py"
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
pytestmark = pytest.mark.skipif(
    not (SHARED / "mnist").is_dir() or not (SHARED / "caffe" / "cifar10_quick").is_dir(),
    reason="needs ../shared/data (MNIST and the CIFAR-10 quick Caffe model)",
)


def _prepare(out: Path, *args: str) -> Path:
    spec = importlib.util.spec_from_file_location("finetune_prepare", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(out), *args]) == 0
    return out / "finetune.toml"


def _run(toml: Path, *args: str) -> str:
    result = CliRunner().invoke(make_app(), ["run", str(toml), "--backend", "numpy", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        return {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}


def test_finetune_freezes_loads_trains_and_resumes(tmp_path):
    toml = _prepare(tmp_path, "--train", "40", "--test", "20", "--batch", "10", "--max-iter", "2")
    _run(toml)
    caffe = _arrays(tmp_path / "cifar10_quick" / "CIFAR10_quick.h5")
    snap = _arrays(tmp_path / "snapshots" / "snapshot-000002.h5")
    for frozen in ("conv1___filter", "conv2___bias"):  # never trained
        np.testing.assert_array_equal(snap[frozen], caffe[frozen])
    assert not np.array_equal(snap["conv3___filter"], caffe["conv3___filter"])  # fine-tuned
    assert snap["digits___weight"].shape == (10, 64) and "ip2___weight" not in snap
    out = _run(toml, "--max-iter", "4")
    assert "resumed" in out.lower() and "snapshot-000002" in out, out
    again = _arrays(tmp_path / "snapshots" / "snapshot-000004.h5")
    np.testing.assert_array_equal(again["conv1___filter"], caffe["conv1___filter"])


@pytest.mark.slow
def test_finetuned_digits_reach_useful_accuracy(tmp_path):
    """40 iterations of 20 digits: well above chance (0.1); measured 0.82 (see README)."""
    toml = _prepare(
        tmp_path, "--train", "400", "--test", "200", "--batch", "20", "--max-iter", "40"
    )
    out = _run(toml, "--json")
    import json

    result = json.loads(out[out.index("{") :])
    assert result["validation"]["accuracy"] > 0.6, result["validation"]
