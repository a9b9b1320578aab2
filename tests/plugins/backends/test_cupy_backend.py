import numpy as np
import pytest

from mocha import MochaError, make_backend
from mocha.plugins.backends.cupy_backend import CupyBackend
from mocha.testing import available_backends


def test_cupy_backend_is_registered_whether_or_not_usable():
    names = dict(available_backends())
    assert "cupy" in names
    assert CupyBackend.device == "gpu"


@pytest.mark.skipif(CupyBackend.is_available(), reason="a GPU is usable here")
def test_unusable_gpu_gives_a_reason_not_a_crash():
    reason = CupyBackend.why_unavailable()
    assert reason and ("cupy" in reason.lower() or "cuda" in reason.lower())
    with pytest.raises(MochaError, match="cupy"):
        make_backend("cupy")
    # DefaultBackend falls back to the best CPU backend (the emulated GPU of a test session
    # is another GPU backend)
    others = [name for name, _ in available_backends() if name != "cupy"]
    assert make_backend("default").name != "cupy"
    if "emulated-gpu" not in others:
        assert make_backend("default").device == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not CupyBackend.is_available(), reason="no usable GPU")
def test_blob_round_trip_on_the_gpu():
    backend = make_backend("cupy", dtype="float64")
    host = np.arange(6.0).reshape(2, 3)
    blob = backend.from_host(host)
    np.testing.assert_array_equal(blob.to_host(), host)
