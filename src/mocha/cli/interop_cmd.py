"""`mocha convert FORMAT ...` and `mocha export FORMAT ...`, for every registered format.

The two groups list the formats of the registry (kind "formats") and build each format's
sub-command from its declared options (`mocha.core.interchange.FormatOption`) when it is
asked for, so a format's library (protobuf, onnx) is imported only when its command runs and
a third-party format gets its commands like the built-ins:

    mocha convert NAME SOURCE... --out DIR [format options]
    mocha export NAME EXPERIMENT.toml --model MODEL [format options]
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mocha.core.errors import MochaError
from mocha.core.hookspecs import hookimpl


def _formats() -> dict[str, Any]:
    from mocha.core.registry import get_registry

    return {e.name: e.obj for e in get_registry().entries("formats")}


def _parameter(option: Any, kind: Any, required: bool = False) -> inspect.Parameter:
    """The typer parameter of one `FormatOption`."""
    if option.argument:
        info: Any = typer.Argument(help=option.help)
    else:
        names = (option.flag or f"--{option.name.replace('_', '-')}").split("/")
        flags = ["/".join(names)] if option.type is bool else names
        info = typer.Option(*flags, help=option.help)
    annotation = list[option.type] if option.multiple else option.type
    if not required:
        annotation = annotation | None
    default = inspect.Parameter.empty if required else option.default
    return inspect.Parameter(
        option.name, kind, default=default, annotation=Annotated[annotation, info]
    )


def _command(fmt: Any, direction: str) -> Any:
    """The typer function of `mocha <direction> <fmt.name>`."""
    options = fmt.convert_options if direction == "convert" else fmt.export_options
    positional, keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY
    params = []
    if direction == "export":
        params += [
            inspect.Parameter(
                "experiment",
                positional,
                annotation=Annotated[Path, typer.Argument(help="Experiment file.")],
            ),
            inspect.Parameter(
                "model",
                keyword,
                default=None,
                annotation=Annotated[
                    Path | None,
                    typer.Option(
                        "--model",
                        "-m",
                        help="Model file, snapshot, or snapshot folder (its newest).",
                    ),
                ],
            ),
        ]
    arguments = [o for o in options if o.argument]
    params += [_parameter(o, positional, required=i == 0) for i, o in enumerate(arguments)]
    if direction == "convert":
        params.append(
            inspect.Parameter(
                "out",
                keyword,
                default=Path("."),
                annotation=Annotated[
                    Path,
                    typer.Option("--out", "-o", help="Folder for the experiment file and model."),
                ],
            )
        )
    params += [_parameter(o, keyword) for o in options if not o.argument]

    def run(**values: Any) -> None:
        from mocha.cli.app import fail
        from mocha.experiment.interchange import ExperimentSource, write_conversion

        try:
            if direction == "convert":
                out = values.pop("out")
                conversion = fmt.convert(**values)
                for line in conversion.lines:
                    typer.echo(line)
                for path in write_conversion(conversion, out).values():
                    typer.echo(f"wrote {path}")
                return
            source = ExperimentSource(values.pop("experiment"), values.pop("model"))
            for path in fmt.export(source, **values):
                typer.echo(f"wrote {path}")
        except MochaError as exc:
            raise fail(str(exc)) from None

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    verb = "Import" if direction == "convert" else f"Write a trained net as {fmt.name}:"
    run.__doc__ = f"{verb} {fmt.summary}."
    return run


class _FormatGroup(TyperGroup):
    """A command per registered format, built when asked for."""

    direction = "convert"

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(_formats())

    def get_command(self, ctx: Any, name: str) -> Any:
        fmt = _formats().get(name)
        if fmt is None:
            return None
        app = typer.Typer(add_completion=False, rich_markup_mode="rich")
        app.command(name)(_command(fmt, self.direction))
        return typer.main.get_command(app)


class _ConvertGroup(_FormatGroup):
    direction = "convert"


class _ExportGroup(_FormatGroup):
    direction = "export"


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    convert = typer.Typer(
        cls=_ConvertGroup,
        no_args_is_help=True,
        help="Import a model of another framework as an experiment file and an HDF5 model.",
    )
    export = typer.Typer(
        cls=_ExportGroup,
        no_args_is_help=True,
        help="Write a trained net in another framework's format.",
    )
    app.add_typer(convert, name="convert")
    app.add_typer(export, name="export")
