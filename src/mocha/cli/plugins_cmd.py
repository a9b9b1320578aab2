"""`mocha plugins`: every plugin entry point, where it comes from and whether it loaded."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mocha.core.hookspecs import hookimpl


def plugins(
    *,
    kind: Annotated[str | None, typer.Option(
        "--kind", "-k", help="Only this kind (layers, backends, solvers, coffee, commands...).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the plugins: name, kind, distribution, version and status (failed ones too).

    A failed row gives the reason: an import error, a hook that raised, or a name a
    built-in already has."""
    from mocha.cli.app import diagnostic_plugin_manager

    infos = sorted(diagnostic_plugin_manager().infos.values(),
                   key=lambda i: (i.kind, i.name, i.distribution))
    if kind:
        kinds = sorted({i.kind for i in infos})
        if kind not in kinds:
            from mocha.cli.app import fail

            raise fail(f"no plugins of kind {kind!r}; kinds: {', '.join(kinds)}")
        infos = [i for i in infos if i.kind == kind]
    rows = [
        {"name": i.name, "kind": i.kind, "module": i.module, "distribution": i.distribution,
         "version": i.version, "status": i.status, "error": i.error}
        for i in infos
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Mocha plugins")
    for col in ("name", "kind", "distribution", "version", "status"):
        table.add_column(col)
    style = {"loaded": "green", "failed": "bold red", "disabled": "yellow"}
    for r in rows:
        status = f"[{style.get(r['status'], '')}]{r['status']}[/]"
        if r["error"]:
            status += f": {escape(r['error'])}"
        table.add_row(r["name"], r["kind"], r["distribution"], r["version"], status)
    Console().print(table)


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("plugins")(plugins)
