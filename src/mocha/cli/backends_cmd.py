"""`mocha backends`: the registered backends, whether each is usable here and why not, and
(`--kernels`) which implementation serves each kernel of the kernel table on each backend."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from mocha.core.backend import KERNEL_NAMES
from mocha.core.hookspecs import hookimpl


def kernel_implementations(backend_name: str) -> dict[str, dict[str, Any]]:
    """Kernel name -> the implementation serving it on backend `backend_name`: its `module`,
    the `plugin` (entry point) that registered it, its `distribution`, and whether it is the
    `generic` ("*") version. Kernels with no implementation for that backend are left out."""
    from mocha.core.registry import get_registry

    out = {}
    for name, impls in sorted(get_registry().kernels.items()):
        entry = impls.get(backend_name) or impls.get("*")
        if entry is not None:
            out[name] = {
                "module": getattr(entry.obj, "__module__", "?"),
                "plugin": entry.plugin,
                "distribution": entry.distribution,
                "generic": backend_name not in impls,
            }
    return out


def backend_rows() -> list[dict[str, Any]]:
    """One row per registered backend, plus which one `default`/`cpu`/`gpu` would pick and
    the implementation of each kernel on it (`kernels`, see `kernel_implementations`)."""
    from mocha.core.registry import get_registry

    rows = []
    for entry in get_registry().entries("backends"):
        cls = entry.obj
        try:
            reason = cls.why_unavailable()
        except Exception as exc:  # a broken availability check is itself the reason
            reason = f"{type(exc).__name__}: {exc}"
        rows.append(
            {
                "name": entry.name,
                "class": cls.__name__,
                "device": getattr(cls, "device", "cpu"),
                "priority": getattr(cls, "priority", 0),
                "available": reason is None,
                "reason": reason or "",
                "distribution": entry.distribution,
                "kernels": kernel_implementations(entry.name),
            }
        )
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


_BUILTIN = "mocha.plugins.backends."


def _short(module: str) -> str:
    return module.removeprefix(_BUILTIN)


def _kernel_table(rows: list[dict[str, Any]]) -> Any:
    """A rich table: one row per kernel, one column per backend, the serving module in each
    cell (the built-in ones relative to `mocha.plugins.backends`; generic ones dimmed)."""
    from rich.table import Table

    table = Table(title=f"Kernel implementations (modules under {_BUILTIN.rstrip('.')})")
    table.add_column("kernel")
    for r in rows:
        table.add_column(r["name"])
    known = {k for r in rows for k in r["kernels"]}
    names = [n for n in KERNEL_NAMES if n in known]  # the table's order: grouped by topic
    for name in names:
        cells = []
        for r in rows:
            impl = r["kernels"].get(name)
            if impl is None:
                cells.append("[red]none[/]")
            else:
                text = escape(_short(impl["module"]))
                cells.append(f"[dim]{text}[/]" if impl["generic"] else f"[bold]{text}[/]")
        table.add_row(name, *cells)
    return table


def backends(
    *,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    kernels: Annotated[
        bool,
        typer.Option(
            "--kernels",
            help="Show which implementation (module) serves each kernel on each backend.",
        ),
    ] = False,
) -> None:
    """List the backends: available or not (and why), and which one `default` picks."""
    rows = backend_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    from mocha.cli._console import make_console

    if kernels:
        make_console().print(_kernel_table(rows))
        return

    table = Table(title="Mocha backends")
    for col in ("name", "device", "available", "chosen for", "distribution"):
        table.add_column(col)
    for r in rows:
        avail = "[green]yes[/]" if r["available"] else f"[red]no[/]: {escape(r['reason'])}"
        table.add_row(r["name"], r["device"], avail, ", ".join(r["selected_as"]), r["distribution"])
    make_console().print(table)


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("backends")(backends)
