"""`mocha bench`: the table's shape and the environment lines, with tiny iteration counts and
no PyTorch (speed is never asserted)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("numba")


def test_bench_prints_one_row_per_configuration(app, runner, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")  # removed from the children's env
    # machines of this kind may set it already: the report must hold either way (issue 28)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("MOCHA_BACKEND", raising=False)  # the default choice: Numba on a CPU
    out = tmp_path / "bench.json"
    result = runner.invoke(
        app, ["bench", "--iters", "2", "--threads", "1", "--compare", "none", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| framework"))
    assert lines[header].count("|") == 9
    rows = [line for line in lines[header + 2 :] if line.startswith("|")]
    assert len(rows) == 1 and rows[0].startswith("| mocha | 1 |")
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert float(cells[2]) > 0  # it/s, no ratio without PyTorch
    assert cells[3].endswith("GFLOP/s") and cells[4].endswith("%")
    assert "through solve()" in result.stdout
    assert "mocha 1t [NumbaBackend]" in result.stdout and "numba x1" in result.stdout
    unset = next(line for line in lines if line.startswith("unset for every framework: "))
    names = unset.split(": ", 1)[1].split(", ")
    assert {"OPENBLAS_L2_SIZE", "OPENBLAS_CORETYPE"} <= set(names)
    report = json.loads(out.read_text())
    r = report["nets"]["lenet"]["mocha/1"]
    assert r["loop"]["iterations"] == 2
    assert {i["num_threads"] for i in r["env"] if i["internal_api"] == "openblas"} >= {1}


def test_bench_refuses_bad_options(app, runner):
    for args, message in (
        (["--net", "vgg"], "--net 'vgg'"),
        (["--threads", "0"], "--threads"),
        (["--threads", "a"], "--threads"),
        (["--compare", "tf"], "--compare"),
    ):
        result = runner.invoke(app, ["bench", *args])
        assert result.exit_code == 2, args
        assert message in result.output


def test_repeats_keep_the_best_of_each_column():
    from mocha.cli.bench_cmd import best

    a = {
        "train_it_s": 10.0,
        "first_iter_s": 1.0,
        "peak_rss_mb": 200.0,
        "latency_ms": 0.5,
        "sgemm_gflops": 50.0,
        "loop": {"overhead_fraction": 0.01},
    }
    b = {
        "train_it_s": 12.0,
        "first_iter_s": 1.2,
        "peak_rss_mb": 190.0,
        "latency_ms": 0.6,
        "sgemm_gflops": 40.0,
        "loop": {"overhead_fraction": 0.02},
    }
    assert best(None, a) is a
    merged = best(a, b)
    assert merged == {
        "train_it_s": 12.0,
        "first_iter_s": 1.0,
        "peak_rss_mb": 190.0,
        "latency_ms": 0.5,
        "sgemm_gflops": 50.0,
        "runs": 2,
        "loop": {"overhead_fraction": 0.02},
    }  # the faster run's breakdown


def test_bench_default_row_says_what_the_default_chose(app, runner, monkeypatch):
    monkeypatch.delenv("MOCHA_BACKEND", raising=False)
    result = runner.invoke(
        app, ["bench", "--iters", "2", "--threads", "default", "--compare", "none", "--busy", "1"]
    )
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("| mocha |")]
    assert len(rows) == 1 and rows[0].startswith("| mocha | default → ")
    line = next(x for x in result.stdout.splitlines() if x.startswith("mocha default: "))
    assert "thread(s) (" in line
    assert "1 competing busy process(es) running" in result.output


def test_big_nets_need_the_comparison_extras_or_compare_none(app, runner, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name)
    )
    result = runner.invoke(app, ["bench", "--net", "resnet18"])
    assert result.exit_code == 2
    assert "onnxruntime not installed: pip install torch 'mocha-dl[onnx]'" in result.output


def test_big_net_table_gives_ratios_to_pytorch_and_onnxruntime():
    from mocha.cli._bench_big import table

    results = {
        ("mocha", 1): {"infer_ms": 100.0, "train_ms": 300.0},
        ("torch", 1): {"infer_ms": 120.0, "train_ms": 330.0},
        ("onnxruntime", 1): {"infer_ms": 80.0},
    }
    lines = table("alexnet", results)
    assert lines[2] == "| mocha | 1 | 100 | 1.20× | 0.80× | 300 | 1.10× |"
    assert lines[3] == "| pytorch | 1 | 120 | — | — | 330 | — |"
    assert lines[4] == "| onnxruntime | 1 | 80 | — | — | — | — |"


@pytest.mark.parametrize("net", ["alexnet", "vgg11", "resnet18"])
def test_big_nets_build_in_mocha_with_torchvisions_output_shape(net):
    import numpy as np

    import mocha
    from mocha.cli._bench_big import BIG_NETS, mocha_layers

    backend = mocha.make_backend("numpy")
    mocha.init(backend)
    size = BIG_NETS[net]
    x = np.zeros((1, 3, size, size), np.float32)
    data = mocha.MemoryDataLayer(name="data", data=[x], batch_size=1, tops=["data"])
    net_ = mocha.Net(net, backend, [data, *mocha_layers(net)], phase="test")
    last = {"alexnet": "pool5", "vgg11": "pool13", "resnet18": "s3b1relu"}[net]
    try:
        assert (
            net_.state_of(last).blobs[0].shape
            == {
                "alexnet": (1, 256, 6, 6),  # what torchvision's heads take
                "vgg11": (1, 512, 7, 7),
                "resnet18": (1, 512, 8, 8),  # at 225×225, as torchvision's at 225
            }[net]
        )
        assert net_.state_of(net_.layers[-1].name).blobs[0].shape == (1, 1000)
    finally:
        net_.shutdown()
        mocha.shutdown(backend)
