"""Optional features without their extra: each says which extra to install and exits 2.

A missing package is simulated by `sys.modules[name] = None` (the import then fails as if
the package were not installed), so these tests run whatever is installed.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from mocha.core.extras import EXTRAS, MissingExtraError, require
from mocha.core.io.statistics import save_statistics

ROOT = Path(__file__).resolve().parents[2]


def _hide(monkeypatch, *modules: str) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def _says_extra(result, extra: str) -> None:
    assert result.exit_code == 2, result.output
    assert f'pip install "mocha-dl[{extra}]"' in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_every_extra_is_declared_and_dev_has_what_ci_needs():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = meta["optional-dependencies"]
    assert set(EXTRAS) <= set(extras)
    for extra, (_, dist) in EXTRAS.items():
        assert any(req.startswith(dist) for req in extras[extra]), (extra, extras[extra])
    dev = extras["dev"][0]
    for group in ("test", "lint", "plot", "images", "examples", "caffe", "onnx", "mpi"):
        assert group in dev


def test_require_names_the_extra(monkeypatch):
    _hide(monkeypatch, "matplotlib")
    with pytest.raises(
        MissingExtraError,
        match=r"mocha plot needs the 'plot' extra "
        r"\(matplotlib is not installed\): pip install \"mocha-dl\[plot\]\"",
    ):
        require("plot", "mocha plot")


def test_require_reports_a_broken_package(monkeypatch, tmp_path):
    (tmp_path / "brokenpkg_for_mocha.py").write_text("import no_such_module_inside\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtraError, match="importing brokenpkg_for_mocha failed"):
        require("plot", "a feature", "brokenpkg_for_mocha")


def test_plot_without_matplotlib(app, runner, tmp_path, monkeypatch):
    stats = tmp_path / "statistics.h5"
    save_statistics(str(stats), {"obj_val": {0: 1.0, 10: 0.5}})
    _hide(monkeypatch, "matplotlib", "matplotlib.pyplot")
    result = runner.invoke(app, ["plot", str(stats), "-o", str(tmp_path / "c.png")])
    _says_extra(result, "plot")
    assert not (tmp_path / "c.png").exists()


def test_image_prediction_without_pillow(app, runner, tmp_path, monkeypatch, digits_toml):
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "model.h5").write_bytes(b"")
    _hide(monkeypatch, "PIL", "PIL.Image")
    result = runner.invoke(
        app,
        [
            "predict",
            str(digits_toml),
            str(tmp_path / "a.png"),
            "--model",
            str(tmp_path / "model.h5"),
            "--backend",
            "numpy",
        ],
    )
    _says_extra(result, "images")


def test_digits_need_no_extra(monkeypatch):
    from mocha import lookup

    _hide(monkeypatch, "sklearn", "sklearn.datasets")
    digits = lookup("data_providers", "sklearn:digits")()
    assert digits["data"].shape == (1797, 64) and digits["data"].dtype == np.float32
    assert digits["label"].shape == (1797, 1)
    assert 0.0 <= digits["data"].min() and digits["data"].max() == 1.0
    assert np.bincount(digits["label"][:, 0].astype(int)).tolist() == [
        178,
        182,
        177,
        183,
        181,
        182,
        181,
        179,
        174,
        180,
    ]


def test_bundled_digits_are_scikit_learns():
    datasets = pytest.importorskip("sklearn.datasets")
    from mocha import lookup

    digits = lookup("data_providers", "sklearn:digits")()
    want = datasets.load_digits()
    np.testing.assert_array_equal(digits["data"], (want.data / 16.0).astype(np.float32))
    np.testing.assert_array_equal(digits["label"][:, 0], want.target)


def test_main_job_runs_without_scikit_learn(app, runner, digits_toml, monkeypatch):
    _hide(monkeypatch, "sklearn", "sklearn.datasets", "sklearn.model_selection")
    result = runner.invoke(app, ["run", str(digits_toml), "--max-iter", "20", "--backend", "numpy"])
    assert result.exit_code == 0, result.output


def test_iris_without_scikit_learn(app, runner, small_toml, tmp_path, monkeypatch):
    path = tmp_path / "iris.toml"
    path.write_text(small_toml.replace("sklearn:digits", "sklearn:iris"))
    _hide(monkeypatch, "sklearn", "sklearn.datasets")
    result = runner.invoke(app, ["run", str(path), "--max-iter", "2"])
    _says_extra(result, "examples")


def test_gpu_backend_without_cupy(app, runner, digits_toml, monkeypatch):
    import mocha

    _hide(monkeypatch, "cupy")
    with pytest.raises(mocha.MochaError, match=r"mocha-dl\[gpu\]"):
        mocha.make_backend("cupy")
    from mocha.backend_choice import backend_classes

    if [c.name for c in backend_classes() if c.device == "gpu"] == ["cupy"]:  # not emulated
        with pytest.raises(mocha.MochaError, match=r"mocha-dl\[gpu\]"):
            mocha.GPUBackend()
    result = runner.invoke(app, ["run", str(digits_toml), "--backend", "cupy", "--max-iter", "1"])
    _says_extra(result, "gpu")
