"""The third-party example package `examples/mocha-example-layer` works as a real plugin:
installed with pip, its `SwishLayer` is found through its entry point, listed with its
distribution, and trains in a net.

The package is installed from a wheel into a fresh folder put first on PYTHONPATH
(`tests/wheel_kit.py`: offline, no build backend), so the environment is left as it is and a
copy installed with pip is shadowed by the source under test. Every check runs in a fresh
interpreter, because this process has already built its plugin registry.
"""

import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

from wheel_kit import build_wheel, env_with, install_wheel

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "mocha-example-layer"
DIST = "mocha-example-layer"


def _python(env: dict[str, str], code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


@pytest.fixture(scope="module")
def example_installed(tmp_path_factory) -> dict[str, str]:
    """The environment of a process that has the example package installed (from a wheel, in
    a fresh folder first on PYTHONPATH: see tests/wheel_kit.py)."""
    tmp = tmp_path_factory.mktemp("swish")
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    files = {
        p.relative_to(EXAMPLE / "src").as_posix(): p.read_text(encoding="utf-8")
        for p in (EXAMPLE / "src").rglob("*.py")
    }
    wheel = build_wheel(tmp, meta["name"], meta["version"], files, meta["entry-points"]["mocha"])
    install_wheel(wheel, tmp / "site")
    return env_with(tmp / "site")


def test_discovered_through_its_entry_point(example_installed):
    result = _python(
        example_installed,
        """
        import json
        import mocha
        from mocha.core.plugins import get_plugin_manager

        layer_cls = mocha.lookup("layers", "SwishLayer")
        info = get_plugin_manager().infos["layers.swish"]
        entry = [e for e in mocha.get_registry().entries("layers") if e.name == "SwishLayer"][0]
        print(json.dumps({
            "attribute": mocha.SwishLayer is layer_cls,
            "module": layer_cls.__module__,
            "info": [info.distribution, info.version, info.status, info.module],
            "entry": [entry.plugin, entry.distribution],
        }))
    """,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out == {
        "attribute": True,
        "module": "mocha_swish",
        "info": [DIST, "0.1.0", "loaded", "mocha_swish"],
        "entry": ["layers.swish", DIST],
    }


def test_listed_by_the_command_line(example_installed):
    """`mocha plugins --json` lists the plugin (its module, distribution, version, status);
    `--kind layers` lists the name it registers, with the plugin and distribution."""
    result = _python(
        example_installed,
        """
        import json, sys
        from contextlib import redirect_stdout
        from io import StringIO
        from mocha.cli.app import main
        out = {}
        for key, argv in (("plugins", []), ("layers", ["--kind", "layers"])):
            sys.argv = ["mocha", "plugins", "--json", *argv]
            buf = StringIO()
            with redirect_stdout(buf):
                try:
                    main()
                except SystemExit as exc:
                    assert not exc.code, exc.code
            out[key] = json.loads(buf.getvalue())
        print(json.dumps(out))
    """,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    row = {row["name"]: row for row in out["plugins"]}["layers.swish"]
    assert (row["distribution"], row["version"], row["status"], row["module"]) == (
        DIST,
        "0.1.0",
        "loaded",
        "mocha_swish",
    )
    assert row["registers"]["layers"] == ["SwishLayer"]
    layer = {row["name"]: row for row in out["layers"]}["SwishLayer"]
    assert (layer["plugin"], layer["distribution"]) == ("layers.swish", DIST)


def test_disabled_by_environment(example_installed):
    result = subprocess.run(
        [sys.executable, "-c", "import mocha; print(mocha.get_registry().names('layers'))"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**example_installed, "MOCHA_DISABLE_PLUGINS": "layers.swish"},
    )
    assert result.returncode == 0, result.stderr
    assert "SwishLayer" not in result.stdout and "InnerProductLayer" in result.stdout


def test_trains_in_a_net(example_installed):
    result = _python(
        example_installed,
        """
        import json
        import numpy as np
        import mocha
        from mocha import (CoffeeBreak, InnerProductLayer, LRPolicy, MemoryDataLayer, MomPolicy,
                           Net, SGD, Solver, SoftmaxLossLayer, SwishLayer, add_coffee_break,
                           make_solver_parameters, solve)

        rng = np.random.default_rng(0)
        x = rng.standard_normal((128, 4))
        y = ((x[:, 0] * x[:, 1] > 0) ^ (x[:, 2] > 0.5)).astype(float)[:, None]  # not linear

        class Record(CoffeeBreak):
            objectives = []

            def enjoy(self, lounge, solver, net, state):
                self.objectives.append(state.obj_val)

        backend = mocha.make_backend("numpy", seed=0)
        net = Net("swish-mlp", backend, [
            MemoryDataLayer(name="data", data=[x, y], batch_size=32, shuffle=True),
            InnerProductLayer(name="ip1", output_dim=16, bottoms=["data"], tops=["ip1"]),
            SwishLayer(name="swish", beta=1.0, bottoms=["ip1"], tops=["act"]),
            InnerProductLayer(name="ip2", output_dim=2, bottoms=["act"], tops=["ip2"]),
            SoftmaxLossLayer(name="loss", bottoms=["ip2", "label"]),
        ])
        params = make_solver_parameters(SGD(), max_iter=300, regu_coef=0.0,
                                        lr_policy=LRPolicy.Fixed(0.2),
                                        mom_policy=MomPolicy.Fixed(0.9))
        solver = Solver(SGD(), params)
        record = add_coffee_break(solver, Record(), every_n_iter=1)
        solve(solver, net)
        net.shutdown()
        print(json.dumps(record.objectives))
    """,
    )
    assert result.returncode == 0, result.stderr
    objectives = json.loads(result.stdout)
    assert len(objectives) == 301
    first, last = sum(objectives[:4]) / 4, sum(objectives[-20:]) / 20
    print(f"objective: {first:.3f} -> {last:.3f}")
    assert last < 0.6 * first, f"the loss did not decrease enough: {first:.3f} -> {last:.3f}"


def test_exported_to_onnx_through_its_own_rule(example_installed, tmp_path):
    """`mocha export onnx` writes the third-party SwishLayer through the rule its package
    registers (Sigmoid, Mul); onnxruntime gives what `mocha.predict` gives."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", data=rng.standard_normal((8, 6)).astype(np.float32))
    (tmp_path / "swish.toml").write_text(
        textwrap.dedent("""
        name = "swish-net"
        [[layers]]
        type = "MemoryDataLayer"
        name = "data"
        source = "data.npz"
        tops = ["data"]
        batch_size = 4
        [[layers]]
        type = "InnerProductLayer"
        name = "ip"
        output_dim = 5
        bottoms = ["data"]
        tops = ["h"]
        [[layers]]
        type = "SwishLayer"
        name = "swish"
        beta = 1.5
        bottoms = ["h"]
        tops = ["y"]
        """),
        encoding="utf-8",
    )
    result = _python(
        example_installed,
        f"""
        import json, sys
        import numpy as np
        import onnxruntime as ort
        import mocha
        from mocha.cli.app import main
        from mocha.experiment import load_experiment
        from mocha.experiment.build import build_nets

        folder = {str(tmp_path)!r}
        exp = load_experiment(folder + "/swish.toml")
        backend = mocha.make_backend("numpy", seed=0)
        backend.init()
        train, _ = build_nets(exp, backend)[:2]
        mocha.save_network(folder + "/model.h5", train)
        x = np.load(folder + "/data.npz")["data"]
        ours = mocha.predict(exp.layers_for("train"), x, model=folder + "/model.h5",
                             output="y").outputs
        sys.argv = ["mocha", "export", "onnx", folder + "/swish.toml", "--model",
                    folder + "/model.h5", "-o", folder + "/swish.onnx"]
        try:
            main()
        except SystemExit as exc:
            assert not exc.code, exc.code
        (theirs,) = ort.InferenceSession(folder + "/swish.onnx").run(None, {{"data": x}})
        print(json.dumps(float(np.abs(theirs - ours).max())))
    """,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) < 1e-5
