"""The data sets `mocha data mnist` and `mocha data cifar10` prepare: fetched from the official
site (or a mirror), verified and written as HDF5 plus list files (see `mocha.datasets`). The
conversion modules are imported only when a data set is prepared."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mocha.core.hookspecs import hookimpl


def mnist(out_dir: str | os.PathLike, **options: Any) -> dict[str, Path]:
    """MNIST: data (N, 1, 28, 28) in [0, 1), labels (N, 1); 60000 training, 10000 test."""
    from mocha.datasets import mnist as module

    return module.prepare(out_dir, **options)


def cifar10(out_dir: str | os.PathLike, **options: Any) -> dict[str, Path]:
    """CIFAR-10 (binary version): data (N, 3, 32, 32), labels (N, 1); option
    `subtract_mean` (default True) subtracts the training mean from both sets."""
    from mocha.datasets import cifar10 as module

    return module.prepare(out_dir, **options)


@hookimpl
def mocha_register_datasets(register):
    register(mnist, name="mnist")
    register(cifar10, name="cifar10")
