import os

from hypothesis import HealthCheck, settings

# The backend agreement suite runs the Numba kernels at 1 and 2 threads (see
# tests/plugins/backends/conftest.py): give numba's pool room for 2 threads even on a one-core
# machine (numba reads this once, when it is first imported; an explicit setting wins).
os.environ.setdefault("NUMBA_NUM_THREADS", str(max(2, os.cpu_count() or 1)))

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=15,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "dev",
    deadline=None,
    max_examples=15,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run tests marked slow (end-to-end training)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    import pytest

    skip = pytest.mark.skip(reason="slow test: pass --run-slow (or nox -s slow) to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


import pytest  # noqa: E402


@pytest.fixture
def fake_distribution(tmp_path_factory, monkeypatch):
    """Install fake plugin distributions for one test: `fake_distribution(dist, entry_points,
    modules)` writes `<dist>-1.0.dist-info` (METADATA, entry_points.txt) and the modules into
    a temporary folder on sys.path, which is what `importlib.metadata` reads for an installed
    package. The process-wide plugin manager and registry are reset before and after."""
    import sys
    import textwrap

    from mocha.core.plugins import reset_plugin_manager

    site = tmp_path_factory.mktemp("site")
    monkeypatch.syspath_prepend(str(site))
    for var in (
        "MOCHA_DISABLE_PLUGINS",
        "MOCHA_LOAD_PLUGINS",
        "MOCHA_STRICT_PLUGINS",
        "MOCHA_REPLACE",
    ):
        monkeypatch.delenv(var, raising=False)
    written: list[str] = []

    def install(dist: str, entry_points: dict[str, str], modules: dict[str, str] | None = None):
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[mocha]\n{lines}")
        for module, source in (modules or {}).items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            written.append(module)

    reset_plugin_manager()
    yield install
    for module in written:
        sys.modules.pop(module, None)
    reset_plugin_manager()
