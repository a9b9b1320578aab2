"""The root `mocha` command: `--version`, then every command registered by a plugin.

Each command lives in its own module (`mocha.cli.<name>_cmd`) that implements
`mocha_register_commands(app)` and is listed as an entry point `"commands.<name>_cmd"`, so a
third-party distribution adds a sub-command exactly the way the built-ins are added.
"""

from __future__ import annotations

import warnings
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

import mocha
from mocha.core.errors import MochaError

BAD_INPUT = 2  # exit status for a bad experiment file or bad arguments (like usage errors)


def diagnostic_plugin_manager() -> Any:
    """The process-wide plugin manager, or, when it cannot be built (MOCHA_STRICT_PLUGINS and
    a broken plugin), a lenient one that reports the failures as "failed" rows: `mocha
    plugins` and `mocha --version` always work. Each built-in's registration is also tried,
    so a third-party name conflict shows up as a "failed" row."""
    from mocha.core.errors import PluginError
    from mocha.core.plugins import get_plugin_manager, make_plugin_manager
    from mocha.core.registry import build_registry, get_registry

    try:
        pm = get_plugin_manager()
        get_registry()
        return pm
    except PluginError:
        pm = make_plugin_manager(lenient=True)
        pm.load_commands()
        try:
            build_registry(pm)
        except PluginError:  # a built-in fails to register: the row was not marked
            pass
        return pm


def _version_callback(value: bool) -> None:
    if not value:
        return
    typer.echo(f"mocha-dl {mocha.__version__}")
    dists: dict[str, set[str]] = {}
    for info in diagnostic_plugin_manager().infos.values():
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
    from mocha.core.plugins import get_plugin_manager, strict_plugins

    app = typer.Typer(
        name="mocha",
        cls=_AlphabeticalGroup,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
        help="Mocha for Python: train and inspect networks described in experiment files.",
    )

    broken: list[Any] = []  # strict mode: the command plugins that failed

    @app.callback()
    def root(
        ctx: typer.Context,
        version: Annotated[
            bool,
            typer.Option(
                "--version",
                callback=_version_callback,
                is_eager=True,
                help="Show the version and the plugin distributions, then exit.",
            ),
        ] = False,
        verbose: Annotated[
            int, typer.Option("--verbose", "-v", count=True, help="More log messages (debug).")
        ] = 0,
        quiet: Annotated[
            int,
            typer.Option(
                "--quiet", "-q", count=True, help="Fewer log messages (warnings and errors)."
            ),
        ] = 0,
    ) -> None:
        """Mocha for Python: train and inspect networks described in experiment files."""
        from mocha.cli._logging import configure_logging

        configure_logging(verbose, quiet)
        if broken and ctx.invoked_subcommand != "plugins":  # `mocha plugins` shows them
            info = broken[0]
            raise fail(
                f"MOCHA_STRICT_PLUGINS is set and plugin {info.name!r} from "
                f"{info.distribution} failed: {info.error} (see `mocha plugins`)"
            )

    try:
        pm = get_plugin_manager()
        pm.load_commands()  # left out of the manager until the command line asks
    except MochaError:  # strict mode and a broken plugin: each command reports it when used
        from mocha.core.plugins import make_plugin_manager

        pm = make_plugin_manager(lenient=True)
        pm.load_commands()
    register_commands(pm, app)
    if strict_plugins():
        broken += [i for i in pm.infos.values() if i.kind == "commands" and i.status == "failed"]
    app.registered_commands.sort(key=lambda c: c.name or c.callback.__name__)
    return app


def _command_names(app: typer.Typer) -> list[str]:
    """The names of the commands, then of the command groups, in registration order."""
    names = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]
    return names + [g.name or "" for g in app.registered_groups]


def register_commands(pm: Any, app: typer.Typer) -> None:
    """Call each plugin's `mocha_register_commands`, built-ins first. A third-party hook that
    raises (`SystemExit` too) or adds a command whose name is taken is dropped with a
    warning and a "failed" row naming its distribution; the built-in commands always win."""
    from mocha.core.plugins import CONTAINED

    impls = sorted(
        pm.hook.mocha_register_commands.get_hookimpls(),
        key=lambda impl: pm.is_third_party(impl.plugin_name),
    )
    for impl in impls:
        if not pm.is_third_party(impl.plugin_name):
            impl.function(app=app)
            continue
        before = (list(app.registered_commands), list(app.registered_groups))
        taken = set(_command_names(app))
        try:
            impl.function(app=app)
            names = _command_names(app)
            added = (
                names[len(before[0]) : len(app.registered_commands)]
                + names[len(app.registered_commands) + len(before[1]) :]
            )
            clash = [n for n in added if n in taken]
            if clash:
                raise MochaError(
                    f"adds command {clash[0]!r}, which is taken (built-in "
                    f"commands always win, then the first plugin)"
                )
        except CONTAINED as exc:
            app.registered_commands[:], app.registered_groups[:] = before
            message = str(exc) if isinstance(exc, MochaError) else f"{type(exc).__name__}: {exc}"
            dist = pm.distribution_of(impl.plugin_name)
            warnings.warn(
                f"mocha plugin {impl.plugin_name!r} from {dist} failed to add its "
                f"commands and is skipped: {message}",
                RuntimeWarning,
                stacklevel=2,
            )
            pm.mark_failed(impl.plugin_name, message)


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
