"""`mocha export onnx` and `mocha convert onnx`, the missing-extra message, and the deployment
example of docs/onnx.md (onnxruntime alone)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx_support import assert_close, backend, isolated_example, ort_run
from typer.testing import CliRunner

import mocha
from mocha.cli.app import make_app
from mocha.experiment import load_experiment

ROOT = Path(__file__).resolve().parents[2]
# a copy: the MNIST files a tutorial may have written into the working copy are not found
LENET = isolated_example(ROOT / "examples" / "mnist" / "lenet.toml")
runner = CliRunner()


def lenet_model(tmp_path):
    """A LeNet HDF5 model with random parameters."""
    from mocha.experiment.interchange import inference_layers as export_layers

    layers = export_layers(load_experiment(LENET).layers_for("test"), {"data": (1, 28, 28)})
    net = mocha.Net("lenet", backend(), layers, phase="test")
    net.init()
    rng = np.random.default_rng(0)
    for state in net.states:
        for p in state.parameters:
            p.blob.data[...] = rng.normal(0, 0.1, p.blob.shape)
    path = tmp_path / "lenet.h5"
    mocha.save_network(str(path), net)
    net.shutdown()
    return path


def test_export_lenet_matches_mocha_predict(tmp_path):
    model = lenet_model(tmp_path)
    out = tmp_path / "lenet.onnx"
    result = runner.invoke(
        make_app(),
        [
            "export",
            "onnx",
            str(LENET),
            "--model",
            str(model),
            "-o",
            str(out),
            "--input-shape",
            "data=1,28,28",
        ],
    )
    assert result.exit_code == 0, result.output
    import onnx

    loaded = onnx.load(str(out))
    assert [n.name for n in loaded.graph.node if n.op_type in ("Conv", "Gemm")] == [
        "conv1",
        "conv2",
        "ip1",
        "ip2",
    ]
    x = np.random.default_rng(1).random((3, 1, 28, 28), dtype=np.float32)
    want = mocha.predict(
        load_experiment(LENET).layers_for("test"), x, model=model, backend=backend()
    )
    assert_close(ort_run(loaded, {"data": x})["ip2"], want.outputs)


def test_export_takes_the_sample_shape_from_the_data(tmp_path):
    """examples/digits reads sklearn's digits: no --input-shape needed; fixed batch."""
    digits = ROOT / "examples" / "digits" / "digits.toml"
    exp = load_experiment(digits)
    net = mocha.Net("digits", backend(), exp.layers_for("test"), phase="test")
    net.init()
    mocha.save_network(str(tmp_path / "digits.h5"), net)
    out = tmp_path / "digits.onnx"
    result = runner.invoke(
        make_app(),
        [
            "export",
            "onnx",
            str(digits),
            "--model",
            str(tmp_path / "digits.h5"),
            "-o",
            str(out),
            "--batch",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    import onnx

    shape = onnx.load(str(out)).graph.input[0].type.tensor_type.shape
    assert [d.dim_value for d in shape.dim] == [2, *net.output_blobs["data"].shape[1:]]
    net.shutdown()


def test_export_errors_exit_2(tmp_path):
    model = lenet_model(tmp_path)
    args = ["export", "onnx", str(LENET), "--model", str(model), "-o", str(tmp_path / "x.onnx")]
    result = runner.invoke(make_app(), args)  # the MNIST files are not prepared here
    assert result.exit_code == 2
    assert "--input-shape data=C,H,W" in result.output
    result = runner.invoke(make_app(), [*args, "--input-shape", "data=1,28,28", "--opset", "9"])
    assert result.exit_code == 2 and "opset must be an int >= 17" in result.output
    result = runner.invoke(make_app(), [*args, "--input-shape", "data=1,28"])
    assert result.exit_code == 2 and "'conv1'" in result.output


def test_convert_then_summary_and_predict(tmp_path):
    model = lenet_model(tmp_path)
    onnx_path = tmp_path / "lenet.onnx"
    assert (
        runner.invoke(
            make_app(),
            [
                "export",
                "onnx",
                str(LENET),
                "--model",
                str(model),
                "-o",
                str(onnx_path),
                "--input-shape",
                "data=1,28,28",
            ],
        ).exit_code
        == 0
    )
    out = tmp_path / "converted"
    result = runner.invoke(make_app(), ["convert", "onnx", str(onnx_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    experiment = out / "MNIST.toml"
    assert experiment.is_file() and (out / "model.h5").is_file()
    result = runner.invoke(make_app(), ["summary", str(experiment)])
    assert result.exit_code == 0, result.output
    assert "ip2" in result.output
    x = np.random.default_rng(2).random((4, 1, 28, 28), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    result = runner.invoke(
        make_app(),
        [
            "predict",
            str(experiment),
            str(tmp_path / "x.npy"),
            "--model",
            str(out / "model.h5"),
            "--backend",
            "numpy",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    import json

    import onnx

    classes = [row["class"] for row in json.loads(result.stdout)["predictions"]]
    want = ort_run(onnx.load(str(onnx_path)), {"data": x})["ip2"].argmax(axis=1)
    assert classes == want.tolist()


def test_convert_refusal_exit_2(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["y"], name="turn")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, "N"])],
    )
    path = tmp_path / "t.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    result = runner.invoke(make_app(), ["convert", "onnx", str(path), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "'turn' (Transpose)" in result.output


def test_without_the_extra_the_commands_name_it(tmp_path):
    """`onnx` hidden from imports: exit 2 and the extra to install."""
    code = (
        "import sys; sys.modules['onnx'] = None; sys.modules['onnxruntime'] = None\n"
        "from mocha.cli.app import main\n"
        f"sys.argv = ['mocha', 'convert', 'onnx', {str(tmp_path / 'm.onnx')!r}, '--out', "
        f"{str(tmp_path)!r}]\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert 'pip install "mocha-dl[onnx]"' in done.stderr


def test_docs_deployment_example_runs_with_onnxruntime_alone(tmp_path):
    model = lenet_model(tmp_path)
    assert (
        runner.invoke(
            make_app(),
            [
                "export",
                "onnx",
                str(LENET),
                "--model",
                str(model),
                "-o",
                str(tmp_path / "lenet.onnx"),
                "--input-shape",
                "data=1,28,28",
            ],
        ).exit_code
        == 0
    )
    text = (ROOT / "docs" / "onnx.md").read_text(encoding="utf-8")
    section = text[text.index("### Deploying") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "mocha" not in code
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['mocha'] = None\n" + code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    printed = [int(d) for d in re.findall(r"\d+", done.stdout)]
    assert len(printed) == 5 and all(0 <= d < 10 for d in printed)


@pytest.mark.parametrize("spec", ["data", "data=", "=1,2", "data=1,0", "data=a,b"])
def test_bad_input_shape(spec):
    from mocha.core.errors import DataError
    from mocha.experiment.interchange import parse_input_shapes

    with pytest.raises(DataError, match="--input-shape"):
        parse_input_shapes([spec])
