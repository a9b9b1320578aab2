"""`mocha predict EXPERIMENT.toml INPUT... --model FILE_OR_FOLDER`: classify images or arrays.

The experiment file gives the architecture (its test net when it has one); `--model` a Mocha
HDF5 model file, a snapshot, or a snapshot folder (its latest snapshot). Inputs are `.npy`
files (one sample, or samples on axis 0; loaded without pickle; taken as already prepared
like the training data) or images (PNG, JPEG, ...; read with Pillow, which must be
installed; grey or RGB to match the net's channels, of the size the net expects, or resized to
it with `--resize`). Images are prepared as the training data was: the `pixel_scale` and
`pixel_mean` attributes that `mocha data` and `mocha data convert --scale` write on the
HDF5 data (`(pixels - mean) * pixel_scale`, pixels 0-255); `--scale` replaces them; without
either, a warning says the scale cannot be known and pixels are used as 0-255.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mocha.core.errors import MochaError
from mocha.core.hookspecs import hookimpl
from mocha.prediction import InputPrep, training_input

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_image(
    path: Path, want: tuple[int, ...] | None, prep: InputPrep, resize: bool = False
) -> Any:
    """One image as a float32 `(C, H, W)` array (grey when the net has 1 channel, else RGB),
    prepared by `prep`; with `resize`, resized to the net's height and width."""
    import numpy as np

    from mocha.core.extras import require

    Image = require("images", f"{path}: reading images (or pass .npy arrays)", "PIL.Image")
    try:
        with Image.open(path) as img:
            bands, mode, size = len(img.getbands()), img.mode, img.size
            channels = want[0] if want and len(want) == 3 else (1 if bands == 1 else 3)
            if channels not in (1, 3):
                raise MochaError(
                    f"{path}: the net expects {channels} channels; images give 1 (grey) or 3 (RGB)"
                )
            converted = img.convert("L" if channels == 1 else "RGB")
            if resize and want and len(want) == 3 and size != (want[2], want[1]):
                converted = converted.resize((want[2], want[1]), Image.Resampling.BILINEAR)
            pixels = np.asarray(converted, dtype=np.float32)
    except OSError as exc:
        raise MochaError(f"{path}: cannot read the image ({exc})") from None
    x = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    if want and len(want) == 3 and x.shape != want:
        raise MochaError(
            f"{path}: image of {size[0]}x{size[1]} pixels, {mode} ({bands} channel"
            f"{'s' if bands != 1 else ''}); the net expects {want[2]}x{want[1]} with "
            f"{want[0]} channel{'s' if want[0] != 1 else ''} (colour and grey are converted); "
            f"pass --resize to resize it"
        )
    return prep.apply(x)


def load_inputs(
    paths: list[Path], want: tuple[int, ...] | None, prep: Any, resize: bool = False
) -> tuple[Any, list[str]]:
    """All inputs stacked as samples, and a label per sample (`file` or `file[i]`)."""
    import numpy as np

    samples, names = [], []
    for path in paths:
        if path.suffix.lower() == ".npy":
            try:
                a = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise MochaError(f"{path}: cannot load as a numeric .npy array ({exc})") from None
            single = want is not None and (
                a.shape == want or (want[:1] == (1,) and a.shape == want[1:])
            )
            a = a[None] if single or a.ndim <= 1 else a
            if want is not None and want[:1] == (1,) and a.shape[1:] == want[1:]:
                a = a[:, None]
            if want is not None and a.shape[1:] != want:
                raise MochaError(f"{path}: samples of shape {a.shape[1:]}; the net expects {want}")
            with np.errstate(over="ignore"):  # too large for float32: inf, refused below
                samples.extend(a.astype(np.float32))
            names.extend([str(path)] if len(a) == 1 else [f"{path}[{i}]" for i in range(len(a))])
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            samples.append(load_image(path, want, prep, resize))
            names.append(str(path))
        else:
            raise MochaError(
                f"{path}: unknown input type {path.suffix!r}; give .npy arrays or "
                f"images ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
    shapes = {s.shape for s in samples}
    if len(shapes) != 1:
        raise MochaError(f"inputs have different sample shapes: {sorted(shapes)}")
    x = np.stack(samples)
    bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
    if bad.size:  # a prediction of NaN input is meaningless ("class 0, probability nan")
        raise MochaError(
            f"{names[bad[0]]}: holds NaN or infinite values ({bad.size} of "
            f"{len(x)} inputs); refusing non-finite input"
        )
    return x, names


def predict(
    experiment: Annotated[Path, typer.Argument(help="Experiment file giving the architecture.")],
    inputs: Annotated[list[Path], typer.Argument(help="Images or .npy arrays to classify.")],
    *,
    model: Annotated[
        Path,
        typer.Option(
            "--model", "-m", help="Model file, snapshot, or snapshot folder (latest snapshot)."
        ),
    ],
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 100,
    output: Annotated[
        str | None,
        typer.Option(help="Blob to report (default: the last one computed from the inputs)."),
    ] = None,
    scale: Annotated[
        float | None,
        typer.Option(
            help="Multiply image pixels (0-255) by this (default: as the training data "
            "records it; see docs/data.md)."
        ),
    ] = None,
    resize: Annotated[
        bool, typer.Option("--resize", help="Resize images to the net's height and width.")
    ] = False,
    backend: Annotated[
        str, typer.Option(help="Backend name (numpy, numba, cupy, cpu, gpu, default).")
    ] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Classify [bold]images or .npy arrays[/] with a trained model."""
    from mocha.backend_choice import make_backend
    from mocha.cli.app import fail
    from mocha.experiment import load_experiment
    from mocha.prediction import predict as run_predict

    try:
        exp = load_experiment(experiment)
        layers = exp.layers_for("test" if exp.has_test_net else "train")
        tops = [t for layer in layers if layer.is_source for t in layer.tops] or ["data"]
        want, prep = training_input(layers, tops[0])
        images = [p for p in inputs if p.suffix.lower() in IMAGE_SUFFIXES]
        if scale is not None:
            prep = InputPrep(scale, note=f"--scale {scale:g}")
        elif images and prep.note:
            if not as_json:  # --json: in the object
                typer.echo(prep.note, err=True)
        elif images:
            typer.echo(
                "Warning: cannot know how the training inputs were scaled (the data records "
                "no pixel_scale); image pixels are used as 0-255: pass --scale (e.g. "
                "0.00390625 for pixels / 256)",
                err=True,
            )
        x, names = load_inputs(list(inputs), want, prep, resize)
        chosen = make_backend(backend)
        chosen.init()
        try:
            result = run_predict(
                layers, x, batch_size=batch_size, output=output, model=model, backend=chosen
            )
        finally:
            chosen.shutdown()
    except MochaError as exc:
        raise fail(str(exc)) from None
    probabilities, classes = class_scores(result, fail)
    rows = [
        {
            "input": name,
            "class": int(c),
            "probability": float(p[c]),
            "probabilities": [float(v) for v in p],
        }
        for name, c, p in zip(names, classes, probabilities)
    ]
    if as_json:
        info: dict[str, Any] = {"output": result.output, "predictions": rows}
        if images:
            info["image_preparation"] = prep.note or "unknown: pixels used as 0-255"
        typer.echo(json.dumps(info, indent=2))
        return
    from rich.table import Table

    from mocha.cli._console import make_console

    table = Table(title=f"predictions ({result.output})")
    for column in ("input", "class", "probability"):
        table.add_column(column, justify="left" if column == "input" else "right", overflow="fold")
    for row in rows:
        table.add_row(row["input"], str(row["class"]), f"{row['probability']:.4f}")
    make_console(highlight=False).print(table)


def class_scores(result: Any, fail: Any) -> tuple[Any, Any]:
    """(probabilities (N, C), classes (N,)) of an (N, C) output, or of (N, C, 1, ..., 1) (a
    global-pooling head: the trailing unit axes are squeezed); any other shape has no single
    score per class, and `fail` says why."""
    import math

    shape = result.outputs.shape
    if len(shape) >= 2 and all(d == 1 for d in shape[2:]):
        return result.probabilities.reshape(shape[:2]), result.classes.reshape(shape[0])
    why = (
        "it has no class axis (axis 1)"
        if len(shape) < 2
        else f"its axes after the classes, {tuple(shape[2:])}, are not all 1: that is "
        f"{shape[1]} scores at each of {math.prod(shape[2:])} positions (a map, e.g. "
        f"a convolution before global pooling or a segmentation output), not one per class"
    )
    raise fail(
        f"output blob {result.output!r} has shape {tuple(shape)}; `mocha predict` reports "
        f"classes of (N, C) or (N, C, 1, 1) outputs, and {why} (mocha.predict returns any "
        f"output; --output names another blob)"
    )


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("predict")(predict)
