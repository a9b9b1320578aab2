"""`mocha plugins`, `backends`, `summary`, `dot`, `plot` and `--version`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mocha.cli.plot_cmd import low_pass
from mocha.core.io.statistics import save_statistics


def test_version_lists_plugin_distributions(app, runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("mocha-dl ")
    assert "plugins from mocha-dl" in result.stdout


def test_plugins_json(app, runner):
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    by_name = {r["name"]: r for r in rows}
    assert by_name["commands.run_cmd"]["status"] == "loaded"
    assert by_name["layers.inner_product"]["distribution"] == "mocha-dl"
    assert {"name", "kind", "distribution", "version", "status", "error"} <= set(rows[0])


def test_plugins_kind_filter_and_table(app, runner):
    result = runner.invoke(app, ["plugins", "--kind", "commands", "--json"])
    kinds = {r["kind"] for r in json.loads(result.stdout)}
    assert kinds == {"commands"}
    result = runner.invoke(app, ["plugins"])
    assert result.exit_code == 0 and "layers.inner_product" in result.stdout
    result = runner.invoke(app, ["plugins", "--kind", "layer"])
    assert result.exit_code == 2 and "kinds: " in result.stderr and "layers" in result.stderr


def test_backends_json(app, runner):
    result = runner.invoke(app, ["backends", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["numpy"]["available"] is True and rows["numpy"]["reason"] == ""
    assert any("default" in r["selected_as"] for r in rows.values())
    for r in rows.values():
        assert r["available"] or r["reason"]  # an unavailable backend says why


def test_backends_table_shows_reasons_verbatim(app, runner, monkeypatch):
    from mocha.plugins.backends.cupy_backend import CupyBackend

    monkeypatch.setattr(
        CupyBackend,
        "why_unavailable",
        classmethod(lambda cls: "needs [gpu] extra and [bold]CUDA[/bold]"),
    )
    result = runner.invoke(app, ["backends"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "needs [gpu] extra and [bold]CUDA[/bold]" in result.stdout


def test_summary_table_and_json(app, runner, digits_toml):
    result = runner.invoke(app, ["summary", str(digits_toml), "--json"])
    assert result.exit_code == 0, result.output
    nets = json.loads(result.stdout)
    train = nets["digits-train"]
    assert [r["name"] for r in train] == ["train-data", "ip1", "ip2", "loss"]
    ip1 = train[1]
    assert ip1["type"] == "InnerProductLayer" and ip1["top_shapes"] == ["(64, 100)"]
    assert ip1["parameters"] == 64 * 100 + 100
    assert [r["name"] for r in nets["digits-test"]][-1] == "accuracy"
    result = runner.invoke(app, ["summary", str(digits_toml)])
    assert result.exit_code == 0
    assert "ip1" in result.stdout and "7,510 parameters" in result.stdout


def test_dot_writes_graphviz_source(app, runner, digits_toml, tmp_path):
    out = tmp_path / "net.dot"
    result = runner.invoke(app, ["dot", str(digits_toml), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith('digraph "digits-train"') and "InnerProduct\\nip1" in text


@pytest.mark.skipif(shutil.which("dot") is not None, reason="GraphViz is installed here")
def test_dot_png_without_graphviz_is_a_clear_error(app, runner, digits_toml, tmp_path):
    result = runner.invoke(app, ["dot", str(digits_toml), "-o", str(tmp_path / "net.png")])
    assert result.exit_code == 2
    assert "GraphViz" in result.stderr and "Traceback" not in result.output


def test_plot_writes_a_png(app, runner, tmp_path):
    pytest.importorskip("matplotlib")
    stats = tmp_path / "statistics.h5"
    iters = range(0, 1000, 10)
    save_statistics(
        str(stats),
        {
            "obj_val": {i: 2.3 * np.exp(-i / 300) + 0.05 * np.sin(i) for i in iters},
            "learning_rate": {i: 0.01 for i in iters},
            "accuracy-accuracy": {0: 0.1, 500: 0.9, 990: 0.95},
        },
    )
    out = tmp_path / "curve.png"
    result = runner.invoke(app, ["plot", str(stats), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 1000


def test_plot_errors(app, runner, tmp_path):
    result = runner.invoke(app, ["plot", str(tmp_path / "none.h5")])
    assert result.exit_code == 2 and "does not exist" in result.stderr
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    result = runner.invoke(app, ["plot", str(bad), "-o", str(tmp_path / "c.png")])
    assert result.exit_code == 2 and "cannot read statistics file" in result.stderr
    stats = tmp_path / "s.h5"
    save_statistics(str(stats), {"learning_rate": {0: 0.1}})
    result = runner.invoke(app, ["plot", str(stats), "-o", str(tmp_path / "c.png")])
    assert result.exit_code == 2 and "no 'obj_val' series" in result.stderr


def test_low_pass_matches_the_manual_filter():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    # window 2: mean of x[max(0, i-2) : i+1]
    np.testing.assert_allclose(low_pass(x, 2), [1.0, 1.5, 2.0, 3.0, 4.0, 5.0])


def test_plugins_shows_failed_plugins(app, runner, monkeypatch):
    import types

    from mocha.core import plugins

    infos = {
        "layers.good": plugins.PluginInfo("layers.good", "pkg.good", "pkg", "1.0", "loaded"),
        "layers.bad": plugins.PluginInfo(
            "layers.bad", "pkg.bad", "pkg", "1.0", "failed", "ImportError: no module named 'x'"
        ),
    }
    monkeypatch.setattr(plugins, "get_plugin_manager", lambda: types.SimpleNamespace(infos=infos))
    rows = json.loads(runner.invoke(app, ["plugins", "--json"]).stdout)
    bad = next(r for r in rows if r["name"] == "layers.bad")
    assert bad["status"] == "failed" and "ImportError" in bad["error"]
    result = runner.invoke(app, ["plugins"])
    assert "failed" in result.stdout and "ImportError" in result.stdout


def test_dot_renders_through_the_graphviz_program(app, runner, digits_toml, tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "dot"  # a stand-in for GraphViz: copies its input to -o
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\n[ "$1" = "-Tsvg" ] || exit 3\ncat > "$3"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    out = tmp_path / "net.svg"
    result = runner.invoke(app, ["dot", str(digits_toml), "-o", str(out), "--net", "test"])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith('digraph "digits-test"')
    result = runner.invoke(app, ["dot", str(digits_toml), "-o", str(tmp_path / "net.png")])
    assert result.exit_code == 1 and "GraphViz `dot` failed" in result.stderr


def test_help_lists_commands_and_groups_alphabetically(app, runner):
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    names = [
        line.split()[1]
        for line in result.output.splitlines()
        if line.startswith("│ ") and len(line.split()) > 2 and line.split()[1].isalpha()
    ]
    assert {"data", "run", "plot"} <= set(names)
    assert names == sorted(names)
