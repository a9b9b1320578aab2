import os

from hypothesis import HealthCheck, settings

# The backend agreement suite runs the Numba kernels at 1 and 2 threads (see
# tests/plugins/backends/conftest.py): give numba's pool room for 2 threads even on a one-core
# machine (numba reads this once, when it is first imported; an explicit setting wins).
os.environ.setdefault("NUMBA_NUM_THREADS", str(max(2, os.cpu_count() or 1)))

settings.register_profile(
    "ci", deadline=None, max_examples=15, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "dev", deadline=None, max_examples=15,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (end-to-end training)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    import pytest

    skip = pytest.mark.skip(reason="slow test: pass --run-slow (or nox -s slow) to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
