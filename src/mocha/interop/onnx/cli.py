"""`mocha export onnx EXPERIMENT.toml --model MODEL -o net.onnx` and
`mocha convert onnx model.onnx --out DIR`.

Export builds the experiment's test net (its training net when it has none) on the NumPy
backend with one zero sample per data top, loads `--model` (an HDF5 model file, a snapshot
or a snapshot folder) and writes the inference graph (`mocha.interop.onnx.export`). The sample
shapes come from the data layers (their HDF5 files or arrays); `--input-shape data=1,28,28`
gives them when the data files are not at hand. `onnx` is imported only when a command runs;
without it the command names the extra to install and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mocha.core.errors import MochaError
from mocha.interop.onnx._common import DEFAULT_OPSET, OnnxError


def parse_input_shapes(items: list[str]) -> dict[str, tuple[int, ...]]:
    """{"data": (1, 28, 28)} from ["data=1,28,28"]."""
    shapes = {}
    for item in items:
        top, _, dims = item.partition("=")
        try:
            shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip())
        except ValueError:
            shape = ()
        if not top or not shape or min(shape) < 1:
            raise OnnxError(
                f"--input-shape {item!r}: write TOP=D1,D2,... (the sample shape "
                f"without the batch axis), e.g. data=1,28,28"
            )
        shapes[top] = shape
    return shapes


def export_layers(layers: list[Any], shapes: dict[str, tuple[int, ...]]) -> list[Any]:
    """The layers of the net to export: each data layer fed by one zero sample per top of
    known shape (transformers kept), then every layer computable from those tops; sinks are
    kept only when they compute a loss or statistics (they say which blobs are predictions)."""
    import numpy as np

    from mocha.cli.predict_cmd import expected_sample_shape
    from mocha.core.registry import lookup

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
                raise OnnxError(
                    f"{type(layer).__name__}({layer.name!r}): cannot tell the sample "
                    f"shape of top {top!r} (are its data files at hand?); pass "
                    f"--input-shape {top}=C,H,W"
                )
            if shape is not None:
                tops.append((top, shape))
        if not tops:
            continue
        if not hasattr(layer, "batch_size"):
            raise OnnxError(
                f"{type(layer).__name__}({layer.name!r}): layer type "
                f"{type(layer).__name__} has no ONNX equivalent"
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


def export_cmd(
    experiment: Annotated[Path, typer.Argument(help="Experiment file giving the architecture.")],
    *,
    model: Annotated[
        Path,
        typer.Option(
            "--model", "-m", help="Model file, snapshot, or snapshot folder (latest snapshot)."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The ONNX file to write.")],
    opset: Annotated[int, typer.Option(help="ONNX opset version (>= 17).")] = DEFAULT_OPSET,
    batch: Annotated[
        str, typer.Option(help="'dynamic' (a symbolic batch axis) or a fixed batch size.")
    ] = "dynamic",
    input_shape: Annotated[
        list[str] | None,
        typer.Option(
            "--input-shape",
            help="TOP=D1,D2,... sample shape of a data top (when its data files "
            "are not at hand); repeatable.",
        ),
    ] = None,
    outputs: Annotated[
        list[str] | None,
        typer.Option("--blob", help="Blob to output (default: the predictions); repeatable."),
    ] = None,
) -> None:
    """Write a trained net as an [bold]ONNX[/] model (its inference graph)."""
    from mocha.cli.app import fail

    try:
        from mocha.core.backend_registry import make_backend
        from mocha.core.io.model import load_network
        from mocha.core.net import Net
        from mocha.experiment import load_experiment
        from mocha.interop.onnx._common import require_onnx
        from mocha.interop.onnx.export import export
        from mocha.prediction import _resolve_model

        require_onnx()
        exp = load_experiment(experiment)
        layers = exp.layers_for("test" if exp.has_test_net else "train")
        chosen = export_layers(layers, parse_input_shapes(input_shape or []))
        backend = make_backend("numpy")
        backend.init()
        try:
            net = Net(exp.name, backend, chosen, phase="test")
            try:
                net.init()
                load_network(_resolve_model(model), net)
                export(net, output, opset=opset, batch=batch, outputs=outputs or None)
            finally:
                net.shutdown()
        finally:
            backend.shutdown()
    except MochaError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {output}")


def convert_cmd(
    model: Annotated[Path, typer.Argument(help="The ONNX model to import.")],
    *,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the experiment file and the HDF5 model.")
    ],
    name: Annotated[
        str | None, typer.Option(help="Experiment name (default: the graph's name).")
    ] = None,
) -> None:
    """Import an [bold]ONNX[/] model as an experiment file and an HDF5 model."""
    from mocha.cli.app import fail

    try:
        from mocha.interop.onnx.importer import load

        paths = load(model, name=name).save(out)
    except MochaError as exc:
        raise fail(str(exc)) from None
    for kind in ("experiment", "model", "inputs"):
        typer.echo(f"wrote {paths[kind]}")


def register_convert(group: typer.Typer) -> None:
    group.command("onnx")(convert_cmd)


def register_export(group: typer.Typer) -> None:
    group.command("onnx")(export_cmd)
