"""`mocha describe NAME`: one registered name (a layer, solver, coffee break, neuron, ...) in
full: kind, plugin, distribution, documentation, and fields with types and defaults."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mocha.core.hookspecs import hookimpl


def describe(
    name: Annotated[str, typer.Argument(help="A registered name, e.g. InnerProductLayer.")],
    *,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Show one registered name in full: its documentation and fields (defaults included)."""
    import difflib

    from mocha.cli._console import make_console
    from mocha.cli._describe import describe_entry
    from mocha.cli.app import fail
    from mocha.core.errors import MochaError
    from mocha.core.registry import get_registry

    try:
        registry = get_registry()
    except MochaError as exc:
        raise fail(str(exc)) from None
    found = [
        (kind, table[name]) for kind, table in sorted(registry.tables.items()) if name in table
    ]
    if not found:
        known = sorted({n for table in registry.tables.values() for n in table})
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise fail(
            f"no plugin registers a name {name!r}{hint} (`mocha plugins --kind KIND` "
            f"lists the names of a kind)"
        )
    rows = [describe_entry(kind, entry, full=True) for kind, entry in found]
    if as_json:
        typer.echo(json.dumps(rows[0] if len(rows) == 1 else rows, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    console = make_console(highlight=False)
    for r in rows:
        console.print(
            f"[bold]{r['name']}[/] ({r['kind']}, plugin {r['plugin']} from {r['distribution']})"
        )
        if r["doc"]:
            console.print(escape(r["doc"]))
        if r["fields"]:
            table = Table(title="fields")
            for col in ("field", "type", "default"):
                table.add_column(col)
            for f in r["fields"]:
                default = f["default"] if f["default"] == "(required)" else json.dumps(f["default"])
                table.add_row(f["name"], escape(f["type"]), escape(default))
            console.print(table)


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("describe")(describe)
