"""`mocha summary EXPERIMENT`: the nets of an experiment file, layer by layer."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from mocha.cli.app import fail
from mocha.core.errors import MochaError
from mocha.core.hookspecs import hookimpl


def _shape(blob: Any) -> str:
    return "(" + ", ".join(str(d) for d in blob.shape) + ")"


def net_rows(net: Any) -> list[dict[str, Any]]:
    """One row per layer, in the net's (sorted) order: type, blobs, shapes, parameter count."""
    rows = []
    for layer, state in zip(net.layers, net.states):
        tops_shapes = (
            [] if (layer.is_sink or layer.is_inplace) else [_shape(b) for b in state.blobs]
        )
        n_params = sum(math.prod(p.blob.shape) for p in state.parameters)
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "bottoms": list(layer.bottoms),
                "tops": list(layer.tops),
                "top_shapes": tops_shapes,
                "parameters": n_params,
            }
        )
    return rows


def summary(
    experiment: Annotated[Path, typer.Argument(help="The experiment file (TOML).")],
    *,
    backend: Annotated[str, typer.Option(help="Backend used to build the nets.")] = "numpy",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Show the layers of the training and validation nets.

    Layers come in sorted order with their types, bottoms, tops, output shapes (numpy order,
    batch first) and parameter counts.
    """
    from mocha.experiment import experiment_nets, load_experiment

    try:
        exp = load_experiment(experiment)
        with experiment_nets(exp, backend) as (train, test):
            nets = {net.name: net_rows(net) for net in (train, test) if net is not None}
    except MochaError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(nets, indent=2))
        return
    from rich.table import Table

    from mocha.cli._console import make_console

    console = make_console()
    for name, rows in nets.items():
        table = Table(title=f"{name} ({len(rows)} layers)")
        for col in ("#", "layer", "type", "bottoms", "tops", "output shapes", "params"):
            table.add_column(col, justify="right" if col in ("#", "params") else "left")
        for i, r in enumerate(rows, 1):
            table.add_row(
                str(i),
                r["name"],
                r["type"],
                ", ".join(r["bottoms"]),
                ", ".join(r["tops"]),
                " ".join(r["top_shapes"]),
                f"{r['parameters']:,}" if r["parameters"] else "",
            )
        total = sum(r["parameters"] for r in rows)
        table.caption = f"{total:,} parameters"
        console.print(table)


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("summary")(summary)
