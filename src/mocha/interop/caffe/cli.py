"""`mocha convert caffe NET.prototxt [WEIGHTS.caffemodel] --out DIR` and
`mocha export caffe EXPERIMENT.toml --model H5 -o DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mocha.core.errors import MochaError


def _numbers(text: str | None, what: str, kind: type) -> tuple | None:
    if text is None:
        return None
    try:
        return tuple(kind(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise MochaError(f"{what} {text!r}: give comma-separated numbers") from None


def convert_caffe(
    net: Annotated[Path, typer.Argument(help="Caffe net: .prototxt (or a .caffemodel).")],
    weights: Annotated[Path | None, typer.Argument(help="Trained weights (.caffemodel).")] = None,
    *,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for <name>.toml and <name>.h5.")
    ] = Path("."),
    name: Annotated[
        str | None, typer.Option(help="File name stem (default: the net's name).")
    ] = None,
    mean_value: Annotated[
        str | None,
        typer.Option(
            help="Channel means, in the net's channel order (BGR for Caffe images), e.g. "
            "104,117,123; replaces transform_param's mean."
        ),
    ] = None,
    mean_file: Annotated[str | None, typer.Option(help="A Caffe .binaryproto mean file.")] = None,
    input_shape: Annotated[
        str | None, typer.Option(help="C,H,W of the images of a Data (LMDB) or ImageData layer.")
    ] = None,
    bgr: Annotated[
        bool | None,
        typer.Option(
            "--bgr/--no-bgr",
            help="Reorder RGB inputs to BGR (default: for colour ImageData/"
            "Data layers, as Caffe reads images with OpenCV).",
        ),
    ] = None,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="Leave out this layer (repeatable).")
    ] = None,
) -> None:
    """Import a [bold]Caffe[/] net (and weights) as an experiment file and an HDF5 model."""
    from mocha.cli.app import fail

    try:
        from mocha.interop import caffe

        conv = caffe.convert(
            net,
            weights,
            name=name,
            drop=tuple(drop or ()),
            mean_value=_numbers(mean_value, "--mean-value", float),
            mean_file=mean_file,
            channel_swap=bgr,
            input_shape=_numbers(input_shape, "--input-shape", int),
        )
        toml_path, model = caffe.write_experiment(conv, out)
    except MochaError as exc:
        raise fail(str(exc)) from None
    except ImportError as exc:
        raise fail(
            f'mocha convert caffe needs the protobuf package ({exc}): pip install "mocha-dl[caffe]"'
        ) from None
    typer.echo(f"{net} → {toml_path}" + (f" + {model}" if model else " (no weights)"))
    width = max(len(n) for n, _, _ in conv.mapped) if conv.mapped else 0
    for caffe_name, caffe_type, ours in conv.mapped:
        typer.echo(f"  {caffe_name:<{width}}  {caffe_type:<16} → {ours}")
    for note in conv.notes:
        typer.echo(f"  note: {note}")
    n = sum(int(v.size) for v in conv.params.values())
    typer.echo(
        f"{len(conv.mapped)} Caffe layers mapped to {len(conv.layers)} layers; "
        f"{len(conv.params)} parameter arrays ({n:,} values)"
    )


def export_caffe(
    experiment: Annotated[Path, typer.Argument(help="Experiment file.")],
    *,
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="Model file or snapshot (for the caffemodel)."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the Caffe files.")] = Path(
        "."
    ),
) -> None:
    """Write an experiment's net as a Caffe [bold]prototxt[/] (+ caffemodel with --model)."""
    from mocha.cli.app import fail

    try:
        from mocha.interop import caffe

        written = caffe.export(experiment, out, model=model)
    except MochaError as exc:
        raise fail(str(exc)) from None
    except ImportError as exc:
        raise fail(
            f'mocha export caffe needs the protobuf package ({exc}): pip install "mocha-dl[caffe]"'
        ) from None
    for path in written:
        typer.echo(f"wrote {path}")


def register_convert(group: typer.Typer) -> None:
    group.command("caffe")(convert_caffe)


def register_export(group: typer.Typer) -> None:
    group.command("caffe")(export_caffe)
