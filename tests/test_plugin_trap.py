"""No plugin traps (issue 23): a plugin module may read registered names at its top
(`from mocha import ConstantInitializer`) and still registers, on the command line exactly
as in Python, whatever builds the plugin manager first; a plugin that loads but registers
nothing is an "empty" row in `mocha plugins`, and an error under MOCHA_STRICT_PLUGINS=1.

The distribution is pip-installed into a fresh folder (a hand-made wheel, no build backend)
and every check runs in a fresh interpreter with that folder on PYTHONPATH.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from wheel_kit import build_wheel, env_with, install_wheel, mocha_cli

h5py = pytest.importorskip("h5py")

PROBE = """
from mocha import ConstantInitializer, ElementwiseState, Layer, config_field, hookimpl, name_field

DEFAULT = ConstantInitializer(value=0.5)  # a registered name, read at import


class ShiftState(ElementwiseState):
    def forward(self, backend, inputs):
        for x, y in zip(inputs, self.blobs):
            y.data[...] = x.data + self.layer.shift

    def backward(self, backend, inputs, diffs):
        # y = x + shift: dy/dx = 1
        for top_diff, dx in zip(self.blobs_diff, diffs):
            if not dx.is_null:
                dx.data[...] = top_diff.data


class ShiftLayer(Layer, can_do_bp=True, bottoms=">=1", tops="same"):
    name: str = name_field("shift")
    shift: float = config_field(DEFAULT.value)
    state_cls = ShiftState


@hookimpl
def mocha_register_layers(register):
    register(ShiftLayer)
"""

FORGOTTEN = """
from mocha import IdentityLayer


class EchoLayer(IdentityLayer):  # and no mocha_register_layers hook: nothing registers it
    pass
"""

EXPERIMENT = """
name = "trap"

[backend]
name = "numpy"

[[layers]]
type = "HDF5DataLayer"
name = "data"
source = "{source}"
batch_size = 8

[[layers]]
type = "InnerProductLayer"
name = "ip"
output_dim = 3
bottoms = ["data"]
tops = ["ip"]

[[layers]]
type = "ShiftLayer"
name = "shift"
bottoms = ["ip"]
tops = ["shifted"]

[[layers]]
type = "SoftmaxLossLayer"
name = "loss"
bottoms = ["shifted", "label"]

[solver]
method = "SGD"
max_iter = 3
lr_policy = {{type = "Fixed", base_lr = 0.1}}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A fresh site folder holding `mocha-trap-probe`: `layers.shift` (reads
    ConstantInitializer at import) and `layers.forgotten` (a layer and no hook)."""
    tmp = tmp_path_factory.mktemp("trap")
    files = {"trap_probe/__init__.py": PROBE, "trap_probe/forgotten.py": FORGOTTEN}
    entry_points = {"layers.shift": "trap_probe", "layers.forgotten": "trap_probe.forgotten"}
    wheel = build_wheel(tmp, "mocha-trap-probe", "0.3", files, entry_points)
    install_wheel(wheel, tmp / "site")
    return tmp / "site"


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trap-exp")
    rng = np.random.default_rng(0)
    with h5py.File(tmp / "train.h5", "w") as f:
        f["data"] = rng.standard_normal((32, 4))
        f["label"] = rng.integers(0, 3, (32, 1)).astype(float)
    (tmp / "train.txt").write_text("train.h5\n")
    path = tmp / "trap.toml"
    path.write_text(EXPERIMENT.format(source=(tmp / "train.txt").as_posix()))
    return path


def _rows(site, **env):
    result = mocha_cli("plugins", "--json", env=env_with(site, **env), cwd=site)
    assert result.returncode == 0, result.stderr
    return {r["name"]: r for r in json.loads(result.stdout)}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_mocha_plugins_lists_what_each_registers(site):
    rows = _rows(site)
    assert rows["layers.shift"]["status"] == "loaded"
    assert rows["layers.shift"]["registers"] == {"layers": ["ShiftLayer"]}
    empty = rows["layers.forgotten"]
    assert empty["status"] == "empty" and empty["registers"] == {}
    assert (
        "registers nothing" in empty["error"] and "no mocha_register_<kind> hook" in empty["error"]
    )
    assert _rows(site, MOCHA_STRICT_PLUGINS="1")["layers.forgotten"]["status"] == "empty"


def test_mocha_run_and_describe_find_the_layer(site, experiment):
    env = env_with(site)
    described = mocha_cli("describe", "ShiftLayer", env=env, cwd=experiment.parent)
    assert described.returncode == 0, described.stderr
    assert "mocha-trap-probe" in described.stdout and "0.5" in described.stdout
    result = mocha_cli("run", str(experiment), "--no-progress", env=env, cwd=experiment.parent)
    assert result.returncode == 0, result.stderr
    assert "registers nothing" in result.stderr and "layers.forgotten" in result.stderr


def test_strict_mode_refuses_a_plugin_that_registers_nothing(site, experiment):
    env = env_with(site, MOCHA_STRICT_PLUGINS="1")
    result = mocha_cli("run", str(experiment), "--no-progress", env=env, cwd=experiment.parent)
    assert result.returncode == 2
    assert "layers.forgotten" in result.stderr and "registers nothing" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "first", ["get_plugin_manager()", "mocha.get_registry()", "import trap_probe", "None"]
)
def test_python_finds_it_whatever_is_built_first(site, first):
    code = f"""
        import warnings
        warnings.simplefilter("ignore", RuntimeWarning)
        import mocha
        from mocha.core.plugins import get_plugin_manager
        {first}
        layer = mocha.ShiftLayer(bottoms=["x"], tops=["y"])
        status = get_plugin_manager().infos["layers.shift"].status
        print(mocha.lookup("layers", "ShiftLayer").__module__, layer.shift, status)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env_with(site),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["trap_probe", "0.5", "loaded"]
