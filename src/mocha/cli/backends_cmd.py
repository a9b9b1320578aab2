"""`mocha backends`: the registered backends, whether each is usable here and why not."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from mocha.core.hookspecs import hookimpl


def backend_rows() -> list[dict[str, Any]]:
    """One row per registered backend, plus which one `default`/`cpu`/`gpu` would pick."""
    from mocha.core.registry import get_registry

    rows = []
    for entry in get_registry().entries("backends"):
        cls = entry.obj
        try:
            reason = cls.why_unavailable()
        except Exception as exc:  # a broken availability check is itself the reason
            reason = f"{type(exc).__name__}: {exc}"
        rows.append({
            "name": entry.name, "class": cls.__name__, "device": getattr(cls, "device", "cpu"),
            "priority": getattr(cls, "priority", 0), "available": reason is None,
            "reason": reason or "", "distribution": entry.distribution,
        })
    for device in ("cpu", "gpu"):
        usable = [r for r in rows if r["device"] == device and r["available"]]
        best = max(usable, key=lambda r: r["priority"]) if usable else None
        for r in rows:
            r.setdefault("selected_as", [])
            if best is r:
                r["selected_as"].append(device)
    gpu = [r for r in rows if "gpu" in r["selected_as"]]
    default = gpu[0] if gpu else next((r for r in rows if "cpu" in r["selected_as"]), None)
    if default is not None:
        default["selected_as"].append("default")
    return rows


def backends(
    *, as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False
) -> None:
    """List the backends: available or not (and why), and which one `default` picks."""
    rows = backend_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Mocha backends")
    for col in ("name", "device", "available", "chosen for", "distribution"):
        table.add_column(col)
    for r in rows:
        avail = "[green]yes[/]" if r["available"] else f"[red]no[/]: {escape(r['reason'])}"
        table.add_row(r["name"], r["device"], avail, ", ".join(r["selected_as"]),
                      r["distribution"])
    Console().print(table)


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("backends")(backends)
