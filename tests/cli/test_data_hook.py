"""`mocha data <name>`: the data sets are plugins (hook `mocha_register_datasets`); one that
another distribution registers gets a command with --out and --mirror."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mocha import hookimpl
from mocha.cli import data_cmd
from mocha.core import registry as registry_module
from mocha.core.plugins import make_plugin_manager
from mocha.core.registry import build_registry

CALLS: list[dict] = []


def toy(out_dir, mirror=None, progress=None, log=print):
    """Toy: a made-up data set for this test."""
    CALLS.append({"out": Path(out_dir), "mirror": mirror})
    log("toy: verified")
    return {"train": Path(out_dir) / "train.txt", "test": Path(out_dir) / "test.txt"}


@pytest.fixture
def data_app(monkeypatch):
    module = types.ModuleType("datasets_test")
    module.mocha_register_datasets = hookimpl(lambda register: register(toy, name="toy"))
    registry = build_registry(make_plugin_manager(extra_plugins=[("datasets_test", module)]))
    monkeypatch.setattr(registry_module, "get_registry", lambda: registry)
    CALLS.clear()
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    data_cmd.mocha_register_commands(app=app)
    return app


def test_a_registered_data_set_gets_a_command(data_app, tmp_path):
    help_text = CliRunner().invoke(data_app, ["data", "--help"]).output
    assert "toy" in help_text and "mnist" in help_text and "cifar10" in help_text
    result = CliRunner().invoke(
        data_app, ["data", "toy", "--out", str(tmp_path), "--mirror", "http://example.org/toy"]
    )
    assert result.exit_code == 0, result.output
    assert CALLS == [{"out": tmp_path, "mirror": "http://example.org/toy"}]
    assert f"toy ready in {tmp_path}" in result.stdout
    assert "train.txt" in result.stdout


def test_an_unknown_data_set_is_refused(data_app, tmp_path):
    result = CliRunner().invoke(data_app, ["data", "toys", "--out", str(tmp_path)])
    assert result.exit_code != 0 and CALLS == []
