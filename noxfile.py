"""nox sessions: lint, tests (per available backend), slow (end-to-end training), plugin_example."""

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def lint(session):
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "examples", "benchmarks", "noxfile.py")


@nox.session
@nox.parametrize("backend", ["numpy", "numba"])
def tests(session, backend):
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", "-q", f"--mocha-backend={backend}", *session.posargs)


@nox.session
def slow(session):
    """End-to-end training runs (LeNet on MNIST, the auto-encoder tutorial, ...)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", "-q", "-m", "slow", "--run-slow", *session.posargs)


@nox.session
def gpu(session):
    session.install("-e", ".[dev,gpu]")
    session.run("python", "-m", "pytest", "-q", "-m", "gpu", "--mocha-backend=cupy")


@nox.session
def plugin_example(session):
    """Install the example third-party layer package, run its tests, and check that Mocha
    discovers it through its entry point and trains with it (tests/test_example_plugin.py)."""
    session.install("-e", ".[dev]")
    session.install("-e", "examples/mocha-example-layer")
    session.run("python", "-m", "pytest", "-q", "examples/mocha-example-layer/tests")
    session.run("python", "-m", "pytest", "-q", "tests/test_example_plugin.py")
    session.run("mocha", "plugins", "--kind", "layers")
