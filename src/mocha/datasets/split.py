"""`split_indices`: a reproducible train/test split that depends on numpy and the seed only.

    train_idx, test_idx = split_indices(n, test_fraction=0.2, seed=0, labels=y)

The test split has `⌈n · test_fraction⌉` rows (as scikit-learn counts them; at least 1 and at
most n − 1). With `labels` it is stratified: every class gives its share of the test rows
(largest remainders settle the rounding, ties to the smaller class value), chosen by a seeded
permutation. The
result is the same whatever else is installed (scikit-learn is not used); both index arrays
are sorted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mocha.core.errors import DataError


def split_indices(
    n: int, test_fraction: float, seed: int, labels: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices) of `n` rows; see the module docstring."""
    if n < 2:
        raise DataError(f"cannot split {n} row(s) into a train and a test part")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    n_test = min(max(math.ceil(n * test_fraction), 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    if labels is None:
        test = order[:n_test]
    else:
        y = np.asarray(labels).reshape(n, -1)[:, 0]
        classes, inverse = np.unique(y, return_inverse=True)
        counts = np.bincount(inverse, minlength=len(classes))
        share = counts * (n_test / n)
        take = np.floor(share).astype(np.int64)
        rest = n_test - int(take.sum())
        if rest > 0:  # largest remainders first; a stable sort keeps ties in class order
            by_remainder = np.argsort(-(share - take), kind="stable")
            take[by_remainder[:rest]] += 1
        test_parts = []
        for c in range(len(classes)):
            members = order[inverse[order] == c]  # this class's rows, in permuted order
            test_parts.append(members[: take[c]])
        test = np.concatenate(test_parts)
    mask = np.zeros(n, dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)
