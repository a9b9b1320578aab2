"""nox sessions: lint; the whole test suite on each backend (tests-numpy, tests-numba,
tests-cupy); the layer, solver and resume tests on the emulated GPU (tests-emulated-gpu); on
each supported Python (tests_python); at the lowest versions of the direct dependencies
that pyproject.toml allows (tests_lowest); slow (end-to-end training); plugin_example.

The backend of a test session is session-wide: `MOCHA_BACKEND` (and `--mocha-backend`) make
the `backend` fixture run on it alone and `DefaultBackend()` / `[backend] name = "default"`
pick it; tests that name a backend keep theirs (see `mocha.testing.pytest_plugin`)."""

import re
import tomllib
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests-numpy", "tests-numba", "tests-emulated-gpu"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False

PYTHONS = ["3.11", "3.12", "3.13"]
ROOT = Path(__file__).parent


@nox.session
def lint(session):
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "src", "tests", "examples", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "examples", "benchmarks", "noxfile.py")


def _suite(session, backend: str, *extra: str) -> None:
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        f"--mocha-backend={backend}",
        *extra,
        *session.posargs,
        env={"MOCHA_BACKEND": backend},
    )


@nox.session(name="tests-numpy")
def tests_numpy(session):
    """The whole suite on the NumPy reference backend."""
    session.install("-e", ".[dev]")
    _suite(session, "numpy")


@nox.session(name="tests-numba")
def tests_numba(session):
    """The whole suite on the Numba backend."""
    session.install("-e", ".[dev]")
    _suite(session, "numba")


@nox.session(name="tests-cupy")
def tests_cupy(session):
    """The whole suite on the CuPy backend (needs a CUDA device)."""
    session.install("-e", ".[dev,gpu]")
    _suite(session, "cupy")


# what runs on the emulated GPU (CI too): the layers, the solvers, snapshots and resume
EMULATED_GPU_TESTS = (
    "tests/plugins/layers",
    "tests/plugins/solvers",
    "tests/core/test_resume.py",
    "tests/core/test_snapshot.py",
    "tests/test_emulated_gpu.py",
    "tests/plugins/backends/test_kernels_each_backend.py",
)


@nox.session(name="tests-emulated-gpu")
def tests_emulated_gpu(session):
    """The layer, solver and resume tests on the emulated GPU: the CuPy backend over a strict
    NumPy stand-in for CuPy that refuses host/device mixing (`mocha.testing.emulated_gpu`;
    no GPU needed)."""
    session.install("-e", ".[dev]")
    _suite(session, "emulated-gpu", *EMULATED_GPU_TESTS)


@nox.session(python=PYTHONS)
def tests_python(session):
    """The suite (NumPy backend) on each supported Python; missing interpreters are skipped."""
    session.install("-e", ".[dev]")
    _suite(session, "numpy")


def lowest_constraints() -> list[str]:
    """`name==version` for every direct dependency with a `>=` lower bound."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = []
    for req in meta["dependencies"]:
        match = re.match(r"^([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)", req)
        if match:
            pins.append(f"{match.group(1)}=={match.group(2)}")
    return pins


@nox.session(python="3.11")
def tests_lowest(session):
    """The suite at the lowest direct-dependency versions pyproject.toml allows."""
    constraints = Path(session.create_tmp()) / "lowest.txt"
    constraints.write_text("\n".join(lowest_constraints()) + "\n", encoding="utf-8")
    session.install("-c", str(constraints), "-e", ".[dev]")
    _suite(session, "numpy")


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
    """Install the example third-party layer packages, run their tests, and check that Mocha
    discovers them through their entry points and trains with them
    (tests/test_example_plugin.py; the PReLU layer of docs/plugins.md)."""
    session.install("-e", ".[dev]")
    session.install("-e", "examples/mocha-example-layer")
    session.install("-e", "examples/mocha-example-prelu-layer")
    session.run("python", "-m", "pytest", "-q", "examples/mocha-example-layer/tests")
    session.run("python", "-m", "pytest", "-q", "examples/mocha-example-prelu-layer/tests")
    session.run("python", "-m", "pytest", "-q", "tests/test_example_plugin.py")
    session.run("mocha", "plugins", "--kind", "layers")


@nox.session(name="onnx_conformance")
def onnx_conformance(session):
    """Opt-in: torchvision nets exported by both PyTorch exporters, imported and compared with
    onnxruntime and PyTorch (benchmarks/onnx_conformance.py; pass its options after --)."""
    session.install("-e", ".[onnx]")
    session.install("torch", "torchvision", "onnxscript")
    session.run("python", "benchmarks/onnx_conformance.py", *session.posargs)
