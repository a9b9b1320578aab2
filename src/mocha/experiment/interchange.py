"""The experiment-file side of interchange: what every format plugin needs from experiment
files and model files, in one place.

* `ExperimentSource(experiment, model)`: an experiment file (and a model file, snapshot or
  snapshot folder) as a format's `export` reads it: its layer entries with their phases, the
  parameter arrays, the blob shapes of the built nets, and the inference net on zero samples.
* `write_conversion(conversion, out)`: a format's `Conversion` as `<name>.toml`, the HDF5
  model and the side files.
* `layers_of(conversion, phase, folder)`: the layer objects of a conversion.
* `Format(name)`: a registered format with the experiment glue attached (`mocha.interop`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mocha.core.errors import DataError
from mocha.core.registry import lookup


def parse_input_shapes(items: list[str] | None) -> dict[str, tuple[int, ...]]:
    """{"data": (1, 28, 28)} from ["data=1,28,28"] (`--input-shape`)."""
    shapes = {}
    for item in items or ():
        top, _, dims = item.partition("=")
        try:
            shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip())
        except ValueError:
            shape = ()
        if not top or not shape or min(shape) < 1:
            raise DataError(
                f"--input-shape {item!r}: write TOP=D1,D2,... (the sample shape "
                f"without the batch axis), e.g. data=1,28,28"
            )
        shapes[top] = shape
    return shapes


def inference_layers(layers: list[Any], shapes: dict[str, tuple[int, ...]]) -> list[Any]:
    """The layers of the net to export: each data layer fed by one zero sample per top of
    known shape (transformers kept), then every layer computable from those tops; sinks are
    kept only when they compute a loss or statistics (they say which blobs are predictions)."""
    from mocha.prediction import expected_sample_shape

    MemoryDataLayer = lookup("layers", "MemoryDataLayer")
    needed = {
        b for layer in layers if not (layer.is_source or layer.is_sink) for b in layer.bottoms
    }
    feeds, available = [], set()
    for layer in layers:
        if not layer.is_source:
            continue
        tops = []
        for top in layer.tops:
            shape = shapes.get(top) or expected_sample_shape(layers, top)
            if shape is None and top in needed:
                raise DataError(
                    f"{type(layer).__name__}({layer.name!r}): cannot tell the sample "
                    f"shape of top {top!r} (are its data files at hand?); pass "
                    f"--input-shape {top}=C,H,W"
                )
            if shape is not None:
                tops.append((top, shape))
        if not tops:
            continue
        if not hasattr(layer, "batch_size"):
            raise DataError(
                f"{type(layer).__name__}({layer.name!r}): a data layer without a batch "
                f"size cannot be exported"
            )
        names = [t for t, _ in tops]
        chain = tuple((t, tr) for t, tr in getattr(layer, "transformers", ()) or () if t in names)
        feeds.append(
            MemoryDataLayer(
                name=layer.name,
                tops=names,
                batch_size=1,
                data=[np.zeros((1, *s), np.float32) for _, s in tops],
                transformers=chain,
            )
        )
        available.update(names)
    kept, pending, progress = [], [x for x in layers if not x.is_source], True
    while progress:
        progress = False
        for layer in list(pending):
            if all(b in available for b in layer.bottoms):
                pending.remove(layer)
                progress = True
                if layer.is_sink and not (layer.has_loss or layer.has_stats):
                    continue
                kept.append(layer)
                if not layer.is_inplace:
                    available.update(layer.tops)
    return [*feeds, *kept]


class ExperimentSource:
    """An experiment file (and optionally a model) as a format's `export` reads it."""

    def __init__(self, experiment: str | os.PathLike, model: str | os.PathLike | None = None):
        from mocha.experiment import load_experiment
        from mocha.prediction import resolve_model

        self.path = Path(experiment)
        self.experiment = load_experiment(experiment)
        self.name = self.experiment.name
        self.entries = self.experiment.layers
        self.model = resolve_model(model) if model is not None else None

    @cached_property
    def params(self) -> dict[tuple[str, str], np.ndarray] | None:
        """(layer, param) -> array of the model; None without one."""
        if self.model is None:
            return None
        from mocha.core.io.model import SEPARATOR, open_model, verify_weights

        params = {}
        with open_model(self.model) as f:
            verify_weights(f, self.model)  # damaged weights are never exported
            for key in f:
                if SEPARATOR in key and hasattr(f[key], "shape"):
                    lname, pname = key.rsplit(SEPARATOR, 1)
                    params[lname, pname] = np.asarray(f[key][()])
        return params

    @cached_property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Blob -> shape in the experiment's built nets (training and test)."""
        from mocha.backend_choice import make_backend
        from mocha.experiment.build import build_nets

        backend = make_backend("numpy")
        backend.init()
        shapes: dict[str, tuple[int, ...]] = {}
        try:
            for net in build_nets(self.experiment, backend):
                if net is not None:
                    shapes.update({k: tuple(v.shape) for k, v in net.output_blobs.items()})
                    net.shutdown()
        finally:
            backend.shutdown()
        return shapes

    @contextmanager
    def inference_net(self, input_shapes: dict | list[str] | None = None) -> Iterator:
        """The test net (the training net when there is none) on one zero sample per data
        top, on the NumPy backend, with the model loaded. `input_shapes` gives sample shapes
        ({top: shape} or `--input-shape` strings) where the data files cannot tell them."""
        if not isinstance(input_shapes, dict):
            input_shapes = parse_input_shapes(input_shapes)
        from mocha.backend_choice import make_backend
        from mocha.core.io.model import load_network
        from mocha.core.net import Net

        exp = self.experiment
        layers = exp.layers_for("test" if exp.has_test_net else "train")
        chosen = inference_layers(layers, input_shapes)
        backend = make_backend("numpy")
        backend.init()
        try:
            net = Net(exp.name, backend, chosen, phase="test")
            try:
                net.init()
                if self.model is not None:
                    load_network(self.model, net)
                yield net
            finally:
                net.shutdown()
        finally:
            backend.shutdown()


def write_conversion(conversion: Any, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write `<out>/<name>.toml`, the side files and (when there are parameters) the HDF5
    model `<name>.h5`; returns the paths ("experiment", "model", and each side file)."""
    import h5py

    from mocha.core.io.model import atomic_h5_write
    from mocha.experiment.toml_writer import dumps

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for fname, datasets in conversion.files.items():
        paths[fname] = out / fname
        with h5py.File(out / fname, "w") as f:
            for key, value in datasets.items():
                f.create_dataset(key, data=value)
    if conversion.params:
        paths["model"] = out / (conversion.model_file or f"{conversion.name}.h5")

        def write(f: Any) -> None:
            for key, value in conversion.params.items():
                f.create_dataset(key, data=value)

        atomic_h5_write(str(paths["model"]), write)
    paths["experiment"] = out / f"{conversion.name}.toml"
    paths["experiment"].write_text(
        dumps(conversion.document, header=conversion.header), encoding="utf-8"
    )
    return paths


def layers_of(conversion: Any, phase: str = "test", folder: str | os.PathLike = ".") -> list:
    """Our layer objects for the `phase` net ("train" or "test"; the test net is the
    training net when the conversion has no test-only layers). Side files are looked up in
    `folder` (`write_conversion` puts them there)."""
    from mocha.experiment.loader import parse_experiment

    exp = parse_experiment(
        conversion.document, (Path(folder) / f"{conversion.name}.toml").resolve()
    )
    return exp.layers_for(phase if phase == "train" or exp.has_test_net else "train")


class Format:
    """A registered format with the experiment glue attached: `convert`, `export` and the
    format object's own Python API (e.g. ONNX's `export_net`/`load`, Caffe's
    `load_weights`) under one name, as `mocha.interop.<name>` gives it."""

    def __init__(self, name: str):
        self.plugin = lookup("formats", name)
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.plugin, attr)

    def __repr__(self) -> str:
        return f"<format {self.name!r} of mocha.interop>"

    def export_experiment(
        self,
        experiment: str | os.PathLike,
        *args: Any,
        model: str | os.PathLike | None = None,
        **options: Any,
    ) -> list[Path]:
        """Write the experiment's net (with `model`'s weights) in this format; `args` and
        `options` are the format's export options (e.g. Caffe's `out`, ONNX's `output`)."""
        return self.plugin.export(ExperimentSource(experiment, model), *args, **options)

    def write_experiment(self, conversion: Any, out: str | os.PathLike) -> dict[str, Path]:
        return write_conversion(conversion, out)

    def load_layers(
        self, conversion: Any, phase: str = "test", folder: str | os.PathLike = "."
    ) -> list:
        return layers_of(conversion, phase, folder)
