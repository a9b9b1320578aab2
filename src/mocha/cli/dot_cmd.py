"""`mocha dot EXPERIMENT -o net.dot|net.png|net.svg`: draw the training net with GraphViz."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from mocha.cli.app import fail
from mocha.cli.graphviz import net2dot
from mocha.core.errors import MochaError
from mocha.core.hookspecs import hookimpl

RENDERED = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def dot(
    experiment: Annotated[Path, typer.Argument(help="The experiment file (TOML).")],
    *,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write: .dot (GraphViz source), or .png/.svg/.pdf "
            "(rendered by the `dot` program of GraphViz); default: net.dot in the current "
            "folder.",
        ),
    ] = None,
    net: Annotated[str, typer.Option(help="Which net to draw: train or test.")] = "train",
    backend: Annotated[str, typer.Option(help="Backend used to build the nets.")] = "numpy",
) -> None:
    """Write the network of an experiment file as a GraphViz graph (blob shapes included)."""
    from mocha.experiment import experiment_nets, load_experiment

    default_output = output is None
    output = Path("net.dot") if output is None else output
    suffix = output.suffix.lower()
    if suffix not in (".dot", ".gv", *RENDERED):
        raise fail(f"cannot write {str(output)!r}: use a .dot, .gv, .png, .svg or .pdf file name")
    program = shutil.which("dot")
    if suffix in RENDERED and program is None:
        raise fail(
            f"writing {suffix} needs the `dot` program of GraphViz, which is not installed "
            f"(e.g. apt install graphviz); or write a .dot file and render it elsewhere"
        )
    if net not in ("train", "test"):
        raise fail(f"--net must be 'train' or 'test', not {net!r}")
    try:
        exp = load_experiment(experiment)
        with experiment_nets(exp, backend) as (train_net, test_net):
            chosen = train_net if net == "train" else test_net
            if chosen is None:
                raise fail(f'{experiment} has no validation net (no layer has phase = "test")')
            buffer = io.StringIO()
            net2dot(buffer, chosen)
    except MochaError as exc:
        raise fail(str(exc)) from None
    source = buffer.getvalue()
    output.parent.mkdir(parents=True, exist_ok=True)
    if suffix in RENDERED:
        proc = subprocess.run(
            [program, f"-T{RENDERED[suffix]}", "-o", str(output)],
            input=source,
            text=True,
            capture_output=True,
        )
        if proc.returncode != 0:
            raise fail(f"GraphViz `dot` failed: {proc.stderr.strip()}", code=1)
    else:
        output.write_text(source, encoding="utf-8")
    if default_output:
        typer.echo(f"wrote {output.resolve()} (no -o given: net.dot in the current folder)")
    else:
        typer.echo(f"wrote {output}")


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("dot")(dot)
