"""The root `mocha` command: `--version`, then every command registered by a plugin.

Each command lives in its own module (`mocha.cli.<name>_cmd`) that implements
`mocha_register_commands(app)` and is listed as an entry point `"commands.<name>_cmd"`, so a
third-party distribution adds a sub-command exactly the way the built-ins are added.
"""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperGroup

import mocha

BAD_INPUT = 2  # exit status for a bad experiment file or bad arguments (like usage errors)


def _version_callback(value: bool) -> None:
    if not value:
        return
    from mocha.core.plugins import get_plugin_manager

    typer.echo(f"mocha-dl {mocha.__version__}")
    dists: dict[str, set[str]] = {}
    for info in get_plugin_manager().infos.values():
        dists.setdefault(f"{info.distribution} {info.version}".strip(), set()).add(info.kind)
    for dist in sorted(dists):
        typer.echo(f"  plugins from {dist}: {', '.join(sorted(dists[dist]))}")
    raise typer.Exit()


class _AlphabeticalGroup(TyperGroup):
    """Lists commands and command groups (such as `data`) together, by name."""

    def list_commands(self, ctx: object) -> list[str]:
        return sorted(self.commands)


def make_app() -> typer.Typer:
    """A fresh root app with every plugin command registered."""
    from mocha.core.plugins import get_plugin_manager

    app = typer.Typer(
        name="mocha",
        cls=_AlphabeticalGroup,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
        help="Mocha for Python: train and inspect networks described in experiment files.",
    )

    @app.callback()
    def root(
        version: Annotated[
            bool,
            typer.Option("--version", callback=_version_callback, is_eager=True,
                         help="Show the version and the plugin distributions, then exit."),
        ] = False,
    ) -> None:
        """Mocha for Python: train and inspect networks described in experiment files."""

    pm = get_plugin_manager()
    pm.load_commands()  # left out of the manager until the command line asks
    pm.hook.mocha_register_commands(app=app)
    app.registered_commands.sort(key=lambda c: c.name or c.callback.__name__)
    return app


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print `Error: message` on stderr and return the `typer.Exit` to raise."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[bold red]Error:[/] {escape(message)}"
    )
    return typer.Exit(code)


def main() -> None:
    """Console-script entry point (`mocha = "mocha.cli.app:main"`)."""
    make_app()()


if __name__ == "__main__":  # pragma: no cover
    main()
