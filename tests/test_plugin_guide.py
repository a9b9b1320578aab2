"""The plugin author's guide (docs/plugins.md) is true: its code blocks are copied from the
example package `examples/mocha-example-prelu-layer`, and that package, pip-installed into a
fresh folder (a hand-made wheel: no build backend), is listed by `mocha plugins`, passes its
own tests and trains the guide's experiment with `mocha run`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from wheel_kit import build_wheel, env_with, install_wheel, mocha_cli

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "examples" / "mocha-example-prelu-layer"
BLOCK = re.compile(r"<!-- from: (\S+) -->\n```\w+\n(.*?)```", re.S)


def test_every_code_block_of_the_guide_is_in_the_example_package():
    blocks = BLOCK.findall(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) >= 10
    for path, text in blocks:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert text in source, f"docs/plugins.md has a block that is not in {path}:\n{text}"
    files = {path for path, _ in blocks}
    assert {p.relative_to(ROOT).as_posix() for p in EXAMPLE.rglob("*.py")} <= files


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The example package, installed the way pip installs a wheel, in a fresh folder."""
    tmp = tmp_path_factory.mktemp("guide")
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    files = {
        p.relative_to(EXAMPLE / "src").as_posix(): p.read_text(encoding="utf-8")
        for p in (EXAMPLE / "src").rglob("*.py")
    }
    wheel = build_wheel(tmp, meta["name"], meta["version"], files, meta["entry-points"]["mocha"])
    install_wheel(wheel, tmp / "site")
    return tmp / "site"


def test_mocha_plugins_lists_the_layer(site):
    result = mocha_cli("plugins", "--json", env=env_with(site), cwd=site)
    assert result.returncode == 0, result.stderr
    [row] = [r for r in json.loads(result.stdout) if r["name"] == "layers.prelu"]
    assert row["status"] == "loaded"
    assert row["registers"] == {"layers": ["PReLULayer"], "interchange": ["onnx.export.PReLULayer"]}
    assert row["distribution"] == "mocha-example-prelu-layer"


def test_the_example_package_passes_its_own_tests(site):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=EXAMPLE,
        env=env_with(site, MOCHA_STRICT_PLUGINS="1"),
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_mocha_run_trains_the_guide_experiment(site, tmp_path):
    pytest.importorskip("sklearn", reason="the experiment reads sklearn's digits")
    experiment = tmp_path / "prelu.toml"
    text = (
        (EXAMPLE / "prelu.toml")
        .read_text(encoding="utf-8")
        .replace("max_iter = 200", "max_iter = 30")
    )
    experiment.write_text(text.replace("every_n_iter = 200", "every_n_iter = 30"))
    env = env_with(site, MOCHA_STRICT_PLUGINS="1")
    result = mocha_cli("run", str(experiment), "--no-progress", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert re.search(r"accuracy", output, re.I), output[-3000:]
    described = mocha_cli("describe", "PReLULayer", env=env, cwd=tmp_path)
    assert described.returncode == 0 and "slope_lr" in described.stdout
