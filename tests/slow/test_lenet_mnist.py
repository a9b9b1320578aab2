"""End to end: the manual's LeNet trained on real MNIST digits (IDX files) reaches >= 96.5%."""

import contextlib
import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mnist" / "lenet_idx.py"


def load_example():
    spec = importlib.util.spec_from_file_location("lenet_idx_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_blas_thread():
    """Busy-waiting BLAS threads slow this test down badly on a shared machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@pytest.mark.slow
def test_lenet_reaches_96_5_percent_on_the_test_images(capsys):
    example = load_example()
    data = Path(example.DEFAULT_DATA)
    if not (data / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST mirror not found at {data}")
    x_test, y_test = example.load_mnist(data, "t10k")
    assert x_test.shape == (2000, 1, 28, 28) and y_test.shape == (2000, 1)
    assert 0.0 <= x_test.min() and x_test.max() <= 1.0
    with one_blas_thread():
        accuracy = example.main(
            ["--backend", "numpy", "--max-iter", "2000", "--summary-every", "500"]
        )
    out = capsys.readouterr().out
    assert "TRAIN iter=002000" in out
    assert "on 2000 MNIST test images" in out
    assert accuracy >= 0.965
