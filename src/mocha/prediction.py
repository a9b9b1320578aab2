"""`predict`: outputs, probabilities and classes for NumPy arrays of any length.

    result = mocha.predict(train_net, x_test)                     # a trained net
    result = mocha.predict(layers, x_test, model="snapshots/")    # architecture + model file
    result.classes, result.probabilities, result.outputs

A prediction net is built from the architecture for testing (`phase="test"`): its data layers
are replaced by one `MemoryDataLayer` feeding the arrays (with the data layers'
`transformers`, e.g. `SubMean` and `Scale`, so the inputs are preprocessed exactly as in
training; or with the `transformers` given to `predict`), and layers that need blobs the
arrays do not provide (losses, accuracy: they need labels) and sink layers are left out. The
arrays are fed in batches of `batch_size`; the last, partial batch is completed by wrapping
around and the extra rows are dropped.

Parameters come from the trained net (copied by layer name) or from `model`: a Mocha HDF5
model file (`<layer>___<param>` datasets, as Caffe exports), a snapshot, or a snapshot folder
(its latest snapshot).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mocha.core.errors import DataError, MochaError
from mocha.core.layer import Layer
from mocha.core.net import Net


@dataclass
class Prediction:
    """What `predict` returns: the raw `outputs` of the output blob `(N, ...)`, the class
    `probabilities` (the outputs themselves when they come from a SoftmaxLayer, else their
    softmax over axis 1) and the predicted `classes` (argmax over axis 1, int64)."""

    outputs: np.ndarray
    probabilities: np.ndarray
    classes: np.ndarray
    output: str

    def __len__(self) -> int:
        return int(self.outputs.shape[0])


def softmax(x: np.ndarray, axis: int = 1) -> np.ndarray:
    """Numerically stable softmax (float64)."""
    z = np.asarray(x, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def _inputs(arrays: Any, tops: Sequence[str]) -> dict[str, np.ndarray]:
    if isinstance(arrays, Mapping):
        given = {str(k): np.asarray(v) for k, v in arrays.items()}
    else:
        given = {tops[0]: np.asarray(arrays)}
    missing = [t for t in given if t not in tops]
    if missing:
        raise DataError(
            f"predict: input(s) {missing} are not tops of the data layers ({list(tops)})"
        )
    lengths = {k: (a.shape[0] if a.ndim else 0) for k, a in given.items()}
    if len(set(lengths.values())) != 1 or min(lengths.values()) < 1:
        raise DataError(
            f"predict: every input needs the same number (>= 1) of samples on axis 0; got {lengths}"
        )
    return given


def data_transformers(layers: Sequence[Layer], tops: Sequence[str]) -> list[tuple[str, Any]]:
    """The `(top, transformer)` pairs of the data layers among `layers` that apply to `tops`,
    in order."""
    return [
        (str(top), transformer)
        for layer in layers
        if layer.is_source
        for top, transformer in getattr(layer, "transformers", ())
        if top in tops
    ]


def prediction_layers(
    layers: Sequence[Layer],
    inputs: Mapping[str, Any],
    batch_size: int,
    output: str | None,
    transformers: Sequence[tuple[str, Any]] | None = None,
) -> tuple[list[Layer], str]:
    """The layers of the prediction net and the output blob's name. The feeding layer gets
    `transformers` (default: those of the data layers for the inputs' tops)."""
    from mocha.core.registry import lookup

    MemoryDataLayer = lookup("layers", "MemoryDataLayer")

    pending = [layer for layer in layers if not (layer.is_source or layer.is_sink)]
    available = set(inputs)
    kept: list[Layer] = []
    progress = True
    while progress:  # keep every layer computable from the inputs, in dependency order
        progress = False
        for layer in list(pending):
            if all(b in available for b in layer.bottoms):
                kept.append(layer)
                pending.remove(layer)
                if not layer.is_inplace:
                    available.update(layer.tops)
                progress = True
    if not kept:
        raise DataError(f"predict: no layer computes anything from the inputs {list(inputs)}")
    if output is None:
        last = next(layer for layer in reversed(kept) if not layer.is_inplace)
        output = last.tops[0]
    elif output not in available:
        raise DataError(
            f"predict: no blob {output!r} is computed from the inputs; blobs: {sorted(available)}"
        )
    names = list(inputs)
    if transformers is None:
        transformers = data_transformers(layers, names)
    unknown = [top for top, _ in transformers if top not in names]
    if unknown:
        raise DataError(f"predict: transformers for {unknown}, which are not inputs ({names})")
    feed = MemoryDataLayer(
        name="predict-data",
        tops=names,
        batch_size=batch_size,
        data=[inputs[n] for n in names],
        transformers=tuple(transformers),
    )
    return [feed, *kept], output


def _fit_shape(a: np.ndarray, want: tuple[int, ...], top: str) -> np.ndarray:
    """Add a singleton channel axis to grey images `(N, H, W)` when `(N, 1, H, W)` is wanted."""
    if a.shape[1:] == want:
        return a
    if a.ndim == len(want) and want[0] == 1 and a.shape[1:] == want[1:]:
        return a[:, None]
    raise DataError(
        f"predict: input {top!r} has samples of shape {a.shape[1:]}, the net expects {want}"
    )


class InputPrep:
    """How the training data was made from image pixels: `(pixels - mean) * scale`; `note`
    says where that was read (empty: nothing says, and pixels are used as they are)."""

    def __init__(self, scale: float = 1.0, mean: Any = None, note: str = "") -> None:
        self.scale, self.mean, self.note = scale, mean, note

    def apply(self, pixels: Any) -> Any:
        x = pixels if self.mean is None else pixels - np.asarray(self.mean, np.float32)
        return x * np.float32(self.scale)


def _first_hdf5(layer: Any) -> str | None:
    from mocha.datasets.hdf5_stream import read_source_list

    source = getattr(layer, "source", None)
    if not source or not isinstance(source, str):
        return None
    try:
        return read_source_list(source, str(layer))[0]
    except (MochaError, OSError):
        return None


def training_input(layers: list[Any], top: str) -> tuple[tuple[int, ...] | None, InputPrep]:
    """The sample shape of `top` and how its training images were prepared (the `pixel_scale`
    and `pixel_mean` attributes of its first HDF5 file; see `mocha.datasets.convert`)."""
    import h5py

    from mocha.datasets.convert import PIXEL_MEAN, PIXEL_SCALE

    for layer in layers:
        if not layer.is_source or top not in layer.tops:
            continue
        j = layer.tops.index(top)
        data = getattr(layer, "data", None)
        # transformers (SubMean, Scale: Caffe's transform_param) declare the preparation of
        # raw pixels in the experiment itself: images are fed to them as 0-255 pixels
        declared = any(t == top for t, _ in getattr(layer, "transformers", ()))
        note = f"images fed as 0-255 pixels to the transformers of {layer}" if declared else ""
        if data:
            return tuple(data[j].shape[1:]), InputPrep(note=note)
        first = _first_hdf5(layer)
        if first is None:
            return None, InputPrep(note=note)
        try:
            with h5py.File(first, "r") as f:
                ds = f[top]
                shape, attrs = tuple(ds.shape[1:]), dict(ds.attrs)
            if PIXEL_SCALE not in attrs:
                return shape, InputPrep(note=note)
            mean = None
            if attrs.get(PIXEL_MEAN):
                mean_path = Path(first).parent / str(attrs[PIXEL_MEAN])
                with h5py.File(mean_path, "r") as f:
                    mean = f["mean"][()].reshape(shape)
            how = f"(pixels{' - mean' if mean is not None else ''}) * {attrs[PIXEL_SCALE]:.6g}"
            return shape, InputPrep(
                float(attrs[PIXEL_SCALE]),
                mean,
                f"images prepared as the training data ({first}): {how}",
            )
        except (OSError, KeyError, ValueError):
            return None, InputPrep()
    return None, InputPrep()


def expected_sample_shape(layers: list[Any], top: str) -> tuple[int, ...] | None:
    """The sample shape the data layer feeding `top` produces, when it can be told cheaply."""
    return training_input(layers, top)[0]


def resolve_model(model: str | os.PathLike) -> str:
    """A model file or snapshot as given; a snapshot folder as its newest snapshot whose
    weights are intact (damaged ones are skipped with a warning)."""
    path = Path(model)
    if path.is_dir():
        from mocha.core.io.snapshot import SnapshotFolder, check_weights

        latest = SnapshotFolder(str(path)).latest_intact(check_weights)
        if latest is None:
            raise DataError(f"model folder {str(path)!r} holds no snapshot-*.h5 file")
        return latest
    if not path.is_file():
        raise DataError(
            f"model file {str(path)!r} does not exist: no such snapshot, model file or folder"
        )
    return str(path)


def predict(
    net_or_layers: Net | Sequence[Layer],
    arrays: Any,
    batch_size: int = 100,
    output: str | None = None,
    model: str | os.PathLike | None = None,
    backend: Any = None,
    transformers: Sequence[tuple[str, Any]] | None = None,
) -> Prediction:
    """Run the net on `arrays` (one array for the data top, or {top: array}); see the module
    docstring. `output` names the blob to return (default: the last computed one);
    `transformers` (`[(top, transformer), ...]`) replace the data layers' own."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"predict: batch_size must be an int >= 1, got {batch_size!r}")
    trained = net_or_layers if isinstance(net_or_layers, Net) else None
    layers = list(trained.layers if trained is not None else net_or_layers)
    if trained is None and model is None:
        raise MochaError(
            "predict: give a trained Net, or layers with model=<model file or snapshot>"
        )
    tops = [t for layer in layers if layer.is_source for t in layer.tops] or ["data"]
    inputs = _inputs(arrays, tops)
    if trained is not None:
        for top, a in list(inputs.items()):
            if top in trained.output_blobs:
                want = tuple(trained.output_blobs[top].shape[1:])
                inputs[top] = _fit_shape(a, want, top)
    n = next(iter(inputs.values())).shape[0]
    bs = min(batch_size, n)
    pred_layers, output = prediction_layers(layers, inputs, bs, output, transformers)
    own_backend = backend is None and trained is None
    if trained is not None:
        backend = trained.backend
    elif backend is None:
        from mocha.backend_choice import make_backend

        backend = make_backend("default")
        backend.init()
    net = None
    try:
        net = Net("predict", backend, pred_layers, phase="test")
        if trained is not None:
            _copy_parameters(trained, net)
        else:
            from mocha.core.io.model import load_network

            net.init()
            load_network(resolve_model(model), net)
        results = []
        for start in range(0, n, bs):
            net.forward()
            out = backend.to_host(net.output_blobs[output].data)
            results.append(np.array(out[: min(bs, n - start)], copy=True))
    finally:
        if net is not None:
            net.shutdown()
        if own_backend:
            backend.shutdown()
    outputs = np.concatenate(results)
    producer = next(layer for layer in pred_layers if output in layer.tops)
    is_prob = type(producer).__name__ == "SoftmaxLayer"
    if outputs.ndim < 2:
        raise DataError(
            f"predict: output blob {output!r} has shape {outputs.shape}; classes "
            f"need a class axis (axis 1)"
        )
    probabilities = outputs.astype(np.float64) if is_prob else softmax(outputs, axis=1)
    classes = np.argmax(outputs, axis=1).astype(np.int64)
    return Prediction(outputs=outputs, probabilities=probabilities, classes=classes, output=output)


def _copy_parameters(trained: Net, net: Net) -> None:
    """Give the prediction net the trained net's parameter values (by layer name)."""
    for state in net.states:
        if not state.parameters:
            continue
        source = trained.state_of(state.layer.name)
        for p, q in zip(state.parameters, source.parameters):
            if p.blob is not q.blob:
                p.blob.data[...] = q.blob.data
