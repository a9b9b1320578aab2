"""Data providers `sklearn:digits` and `sklearn:iris`: scikit-learn's small bundled data sets
as in-memory arrays for a `MemoryDataLayer` (`source = "sklearn:digits"` in an experiment
file; see `mocha.experiment.providers`). scikit-learn is imported only when one is loaded."""

from __future__ import annotations

from typing import Any

from mocha.core.errors import DataError
from mocha.core.hookspecs import hookimpl


def sklearn_digits() -> dict[str, Any]:
    """8×8 digit images: data (1797, 64) float32 in [0, 1], label (1797, 1) classes 0..9."""
    import numpy as np

    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(
            "data source 'sklearn:digits' needs scikit-learn: pip install scikit-learn"
        ) from None
    digits = load_digits()
    return {
        "data": (digits.data / 16.0).astype(np.float32),  # (1797, 64) in [0, 1]
        "label": digits.target.astype(np.float32).reshape(-1, 1),
    }


def sklearn_iris() -> dict[str, Any]:
    """Iris: data (150, 4) float32, label (150, 1) classes 0..2."""
    import numpy as np

    try:
        from sklearn.datasets import load_iris
    except ImportError:
        raise DataError("data source 'sklearn:iris' needs scikit-learn") from None
    iris = load_iris()
    return {"data": iris.data.astype(np.float32),
            "label": iris.target.astype(np.float32).reshape(-1, 1)}


@hookimpl
def mocha_register_data_providers(register):
    register(sklearn_digits, name="sklearn:digits")
    register(sklearn_iris, name="sklearn:iris")
