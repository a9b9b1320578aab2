"""Data providers: in-memory arrays for a `MemoryDataLayer` named by a `source` string.

A layer table of an experiment file that has no `source` field of its own but a `data` field
(the `MemoryDataLayer`) may say where its arrays come from::

    source = "sklearn:digits"      # a provider name ("<prefix>:<name>")
    source = "arrays.npz"          # or a file (.npz or HDF5) whose arrays are named after the tops
    split = "train"                # "train", "test" or "all" (default)
    test_fraction = 0.2            # size of the "test" split (stratified when labels exist)
    split_seed = 0                 # the split is reproducible (numpy and the seed only)
    sample_shape = [1, 8, 8]       # reshape the first array's samples (e.g. images for a CNN)

The arrays come back in the order of the layer's tops (default `data`, `label`; a provider's
arrays are matched by position when the tops have other names); labels are
`(N, 1)` float arrays of 0-based class indices, data are float32. New providers are added
with `register_data_provider("prefix:name", function)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from mocha.core.errors import DataError

Provider = Callable[[], dict[str, np.ndarray]]
_PROVIDERS: dict[str, Provider] = {}
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_]+:(?!//)")


def register_data_provider(name: str, provider: Provider) -> None:
    """Make `source = name` load the arrays `provider()` returns (top name -> array)."""
    _PROVIDERS[name] = provider


def provider_names() -> list[str]:
    return sorted(_PROVIDERS)


def is_provider_source(source: str) -> bool:
    """True for `prefix:name` sources (not for paths such as `C:/data` or `./x:y`)."""
    return bool(_PREFIX.match(source)) and not re.match(r"^[A-Za-z]:[\\/]", source)


def _sklearn_digits() -> dict[str, np.ndarray]:
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


def _sklearn_iris() -> dict[str, np.ndarray]:
    try:
        from sklearn.datasets import load_iris
    except ImportError:
        raise DataError("data source 'sklearn:iris' needs scikit-learn") from None
    iris = load_iris()
    return {"data": iris.data.astype(np.float32),
            "label": iris.target.astype(np.float32).reshape(-1, 1)}


register_data_provider("sklearn:digits", _sklearn_digits)
register_data_provider("sklearn:iris", _sklearn_iris)


def _from_file(path: str, tops: Sequence[str]) -> dict[str, np.ndarray]:
    try:
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as f:
                return {t: np.asarray(f[t]) for t in tops if t in f}
        import h5py

        with h5py.File(path, "r") as f:
            return {t: np.asarray(f[t][()]) for t in tops if t in f}
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read data file {path!r}: {exc}") from None


def _split(arrays: dict[str, np.ndarray], split: str, test_fraction: float, seed: int,
           tops: Sequence[str]) -> dict[str, np.ndarray]:
    if split == "all":
        return arrays
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train', 'test' or 'all', not {split!r}")
    from mocha.datasets.split import split_indices

    n = len(next(iter(arrays.values())))
    labels = arrays.get(tops[-1]) if len(tops) > 1 else None
    train_idx, test_idx = split_indices(n, test_fraction, seed, labels)
    idx = train_idx if split == "train" else test_idx
    return {k: v[idx] for k, v in arrays.items()}


def load_provider(
    source: str,
    tops: Sequence[str] | str | None = None,
    split: str = "all",
    test_fraction: float = 0.2,
    split_seed: int = 0,
    sample_shape: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """The arrays of `source` (a provider name or a file path), one per top, in top order."""
    if tops is None:
        tops = ("data", "label")
    tops = (tops,) if isinstance(tops, str) else tuple(tops)
    if is_provider_source(source):
        if source not in _PROVIDERS:
            import difflib

            close = difflib.get_close_matches(source, provider_names(), n=2)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise DataError(
                f"unknown data source {source!r}.{hint} Known: {', '.join(provider_names())}, "
                f"or a .npz/.h5 file path"
            )
        arrays = _PROVIDERS[source]()
        if not set(tops) <= set(arrays) and len(arrays) == len(tops):
            arrays = dict(zip(tops, arrays.values()))  # other top names: by position
    else:
        arrays = _from_file(source, tops)
    missing = [t for t in tops if t not in arrays]
    if missing:
        raise DataError(
            f"data source {source!r} has no array for top(s) {missing}; it has "
            f"{sorted(arrays)} (name the layer's tops after them)"
        )
    arrays = _split({t: arrays[t] for t in tops}, split, float(test_fraction), int(split_seed),
                    tops)
    out = [arrays[t] for t in tops]
    if sample_shape is not None:
        try:
            out[0] = out[0].reshape((len(out[0]), *map(int, sample_shape)))
        except ValueError as exc:
            raise DataError(f"sample_shape {list(sample_shape)}: {exc}") from None
    return [a.astype(np.float32) for a in out]
