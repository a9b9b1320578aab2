"""`mocha` with misbehaving third-party plugins installed (issue 19): every command keeps
working, `mocha plugins` shows the culprit as a "failed" row with the reason and its
distribution, and `mocha --version` always answers."""

import json

import pytest

from mocha.cli.app import make_app

# The warnings themselves are checked in tests/core/test_plugin_conflicts.py.
pytestmark = pytest.mark.filterwarnings("ignore:mocha plugin:RuntimeWarning")

IMPOSTOR = """
from dataclasses import dataclass
from mocha import Layer, LayerState, hookimpl, name_field

class _State(LayerState):
    def forward(self, backend, inputs):
        raise RuntimeError("the impostor ran")

@dataclass(frozen=True, kw_only=True, eq=False)
class ImpostorLayer(Layer):
    name: str = name_field("impostor")
    state_cls = _State

@hookimpl
def mocha_register_layers(register):
    register(ImpostorLayer, name="InnerProductLayer", replace=True)
"""

RAISING_COMMAND = """
from mocha import hookimpl

@hookimpl
def mocha_register_commands(app):
    raise SystemExit("no commands today")
"""

RUN_COMMAND = """
import typer
from mocha import hookimpl

@hookimpl
def mocha_register_commands(app):
    app.command("run")(lambda: typer.echo("hijacked"))
"""


def _rows(runner):
    result = runner.invoke(make_app(), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _failed(rows, dist):
    return [r for r in rows if r["distribution"] == dist and r["status"] == "failed"]


@pytest.mark.parametrize("strict", ["", "1"])
def test_entry_point_key_of_a_builtin(
    fake_distribution, runner, write_experiment, small_toml, monkeypatch, strict
):
    fake_distribution(
        "temp-clash", {"layers.inner_product": "temp_clash_plugin"}, {"temp_clash_plugin": IMPOSTOR}
    )
    monkeypatch.setenv("MOCHA_STRICT_PLUGINS", strict)
    [row] = _failed(_rows(runner), "temp-clash")
    assert row["name"] == "layers.inner_product" and "already used by mocha-dl" in row["error"]
    version = runner.invoke(make_app(), ["--version"])
    assert version.exit_code == 0 and "mocha-dl" in version.stdout
    result = runner.invoke(
        make_app(), ["run", str(write_experiment(small_toml)), "--max-iter", "1", "--no-progress"]
    )
    if strict:  # a conflict is an error in strict mode, reported in one message
        assert result.exit_code == 2
        assert "temp-clash" in result.stderr and "Traceback" not in result.output
    else:
        assert result.exit_code == 0, result.output


def test_layer_named_like_a_builtin_does_not_break_experiments(
    fake_distribution, runner, write_experiment, small_toml
):
    fake_distribution(
        "temp-impostor",
        {"layers.temp_impostor": "temp_impostor_plugin"},
        {"temp_impostor_plugin": IMPOSTOR},
    )
    [row] = _failed(_rows(runner), "temp-impostor")
    assert "'InnerProductLayer'" in row["error"] and "built-ins always win" in row["error"]
    result = runner.invoke(
        make_app(), ["run", str(write_experiment(small_toml)), "--max-iter", "1", "--no-progress"]
    )
    assert result.exit_code == 0, result.output


def test_command_hook_raising_system_exit_is_contained(fake_distribution, runner):
    fake_distribution(
        "temp-cmd", {"commands.temp_cmd": "temp_cmd_plugin"}, {"temp_cmd_plugin": RAISING_COMMAND}
    )
    with pytest.warns(
        RuntimeWarning,
        match="'commands.temp_cmd' from temp-cmd failed to add "
        "its commands.*SystemExit: no commands today",
    ):
        app = make_app()
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "run" in result.stdout
    [row] = _failed(_rows(runner), "temp-cmd")
    assert "no commands today" in row["error"]


def test_builtin_commands_win(fake_distribution, runner, write_experiment, small_toml):
    fake_distribution(
        "temp-cmd", {"commands.temp_cmd": "temp_cmd_plugin"}, {"temp_cmd_plugin": RUN_COMMAND}
    )
    with pytest.warns(RuntimeWarning, match="adds command 'run', which is taken"):
        app = make_app()
    result = runner.invoke(
        app, ["run", str(write_experiment(small_toml)), "--max-iter", "1", "--no-progress"]
    )
    assert result.exit_code == 0 and "hijacked" not in result.output


def test_strict_mode_with_a_broken_plugin(
    fake_distribution, runner, monkeypatch, write_experiment, small_toml
):
    fake_distribution(
        "temp-broken",
        {"layers.temp_broken": "temp_broken_plugin"},
        {"temp_broken_plugin": "raise SystemExit('broken at import')\n"},
    )
    monkeypatch.setenv("MOCHA_STRICT_PLUGINS", "1")
    [row] = _failed(_rows(runner), "temp-broken")
    assert "SystemExit: broken at import" in row["error"]
    assert runner.invoke(make_app(), ["--version"]).exit_code == 0
    result = runner.invoke(make_app(), ["run", str(write_experiment(small_toml))])
    assert result.exit_code == 2
    assert "temp-broken" in result.stderr and "broken at import" in result.stderr


@pytest.mark.parametrize("source", [RAISING_COMMAND, "raise ImportError('no such thing')\n"])
def test_strict_mode_with_a_broken_command_plugin(
    fake_distribution, runner, monkeypatch, write_experiment, small_toml, source
):
    """A command plugin that fails to import or to add its commands: exit 2 naming it under
    MOCHA_STRICT_PLUGINS=1 (`mocha plugins` and `--version` still answer); a warning without."""
    fake_distribution(
        "temp-badcmd",
        {"commands.temp_badcmd": "temp_badcmd_plugin"},
        {"temp_badcmd_plugin": source},
    )
    path = str(write_experiment(small_toml))
    with pytest.warns(RuntimeWarning, match="temp-badcmd"):
        app = make_app()
    assert runner.invoke(app, ["run", path, "--max-iter", "1", "--no-progress"]).exit_code == 0
    monkeypatch.setenv("MOCHA_STRICT_PLUGINS", "1")
    result = runner.invoke(make_app(), ["run", path, "--max-iter", "1", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "commands.temp_badcmd" in result.stderr and "temp-badcmd" in result.stderr
    assert "Traceback" not in result.output
    assert _failed(_rows(runner), "temp-badcmd")
    assert runner.invoke(make_app(), ["--version"]).exit_code == 0
