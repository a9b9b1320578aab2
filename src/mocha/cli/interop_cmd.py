"""`mocha convert FORMAT ...` and `mocha export FORMAT ...`: models in from, and out to, other
frameworks (Caffe, ONNX).

Each format lives in `mocha.interop.<format>` with a `cli` module that defines
`register_convert(group)` and `register_export(group)`; this module builds the two command
groups and asks each format listed in `FORMATS` to add its sub-command, so the format's heavy
imports (protobuf, onnx) happen only when its command runs.
"""

from __future__ import annotations

import importlib

import typer

from mocha.core.hookspecs import hookimpl

FORMATS: tuple[str, ...] = ("caffe", "onnx")


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    convert = typer.Typer(
        no_args_is_help=True,
        help="Import a model of another framework as an experiment file and an HDF5 model.",
    )
    export = typer.Typer(
        no_args_is_help=True, help="Write a trained net in another framework's format."
    )
    for name in FORMATS:
        cli = importlib.import_module(f"mocha.interop.{name}.cli")
        cli.register_convert(convert)
        cli.register_export(export)
    if FORMATS:
        app.add_typer(convert, name="convert")
        app.add_typer(export, name="export")
