"""The CuPy backend against fake `cupy` modules (NumPy-backed, `mocha.testing.emulated_gpu`)
put in `sys.modules`: `why_unavailable()` proves the device works (a broken installation falls
back to the CPU with its reason in `mocha backends`), and the device is chosen as the manual's
`MOCHA_CUDA_DEVICE` does (`CupyBackend(device=N)`, `[backend] device = N`, the variable)."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from mocha import MochaError, make_backend
from mocha.experiment import ExperimentError, load_experiment
from mocha.experiment.build import make_experiment_backend
from mocha.plugins.backends.cupy_backend import CupyBackend
from mocha.testing.emulated_gpu import EmulatedCupy


class WrongNumbers(EmulatedCupy):
    def asnumpy(self, a, stream=None, order="C"):
        return np.zeros(a.shape, a.dtype)  # the copy back returns garbage


class FailingKernel(EmulatedCupy):
    def asarray(self, a, dtype=None, order=None):
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")


class NoDriver(EmulatedCupy):
    def __init__(self):
        super().__init__()

        def count():
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

        self.cuda.runtime.getDeviceCount = count


@pytest.fixture
def fake_cupy(monkeypatch):
    """`install(module)`: make `import cupy` return `module`; no MOCHA_CUDA_DEVICE."""
    monkeypatch.delenv("MOCHA_CUDA_DEVICE", raising=False)
    monkeypatch.delenv("MOCHA_BACKEND", raising=False)

    def install(module):
        monkeypatch.setitem(sys.modules, "cupy", module)
        return module

    return install


def test_a_working_device_is_available_and_used(fake_cupy):
    cupy = fake_cupy(EmulatedCupy(device_count=1))
    assert CupyBackend.why_unavailable() is None
    backend = make_backend("cupy", dtype="float64")
    assert backend.xp is cupy and backend.device_id == 0
    np.testing.assert_array_equal(backend.from_host(np.arange(3.0)).to_host(), [0.0, 1.0, 2.0])
    assert make_backend("default").name == "cupy"  # a usable GPU is the default


@pytest.mark.parametrize(
    "module,reason",
    [
        (WrongNumbers(), "CUDA device 0 computed wrong numbers in a test kernel"),
        (FailingKernel(), "CUDA device 0 failed a test computation (RuntimeError: cudaError"),
        (NoDriver(), "no usable CUDA device (RuntimeError: cudaErrorNoDevice"),
        (EmulatedCupy(device_count=0), "no CUDA device is visible"),
    ],
    ids=["wrong-numbers", "failing-kernel", "no-driver", "no-device"],
)
def test_a_broken_install_falls_back_to_the_cpu_with_its_reason(fake_cupy, module, reason):
    fake_cupy(module)
    assert reason in CupyBackend.why_unavailable()
    with pytest.raises(MochaError, match="cupy"):
        make_backend("cupy")
    assert make_backend("default").device == "cpu"


def test_mocha_backends_shows_the_reason(fake_cupy):
    from typer.testing import CliRunner

    from mocha.cli.app import make_app

    fake_cupy(WrongNumbers())
    result = CliRunner().invoke(make_app(), ["backends"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "computed wrong numbers" in " ".join(result.output.split())


def test_cupy_that_cannot_be_imported_names_the_extra(fake_cupy):
    fake_cupy(None)  # `import cupy` raises ImportError
    reason = CupyBackend.why_unavailable()
    assert "cupy cannot be imported" in reason and "gpu" in reason


def test_the_device_argument_and_the_environment_variable(fake_cupy, monkeypatch):
    cupy = fake_cupy(EmulatedCupy(device_count=2))
    assert CupyBackend(device=1).device_id == 1 and cupy.cuda.current == 1
    monkeypatch.setenv("MOCHA_CUDA_DEVICE", "1")
    assert CupyBackend().device_id == 1
    assert CupyBackend(device=0).device_id == 0  # the argument wins over the variable
    backend = make_backend("cupy")
    backend.init()
    assert backend.device_id == 1 and cupy.cuda.current == 1


@pytest.mark.parametrize(
    "env,match",
    [
        ("abc", r"MOCHA_CUDA_DEVICE must be a CUDA device number .* not 'abc'"),
        ("-1", r"MOCHA_CUDA_DEVICE must be a CUDA device number .* not '-1'"),
        ("2", r"CUDA device 2 was asked for .* 2 device\(s\) are visible \(0..1\)"),
    ],
)
def test_bad_mocha_cuda_device_values_are_clear_errors(fake_cupy, monkeypatch, env, match):
    fake_cupy(EmulatedCupy(device_count=2))
    monkeypatch.setenv("MOCHA_CUDA_DEVICE", env)
    with pytest.raises(MochaError, match=match):
        CupyBackend()
    assert CupyBackend.why_unavailable() is not None  # `mocha backends` shows it too
    assert make_backend("default").device == "cpu"


@pytest.mark.parametrize("device", [-1, 1.5, True, "one"])
def test_bad_device_arguments_are_clear_errors(fake_cupy, device):
    fake_cupy(EmulatedCupy(device_count=2))
    with pytest.raises(MochaError, match=r"device must be a CUDA device number .* not "):
        CupyBackend(device=device)


def test_the_device_cannot_change_once_arrays_live_on_it(fake_cupy):
    fake_cupy(EmulatedCupy(device_count=2))
    backend = CupyBackend()
    backend.workspace("scratch", (4,), "float32")
    with pytest.raises(MochaError, match="already holds arrays on device 0"):
        backend.use_device(1)


EXPERIMENT = textwrap.dedent("""\
    name = "dev"
    [backend]
    name = "{name}"
    device = {device}
    [[layers]]
    type = "MemoryDataLayer"
    name = "data"
    data = [[[1.0, 2.0]]]
    tops = ["data"]
    batch_size = 1
""")


def _experiment_backend(tmp_path, name, device):
    path = tmp_path / "dev.toml"
    path.write_text(EXPERIMENT.format(name=name, device=device), encoding="utf-8")
    return make_experiment_backend(load_experiment(path))


def test_the_device_of_an_experiment_file(fake_cupy, tmp_path, monkeypatch):
    cupy = fake_cupy(EmulatedCupy(device_count=2))
    backend = _experiment_backend(tmp_path, "cupy", 1)
    assert backend.device_id == 1 and cupy.cuda.current == 1
    monkeypatch.setenv("MOCHA_CUDA_DEVICE", "0")
    assert _experiment_backend(tmp_path, "gpu", 1).device_id == 1  # the file wins
    assert _experiment_backend(tmp_path, "numpy", 1).name == "numpy"  # CPU: no device


@pytest.mark.parametrize(
    "device,match",
    [
        ('"one"', r"\[backend\] device must be a CUDA device number .* not 'one'"),
        ("-2", r"\[backend\] device must be a CUDA device number .* not -2"),
        ("7", r"CUDA device 7 was asked for .* 2 device\(s\)"),
    ],
)
def test_bad_experiment_devices_are_clear_errors(fake_cupy, tmp_path, device, match):
    fake_cupy(EmulatedCupy(device_count=2))
    with pytest.raises(ExperimentError, match=r"dev.toml: backend 'cupy': .*" + match):
        _experiment_backend(tmp_path, "cupy", device)
