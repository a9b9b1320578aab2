"""`mocha data mnist|cifar10 --out DIR [--mirror URL_OR_FOLDER]`: prepare a data set;
`mocha data convert FILE --out FILE.h5 [--layout NHWC ...]`: convert arrays.

Fetches the official files (or reads a mirror: a folder holding the official file names, or
a URL prefix), verifies them, and writes `train.h5`, `test.h5`, `train.txt` and `test.txt`
into DIR, ready for `HDF5DataLayer(source="DIR/train.txt")`. A live progress bar (rich)
shows downloads and conversion on stderr. The data sets are plugins (hook
`mocha_register_datasets`; the built-in ones live in `mocha.plugins.datasets.standard`): a
data set another distribution registers becomes `mocha data <name> --out DIR [--mirror M]`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mocha.core.errors import MochaError
from mocha.core.hookspecs import hookimpl

OutOption = Annotated[
    Path, typer.Option("--out", "-o", help="Folder to write the HDF5 and list files into.")
]
MirrorOption = Annotated[
    str | None,
    typer.Option(
        "--mirror",
        help="A URL prefix or a local folder holding the official file names "
        "(gzip-compressed or not), used instead of the official site.",
    ),
]


@contextlib.contextmanager
def rich_progress() -> Iterator[
    tuple[Callable[[str, int, int | None], None], Callable[[str], None]]
]:
    """A rich progress display on stderr: yields `(progress, log)` callbacks."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True, highlight=False)
    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:

        def progress(description: str, completed: int, total: int | None) -> None:
            if description not in tasks:
                tasks[description] = bar.add_task(description, total=total)
            bar.update(tasks[description], completed=completed, total=total)

        def log(message: str) -> None:
            bar.console.print(message, markup=False)

        yield progress, log


def _prepare(name: str, out: Path, mirror: str | None, **options: Any) -> dict[str, Path]:
    """Run the registered data set `name` (hook `mocha_register_datasets`) with a progress bar;
    errors exit with status 1."""
    from mocha.cli.app import fail
    from mocha.core.registry import lookup

    try:
        prepare = lookup("datasets", name)
        with rich_progress() as (progress, log):
            paths = prepare(out, mirror=mirror, progress=progress, log=log, **options)
    except (MochaError, OSError) as exc:
        from mocha.datasets.fetch import DownloadError

        hint = offline_hint(name, out) if isinstance(exc, DownloadError) else ""
        raise fail(f"{name}: {exc}{hint}", code=1) from None
    typer.echo(f"{name} ready in {out}:")
    for split in ("train", "test"):
        typer.echo(f"  HDF5DataLayer(source={str(paths[split])!r}, ...)")
    return paths


def offline_hint(name: str, out: Path) -> str:
    """What to do without the network: a mirror (and, for CIFAR-10, synthetic data)."""
    hint = (
        f"\nOffline? Give a folder (or URL) holding the official files: "
        f"mocha data {name} --mirror FOLDER_OR_URL --out {out}"
    )
    if name == "cifar10":
        hint += (
            f"\nor write SYNTHETIC images in CIFAR-10's format (to try the pipeline, not to "
            f"measure accuracy): mocha data cifar10 --synthetic 5000 --out {out}"
        )
    return hint


def _dataset_names() -> list[str]:
    from mocha.core.registry import get_registry

    try:
        return get_registry().names("datasets")
    except MochaError:
        return []


def _generic_command(name: str) -> Any:
    """`mocha data <name> --out DIR [--mirror M]` for a data set that a plugin registered."""
    from mocha.core.registry import lookup

    doc = (lookup("datasets", name).__doc__ or f"Prepare the data set {name!r}.").strip()

    def command(out: OutOption, mirror: MirrorOption = None) -> None:
        _prepare(name, out, mirror)

    command.__doc__ = f"{doc}\n\n(registered by a plugin; converted to HDF5)"
    app = typer.Typer()
    app.command(name)(command)
    return typer.main.get_command(app)


class DataGroup(TyperGroup):
    """The `data` group: its own commands, plus one per data set that a plugin registered
    with `mocha_register_datasets` (looked up only when `mocha data` runs)."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        names = super().list_commands(ctx)
        return names + [n for n in _dataset_names() if n not in names]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in _dataset_names():
            command = _generic_command(cmd_name)
        return command


def mnist(out: OutOption, mirror: MirrorOption = None) -> None:
    """Fetch MNIST, verify it and convert it to HDF5 (data (N,1,28,28) in [0,1), labels (N,1))."""
    _prepare("mnist", out, mirror)


def cifar10(
    out: OutOption,
    mirror: MirrorOption = None,
    subtract_mean: Annotated[
        bool,
        typer.Option(
            "--subtract-mean/--keep-mean",
            help="Subtract the training mean from both sets (Mocha's example does).",
        ),
    ] = True,
    synthetic: Annotated[
        int,
        typer.Option(
            "--synthetic",
            min=0,
            help="Write and convert N SYNTHETIC training images "
            "(and N/5 test images) in the official format instead of downloading: for "
            "trying the example offline; not CIFAR-10.",
        ),
    ] = 0,
) -> None:
    """Fetch CIFAR-10 (binary version), verify it and convert it to HDF5 (N,3,32,32)."""
    if synthetic and mirror:
        from mocha.cli.app import fail

        raise fail("--synthetic writes its own archive: it cannot be combined with --mirror")
    paths = _prepare(
        "cifar10",
        out,
        mirror,
        subtract_mean=subtract_mean,
        **({"synthetic": synthetic} if synthetic else {}),
    )
    typer.echo(f"  training mean: {paths['mean']} (dataset 'mean')")
    if synthetic:
        typer.echo(f"  SYNTHETIC data, not CIFAR-10 (see {paths['synthetic']})")


def convert(
    source: Annotated[Path, typer.Argument(help="A .npy, .npz or .csv file.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="The HDF5 file to write (a list file with suffix .txt goes next to it).",
        ),
    ],
    labels: Annotated[Path | None, typer.Option(help=".npy labels (with a .npy source).")] = None,
    layout: Annotated[
        str | None,
        typer.Option(
            help="Axis order of the data, e.g. NHWC, NCHW, NHW, NC (for CSV: without N, with "
            "--sample-shape)."
        ),
    ] = None,
    scale: Annotated[float | None, typer.Option(help="Multiply the data by this.")] = None,
    data_key: Annotated[str, typer.Option(help="Array name of the data in a .npz.")] = "data",
    label_key: Annotated[
        str, typer.Option(help="Array name of the labels in a .npz ('' for none).")
    ] = "label",
    label_column: Annotated[
        str,
        typer.Option(
            help="CSV label column: index (negative from the end), header name, or '' for none."
        ),
    ] = "0",
    sample_shape: Annotated[
        str | None, typer.Option(help="CSV: reshape each row's features, e.g. 28,28,1.")
    ] = None,
) -> None:
    """Convert arrays (.npy, .npz, .csv) to Mocha's HDF5 layout plus a list file."""
    from mocha.cli.app import fail
    from mocha.datasets import convert as conv

    options: dict[str, Any] = {"scale": scale}
    suffix = source.suffix.lower()
    try:
        if suffix == ".npy":
            h5 = conv.from_npy(out, source, labels, layout=layout, **options)
        elif suffix == ".npz":
            h5 = conv.from_npz(
                out,
                source,
                data_key=data_key,
                label_key=label_key or None,
                layout=layout,
                **options,
            )
        elif suffix == ".csv":
            column: int | str | None = label_column or None
            if isinstance(column, str) and column.lstrip("-").isdigit():
                column = int(column)
            shape = [int(v) for v in sample_shape.split(",")] if sample_shape else None
            h5 = conv.from_csv(
                out, source, label_column=column, sample_shape=shape, layout=layout, **options
            )
        else:
            raise fail(f"{source}: unknown input type {suffix!r}; give .npy, .npz or .csv")
    except (MochaError, OSError, ValueError) as exc:
        raise fail(str(exc), code=1) from None
    typer.echo(f"wrote {h5} and {h5.with_suffix('.txt')}")


def make_data_app() -> typer.Typer:
    data = typer.Typer(
        name="data",
        no_args_is_help=True,
        cls=DataGroup,
        help="Prepare data sets as HDF5 files for HDF5DataLayer.",
    )
    data.command("mnist")(mnist)
    data.command("cifar10")(cifar10)
    data.command("convert")(convert)
    return data


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.add_typer(make_data_app(), name="data")
