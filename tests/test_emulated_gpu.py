"""The test-only emulated GPU (`mocha.testing.emulated_gpu`): its arrays refuse what CuPy's
refuse (and hidden host-to-device copies), the CuPy backend runs on it, and the pytest plugin
selects it (`--mocha-backend=emulated-gpu`) and refuses unknown backend names."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mocha.testing._device_array import DeviceArray, HostDeviceMixError
from mocha.testing.emulated_gpu import EMULATED_CUPY as xp
from mocha.testing.emulated_gpu import EmulatedGpuBackend

pytest_plugins = ["pytester"]


def test_implicit_conversion_to_numpy_is_refused():
    d = xp.arange(6.0).reshape(2, 3)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(d)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.testing.assert_allclose(d, np.zeros((2, 3)))
    np.testing.assert_array_equal(xp.asnumpy(d), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(d.get(), np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize(
    "mix",
    [
        lambda d, h: d + h,
        lambda d, h: h * d,
        lambda d, h: xp.maximum(d, h),
        lambda d, h: xp.matmul(d, h.T),
        lambda d, h: d.__setitem__(Ellipsis, h),
        lambda d, h: d[np.array([0, 1])],
        lambda d, h: np.exp(d, out=h),
        lambda d, h: xp.concatenate([d, h]),
    ],
)
def test_host_device_mixing_is_refused(mix):
    with pytest.raises(HostDeviceMixError, match="numpy.ndarray"):
        mix(xp.ones((2, 3)), np.ones((2, 3)))


def test_scalars_mix_and_results_stay_on_the_device():
    d = xp.asarray(np.arange(4.0, dtype=np.float32))
    y = (d * np.float32(2) + 1.5) ** 2
    assert isinstance(y, DeviceArray) and y.dtype == np.float32
    total = y.sum()
    assert isinstance(total, DeviceArray) and total.ndim == 0  # CuPy: 0-d, not a scalar
    before = xp.stats["implicit_syncs"]
    assert float(total) == pytest.approx(sum((2 * i + 1.5) ** 2 for i in range(4)))
    assert xp.stats["implicit_syncs"] == before + 1
    assert isinstance(np.exp(d), DeviceArray)  # NumPy functions dispatch to the device


def test_out_arguments_are_returned_themselves():
    a, out = xp.ones(3), xp.zeros(3)
    assert xp.multiply(a, 2.0, out=out) is out
    assert np.add(a, a, out=out) is out
    b = a
    b += 1
    assert b is a and float(a[0]) == 2.0


def test_views_share_device_memory_and_as_strided_works():
    d = xp.zeros((2, 3))
    d.reshape(6)[4] = 7.0
    assert float(d[1, 1]) == 7.0
    x = xp.arange(5.0)
    w = xp.lib.stride_tricks.as_strided(x, (3, 3), (8, 8))
    np.testing.assert_array_equal(xp.asnumpy(w), [[0, 1, 2], [1, 2, 3], [2, 3, 4]])


def test_the_cupy_backend_runs_on_the_emulation():
    backend = EmulatedGpuBackend(dtype="float64", seed=0)
    backend.init()
    assert backend.xp is xp and backend.device == "gpu" and backend.device_id == 0
    blob = backend.from_host(np.arange(6.0).reshape(2, 3))
    assert isinstance(blob.data, DeviceArray)
    np.testing.assert_array_equal(blob.to_host(), np.arange(6.0).reshape(2, 3))
    u = backend.random_uniform((4,))
    assert isinstance(u, DeviceArray)
    y = backend.kernels.relu_forward(backend.asarray(np.array([-1.0, 2.0])), 0.0)
    assert isinstance(y, DeviceArray)
    np.testing.assert_array_equal(backend.to_host(y), [0.0, 2.0])
    before = xp.stats["synchronize"]
    backend.synchronize()
    assert xp.stats["synchronize"] == before + 1


def test_an_unknown_backend_name_is_a_usage_error(pytester):
    pytester.makepyfile("def test_x(backend_name):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--mocha-backend=numpi")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown mocha backend 'numpi'*numpy*emulated-gpu*"])


EMULATED_SESSION = """
import subprocess, sys
import numpy as np
import pytest
import mocha

def test_param(backend_name):
    assert backend_name == "emulated-gpu"

def test_default_backend_follows_the_session():
    assert mocha.DefaultBackend().name == "emulated-gpu"

def test_a_child_process_finds_it_too():
    code = "import mocha; print(mocha.make_backend('emulated-gpu').name)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "emulated-gpu", out.stderr

def test_host_conversion_fails_a_test(backend):
    np.asarray(backend.zeros((2,)).data)
"""


def test_the_session_backend_emulated_gpu(pytester, monkeypatch):
    monkeypatch.delenv("MOCHA_BACKEND", raising=False)
    pytester.makepyfile(EMULATED_SESSION)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--mocha-backend=emulated-gpu")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        ["*test_host_conversion_fails_a_test*", "E * TypeError: Implicit conversion*"]
    )


def test_the_emulation_is_not_registered_for_users():
    code = "from mocha.core.registry import get_registry; print(get_registry().names('backends'))"
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "cupy" in out.stdout and "emulated" not in out.stdout
