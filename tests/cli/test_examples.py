"""The tutorial experiment files build and train (on small fake data sets of the right
shapes, written where `mocha data` would write the real ones)."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from mocha.experiment import load_experiment

ROOT_EXAMPLES = ["mnist/lenet.toml", "cifar10/cifar10_full.toml"]
SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def _fake_dataset(folder, sample_shape, n=40, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for split in ("train", "test"):
        with h5py.File(folder / f"{split}.h5", "w") as f:
            f["data"] = rng.random((n, *sample_shape), dtype=np.float32)
            f["label"] = rng.integers(0, 10, (n, 1)).astype(np.float32)
        (folder / f"{split}.txt").write_text(f"{split}.h5\n")


@pytest.fixture
def example_copy(tmp_path, digits_toml):
    """Copy an example into tmp/examples/<name>/ with fake data in tmp/data/<name>/."""
    examples = digits_toml.parents[1]

    def copy(relative: str):
        name = relative.split("/")[0]
        dest = tmp_path / "examples" / relative
        dest.parent.mkdir(parents=True)
        shutil.copy(examples / relative, dest)
        _fake_dataset(tmp_path / "data" / name, SHAPES[name])
        return dest

    return copy


@pytest.mark.parametrize("relative", ROOT_EXAMPLES)
def test_tutorial_builds_and_trains(app, runner, example_copy, relative):
    path = example_copy(relative)
    result = runner.invoke(app, ["summary", str(path), "--json"])
    assert result.exit_code == 0, result.output
    nets = json.loads(result.stdout)
    assert len(nets) == 2  # the training and the validation net
    result = runner.invoke(
        app, ["run", str(path), "--max-iter", "2", "--no-progress", "--json", "--backend", "numpy"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["iterations"] == 2 and summary["validation"]
    assert (path.parent / "snapshots" / "snapshot-000000.h5").exists()
    assert (path.parent / "snapshots" / "statistics.h5").exists()


def test_cifar10_uses_the_staged_policy_and_the_manual_layers(example_copy):
    exp = load_experiment(example_copy("cifar10/cifar10_full.toml"))
    staged = exp.solver["lr_policy"]
    assert [n for n, _ in staged.stages] == [60000, 5000, 5000]
    layers = {e.layer.name: e.layer for e in exp.layers}
    assert type(layers["norm1"].mode).__name__ == "WithinChannel"
    assert type(layers["pool2"].pooling).__name__ == "MeanPooling"
    assert layers["ip1"].weight_regu.coefficient == 250


def test_image_classifier_example(app, runner, example_copy, digits_toml, tmp_path, monkeypatch):
    pytest.importorskip("PIL")
    from PIL import Image

    path = example_copy("mnist/lenet.toml")
    result = runner.invoke(
        app, ["run", str(path), "--max-iter", "2", "--no-progress", "--backend", "numpy"]
    )
    assert result.exit_code == 0, result.output
    from mocha.image_classifier import DIGIT_NAMES, ImageClassifier

    classifier = ImageClassifier.from_experiment(
        path,
        path.parent / "snapshots",
        classes=DIGIT_NAMES,
        scale=1 / 256,
        backend="numpy",
        top_k=2,
    )
    png = tmp_path / "digit.png"
    Image.fromarray(np.full((40, 30), 200, dtype=np.uint8)).save(png)  # resized to 28x28
    results = classifier.classify([png, np.zeros((28, 28, 3))])
    assert len(results) == 2
    first = results[0]
    assert first.name == str(png) and first.class_name in DIGIT_NAMES
    assert first.probabilities.shape == (10,) and abs(first.probabilities.sum() - 1) < 1e-6
    assert len(first.top) == 2 and first.top[0] == (first.class_name, first.probability)
