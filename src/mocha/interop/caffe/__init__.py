"""Caffe models in and out, without Caffe: `.prototxt` and `.caffemodel` read and written
directly with the `protobuf` package (the `caffe` extra: `pip install "mocha-dl[caffe]"`).

    from mocha.interop import caffe
    conv = caffe.convert("deploy.prototxt", "weights.caffemodel", mean_value=(104, 117, 123))
    layers = caffe.load_layers(conv, "test")          # our layers (the validation net's)
    net = Net("caffe", backend, layers); caffe.load_weights(conv, net)
    caffe.write_experiment(conv, "out/")              # out/<name>.toml and out/<name>.h5

`convert` reads both Caffe formats (current `layer` and old V1 `layers`) and maps every layer
with Caffe's semantics (`mapping.py`, `rules.py`, `data.py`); `export` writes our nets back
(`exporter.py`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mocha.interop.caffe.reader import CaffeError

EXTRA_HINT = 'pip install "mocha-dl[caffe]"'


def require_protobuf() -> None:
    """Raise a CaffeError naming the extra when the protobuf package is missing."""
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        raise CaffeError(f"Caffe import/export needs the protobuf package: {EXTRA_HINT}") from None


def convert(
    net: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    *,
    mean_value: tuple[float, ...] | None = None,
    mean_file: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    channel_swap: bool | None = None,
    drop: tuple[str, ...] = (),
    name: str | None = None,
) -> Any:
    """Read a Caffe net (and weights) and map it: a `mapping.Conversion`."""
    require_protobuf()
    from mocha.interop.caffe.data import DataOptions
    from mocha.interop.caffe.mapping import convert_net
    from mocha.interop.caffe.reader import read_net

    caffe_net = read_net(net)
    caffe_weights = None
    if weights is not None:
        caffe_weights = read_net(weights, binary=True, weights_only=True)
    options = DataOptions(
        mean_value=mean_value,
        mean_file=mean_file,
        input_shape=input_shape,
        channel_swap=channel_swap,
        search=[os.path.dirname(os.path.abspath(os.fspath(net)))],
    )
    stem = name or _safe(caffe_net.name)
    return convert_net(caffe_net, caffe_weights, options, stem=stem, drop=tuple(drop))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "caffe"


def write_experiment(conversion: Any, out_dir: str | os.PathLike) -> tuple[Path, Path | None]:
    """Write `<out>/<name>.toml`, the side files and (when there are weights) `<name>.h5`."""
    import h5py

    from mocha.core.io.model import atomic_h5_write
    from mocha.interop.caffe.toml_writer import dumps

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for fname, datasets in conversion.files.items():
        with h5py.File(out / fname, "w") as f:
            for key, value in datasets.items():
                f.create_dataset(key, data=value)
    toml_path = out / f"{conversion.name}.toml"
    toml_path.write_text(dumps(conversion.experiment()), encoding="utf-8")
    model = None
    if conversion.params:
        model = out / f"{conversion.name}.h5"

        def write(f: Any) -> None:
            for key, value in conversion.params.items():
                f.create_dataset(key, data=value)

        atomic_h5_write(str(model), write)
    return toml_path, model


def load_layers(conversion: Any, phase: str = "test", folder: str | os.PathLike = ".") -> list:
    """Our layer objects for the `phase` net ("train" or "test"; the test net is the train
    net when the Caffe file has no TEST-only layers). Side files must be in `folder`
    (`write_experiment` puts them there)."""
    from mocha.experiment.loader import parse_experiment

    exp = parse_experiment(
        conversion.experiment(), (Path(folder) / f"{conversion.name}.toml").resolve()
    )
    return exp.layers_for(phase if phase == "train" or exp.has_test_net else "train")


def load_weights(conversion: Any, net: Any) -> list[str]:
    """Copy the converted weights into `net` (by layer name); returns the datasets used."""
    from mocha.core.components import NullInitializer
    from mocha.core.io.model import copy_into_parameter, dataset_name

    loaded = []
    for state in net.states:
        for param in state.parameters if state.layer.has_param else ():
            key = dataset_name(state.layer.name, param.name)
            if key in conversion.params:
                copy_into_parameter(net.backend, param, conversion.params[key], key)
                param.initializer = NullInitializer()
                loaded.append(key)
    return loaded


def export(*args: Any, **kwargs: Any) -> Any:
    """Write our net as a Caffe prototxt and caffemodel (see `exporter.export_net`)."""
    require_protobuf()
    from mocha.interop.caffe.exporter import export_net

    return export_net(*args, **kwargs)


__all__ = ["CaffeError", "convert", "export", "load_layers", "load_weights", "write_experiment"]
