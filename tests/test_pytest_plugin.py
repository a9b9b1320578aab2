"""The pytest plugin shipped to plugin authors (`mocha.testing.pytest_plugin`, entry point
`pytest11`), run in a fresh pytest process that knows nothing of this project's pyproject.toml
(in-process runs would see the markers cached from this session)."""

import pytest

pytest_plugins = ["pytester"]

TEST_FILE = """
import pytest

@pytest.mark.gpu
def test_marked():
    pass

def test_backend_param(backend_name):
    assert backend_name
"""


def test_gpu_marker_is_declared_by_the_plugin(pytester):
    pytester.makepyfile(TEST_FILE)
    # the plugin is loaded through its `pytest11` entry point, as in a third-party package
    result = pytester.runpytest_subprocess(
        "--strict-markers", "-p", "no:cacheprovider", "--mocha-backend=numpy"
    )
    assert result.ret == 0, result.errlines
    result.assert_outcomes(passed=2)


def test_cupy_cases_carry_the_gpu_marker_under_strict_markers(pytester, monkeypatch):
    monkeypatch.delenv("MOCHA_BACKEND", raising=False)  # every backend, whatever the session's
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest_subprocess(
        "--strict-markers", "-p", "no:cacheprovider", "--collect-only", "-q", "-m", "gpu"
    )
    assert result.ret == 0, result.errlines
    collected = {line.split("::")[-1] for line in result.outlines if "::" in line}
    assert collected == {"test_marked", "test_backend_param[cupy]"}


@pytest.mark.parametrize("ini_declares_gpu", [False, True])
def test_gpu_marker_is_listed_once(pytester, ini_declares_gpu):
    if ini_declares_gpu:  # as this project's own pyproject.toml does
        pytester.makeini("[pytest]\nmarkers =\n    gpu: the project's own words\n")
    result = pytester.runpytest_subprocess("--markers", "-p", "no:cacheprovider")
    assert result.ret == 0
    gpu_lines = [line for line in result.outlines if line.startswith("@pytest.mark.gpu")]
    assert len(gpu_lines) == 1
    assert ("the project's own words" in gpu_lines[0]) == ini_declares_gpu


def test_mocha_backend_narrows_the_backend_fixture(pytester, monkeypatch):
    monkeypatch.setenv("MOCHA_BACKEND", "numpy")
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--collect-only", "-q")
    collected = {line.split("::")[-1] for line in result.outlines if "::" in line}
    assert "test_backend_param[numpy]" in collected
    assert not any(
        c.startswith("test_backend_param[") and c != "test_backend_param[numpy]" for c in collected
    )
