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
`(N, 1)` float arrays of 0-based class indices, data are float32. Providers are plugins: a
distribution adds them with the `mocha_register_data_providers` hook (the built-in
`sklearn:digits` and `sklearn:iris` live in `mocha.plugins.data_providers.sklearn_data`); a
script may also call `register_data_provider("prefix:name", function)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from mocha.core.errors import DataError
from mocha.datasets.values import check_values

Provider = Callable[[], dict[str, np.ndarray]]
_PROVIDERS: dict[str, Provider] = {}  # registered at run time (register_data_provider)
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_]+:(?!//)")


def register_data_provider(name: str, provider: Provider) -> None:
    """Make `source = name` load the arrays `provider()` returns (top name -> array), in this
    process; a distribution registers its providers with the `mocha_register_data_providers`
    hook instead (see `mocha.core.hookspecs`)."""
    _PROVIDERS[name] = provider


def _registered() -> dict[str, Provider]:
    """Providers of the plugin registry (the built-in `sklearn:*` ones included), then those
    registered at run time, which win."""
    from mocha.core.registry import get_registry

    registry = get_registry()
    found = {
        name: registry.get("data_providers", name) for name in registry.names("data_providers")
    }
    found.update(_PROVIDERS)
    return found


def provider_names() -> list[str]:
    return sorted(_registered())


def is_provider_source(source: str) -> bool:
    """True for `prefix:name` sources (not for paths such as `C:/data` or `./x:y`)."""
    return bool(_PREFIX.match(source)) and not re.match(r"^[A-Za-z]:[\\/]", source)


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


def _split(
    arrays: dict[str, np.ndarray], split: str, test_fraction: float, seed: int, tops: Sequence[str]
) -> dict[str, np.ndarray]:
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
        providers = _registered()
        if source not in providers:
            import difflib

            known = sorted(providers)
            close = difflib.get_close_matches(source, known, n=2)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise DataError(
                f"unknown data source {source!r}.{hint} Known: {', '.join(known)}, "
                f"or a .npz/.h5 file path"
            )
        arrays = providers[source]()
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
    for top in tops:
        check_values(np.asarray(arrays[top]), top, f"array {top!r} of data source {source!r}")
    arrays = _split(
        {t: arrays[t] for t in tops}, split, float(test_fraction), int(split_seed), tops
    )
    out = [arrays[t] for t in tops]
    if sample_shape is not None:
        try:
            out[0] = out[0].reshape((len(out[0]), *map(int, sample_shape)))
        except ValueError as exc:
            raise DataError(f"sample_shape {list(sample_shape)}: {exc}") from None
    return [a.astype(np.float32) for a in out]
