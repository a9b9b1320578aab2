"""`mocha plugins` lists what each plugin registers; `--kind layers` the layer names with their
fields and defaults; `mocha describe NAME`; tables are not cut when piped; `mocha dot`
without `-o` says where it wrote."""

from __future__ import annotations

import json

from mocha.cli._console import PIPED_WIDTH, make_console


def test_plugins_list_the_registered_names(app, runner):
    rows = {r["name"]: r for r in json.loads(runner.invoke(app, ["plugins", "--json"]).stdout)}
    assert rows["layers.inner_product"]["registers"] == {"layers": ["InnerProductLayer"]}
    assert rows["coffee.snapshot"]["registers"] == {"coffee": ["Snapshot"]}
    assert "kernels" in rows["backends.generic"]["registers"]
    table = runner.invoke(app, ["plugins"]).stdout
    line = next(x for x in table.splitlines() if "layers.inner_product" in x)
    assert "InnerProductLayer" in line  # the whole name, not cut ("InnerProdu…")


def test_plugins_kind_layers_gives_fields_and_defaults(app, runner):
    result = runner.invoke(app, ["plugins", "--kind", "layers", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    ip = rows["InnerProductLayer"]
    assert ip["kind"] == "layers" and ip["plugin"] == "layers.inner_product"
    fields = {f["name"]: f["default"] for f in ip["fields"]}
    assert fields["output_dim"] == "(required)" and fields["weight_lr"] == 1.0
    assert fields["bias_lr"] == 2.0 and fields["neuron"] == "Identity()"
    assert {f["name"]: f["default"] for f in rows["MemoryDataLayer"]["fields"]}["shuffle"] is False
    table = runner.invoke(app, ["plugins", "--kind", "layers"]).stdout
    assert "InnerProductLayer" in table and "bias_lr=2.0" in table
    solvers = json.loads(runner.invoke(app, ["plugins", "--kind", "solvers", "--json"]).stdout)
    assert {"SGD", "Adam"} <= {r["name"] for r in solvers}


def test_describe_one_name(app, runner):
    result = runner.invoke(app, ["describe", "InnerProductLayer"])
    assert result.exit_code == 0, result.output
    assert "Fully connected layer" in result.stdout and "output_dim" in result.stdout
    info = json.loads(runner.invoke(app, ["describe", "InnerProductLayer", "--json"]).stdout)
    assert info["kind"] == "layers" and "Fully connected" in info["doc"]
    result = runner.invoke(app, ["describe", "InnerProdutLayer"])
    assert result.exit_code == 2 and "did you mean InnerProductLayer" in result.stderr


def test_tables_are_not_cut_when_piped(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert make_console().width == PIPED_WIDTH  # pytest's stdout is not a terminal
    monkeypatch.setenv("COLUMNS", "120")
    assert make_console().width == 120


def test_dot_without_output_says_where(app, runner, digits_toml, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["dot", str(digits_toml)])
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'net.dot'} (no -o given" in result.stdout
    assert (tmp_path / "net.dot").exists()
