"""The ONNX tests read the tutorial experiments without depending on what the tutorials'
`mocha data` commands wrote into the working copy (issue 28 item 2): a `data/mnist` folder
beside the examples changes nothing."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
from onnx_support import ROOT, experiment_layers


def test_tutorial_layers_do_not_see_prepared_data(tmp_path):
    repo = tmp_path / "repo"
    lenet = repo / "examples" / "mnist" / "lenet.toml"
    lenet.parent.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "mnist" / "lenet.toml", lenet)
    clean = [(type(x).__name__, x.name) for x in experiment_layers(lenet, (1, 28, 28))]
    data = repo / "data" / "mnist"  # what `mocha data mnist --out data/mnist` writes
    data.mkdir(parents=True)
    for split in ("train", "test"):
        with h5py.File(data / f"{split}.h5", "w") as f:
            f["data"] = np.zeros((4, 1, 28, 28), np.float32)
            f["label"] = np.zeros((4, 1), np.float32)
        (data / f"{split}.txt").write_text(f"{split}.h5\n")
    prepared = [(type(x).__name__, x.name) for x in experiment_layers(lenet, (1, 28, 28))]
    assert prepared == clean
