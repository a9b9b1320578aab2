"""Data providers `sklearn:digits` and `sklearn:iris`: scikit-learn's small data sets as
in-memory arrays for a `MemoryDataLayer` (`source = "sklearn:digits"` in an experiment file;
see `mocha.experiment.providers`).

The digits ship with Mocha (`mocha/datasets/digits.npz`: the 1,797 8×8 images and labels of
scikit-learn's `load_digits()`, from the UCI "Optical Recognition of Handwritten Digits" data
set, CC BY 4.0), so the README's main job runs on a plain `pip install`, without
scikit-learn. `sklearn:iris` needs scikit-learn (the `examples` extra), imported only when
the source is loaded.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from mocha.core.errors import DataError
from mocha.core.hookspecs import hookimpl


def sklearn_digits() -> dict[str, Any]:
    """8×8 digit images: data (1797, 64) float32 in [0, 1], label (1797, 1) classes 0..9."""
    import numpy as np

    path = files("mocha.datasets").joinpath("digits.npz")
    try:
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
            images, target = npz["images"], npz["target"]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(
            f"data source 'sklearn:digits': cannot read the bundled copy {path} "
            f"({exc}); reinstall mocha-dl"
        ) from None
    return {
        "data": (images / 16.0).astype(np.float32),  # (1797, 64) in [0, 1]
        "label": target.astype(np.float32).reshape(-1, 1),
    }


def sklearn_iris() -> dict[str, Any]:
    """Iris: data (150, 4) float32, label (150, 1) classes 0..2."""
    import numpy as np

    from mocha.core.extras import require

    datasets = require("examples", "data source 'sklearn:iris'", "sklearn.datasets")
    iris = datasets.load_iris()
    return {
        "data": iris.data.astype(np.float32),
        "label": iris.target.astype(np.float32).reshape(-1, 1),
    }


@hookimpl
def mocha_register_data_providers(register):
    register(sklearn_digits, name="sklearn:digits")
    register(sklearn_iris, name="sklearn:iris")
