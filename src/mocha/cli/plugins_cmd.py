"""`mocha plugins`: every plugin entry point, what it registers (the names experiment files
use, e.g. `InnerProductLayer`), where it comes from and whether it loaded.

`mocha plugins --kind layers` (or solvers, coffee, neurons, ... any kind of registered name)
lists the registered names of that kind with their fields and defaults instead; `mocha
describe NAME` shows one in full.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mocha.core.hookspecs import hookimpl


def _registry() -> Any:
    from mocha.core.errors import MochaError
    from mocha.core.registry import get_registry

    try:
        return get_registry()
    except MochaError:  # strict mode and a broken plugin: the rows say why
        return None


def _fields_text(fields: list[dict[str, Any]]) -> str:
    return ", ".join(
        f["name"] if f["default"] == "(required)" else f"{f['name']}={json.dumps(f['default'])}"
        for f in fields
    )


def _names_of_kind(kind: str, as_json: bool) -> None:
    from mocha.cli._console import make_console
    from mocha.cli._describe import describe_entry

    registry = _registry()
    rows = [describe_entry(kind, e) for e in registry.entries(kind)] if registry else []
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Registered {kind} ({len(rows)})")
    for col in ("name", "fields (defaults)", "plugin", "distribution"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], escape(_fields_text(r["fields"])), r["plugin"], r["distribution"])
    make_console().print(table)


def plugins(
    *,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            "-k",
            help="Only this kind: a plugin kind (commands, ...) lists its plugins; "
            "a kind of registered names (layers, solvers, coffee, neurons, ...) lists the names "
            "with their fields and defaults.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the plugins: name, what each registers, kind, distribution, version and status
    (failed ones too).

    A failed row gives the reason: an import error, a hook that raised, or a name a
    built-in already has; an "empty" row is a plugin that loaded but registered nothing.
    `mocha describe NAME` shows one registered name in full."""
    from mocha.cli._describe import registered_by
    from mocha.cli.app import diagnostic_plugin_manager
    from mocha.core.registry import KIND_ALIASES, KINDS

    infos = sorted(
        diagnostic_plugin_manager().infos.values(), key=lambda i: (i.kind, i.name, i.distribution)
    )
    registry = _registry()
    if kind and KIND_ALIASES.get(kind, kind) in KINDS and registry is not None:
        _names_of_kind(KIND_ALIASES.get(kind, kind), as_json)
        return
    if kind:
        kinds = sorted({i.kind for i in infos} | set(KINDS))
        if kind not in kinds:
            from mocha.cli.app import fail

            raise fail(f"no plugins of kind {kind!r}; kinds: {', '.join(kinds)}")
        infos = [i for i in infos if i.kind == kind]
    registers = registered_by(registry) if registry is not None else {}
    rows = [
        {
            "name": i.name,
            "kind": i.kind,
            "module": i.module,
            "distribution": i.distribution,
            "version": i.version,
            "status": i.status,
            "error": i.error,
            "registers": registers.get(i.name, {}),
        }
        for i in infos
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    from mocha.cli._console import make_console

    table = Table(title="Mocha plugins")
    for col in ("name", "registers", "kind", "distribution", "version", "status"):
        table.add_column(col)
    style = {"loaded": "green", "failed": "bold red", "disabled": "yellow", "empty": "bold red"}
    for r in rows:
        status = f"[{style.get(r['status'], '')}]{r['status']}[/]"
        if r["error"]:
            status += f": {escape(r['error'])}"
        names = [n for k, ns in r["registers"].items() if k != "kernels" for n in ns]
        kernels = r["registers"].get("kernels", [])
        text = ", ".join(names) + (
            f"{', ' if names else ''}{len(kernels)} kernel(s)" if kernels else ""
        )
        table.add_row(r["name"], escape(text), r["kind"], r["distribution"], r["version"], status)
    make_console().print(table)


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("plugins")(plugins)
