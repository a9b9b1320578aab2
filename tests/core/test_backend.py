"""Backends (core/backend.py, backend_choice.py): choosing one by name or by availability,
dtype, the seeded RNG, lifecycle and the parameter registry."""

import numpy as np
import pytest

import mocha
from mocha import MochaError, UnknownNameError
from mocha.backend_choice import backend_classes, make_backend


def test_make_backend_by_registered_name(backend_name):
    b = make_backend(backend_name, dtype="float64", seed=3)
    assert b.name == backend_name
    assert b.dtype == np.float64 and b.seed == 3
    assert repr(b) == f"{type(b).__name__}(dtype=float64, seed=3)"


def test_unknown_backend_name():
    with pytest.raises(UnknownNameError, match="unknown backend 'numpi'. Did you mean numpy"):
        make_backend("numpi")


def test_only_float32_and_float64():
    with pytest.raises(ValueError, match="float32 or float64, not int32"):
        make_backend("numpy", dtype="int32")


def test_cpu_backend_is_the_best_available_cpu_backend(monkeypatch):
    monkeypatch.delenv("MOCHA_BACKEND", raising=False)  # the choice without the override
    usable = [c for c in backend_classes() if c.device == "cpu" and c.is_available()]
    best = max(usable, key=lambda c: c.priority)
    assert type(mocha.CPUBackend()) is best
    if any(c.device == "gpu" and c.is_available() for c in backend_classes()):
        assert mocha.DefaultBackend().device == "gpu"
    else:
        with pytest.raises(MochaError, match="no GPU backend is available"):
            mocha.GPUBackend()
        assert type(mocha.DefaultBackend()) is best  # falls back to the CPU
    assert make_backend("cpu").device == "cpu"


def test_an_unavailable_backend_says_why(monkeypatch):
    cls = make_backend("numpy").__class__
    monkeypatch.setattr(cls, "why_unavailable", classmethod(lambda c: "no luck today"))
    with pytest.raises(MochaError, match="backend 'numpy' is not available here: no luck today"):
        make_backend("numpy")


def test_rng_is_seeded_and_its_state_restorable():
    a, b = make_backend("numpy", seed=5), make_backend("numpy", seed=5)
    x = a.random_uniform((3, 4), -1, 2)
    np.testing.assert_array_equal(x, b.random_uniform((3, 4), -1, 2))
    assert x.dtype == np.float32 and x.min() >= -1 and x.max() < 2
    state = a.rng_state()
    first = a.random_normal((5,), mean=1.0, std=0.1)
    a.set_rng_state(state)
    np.testing.assert_array_equal(a.random_normal((5,), mean=1.0, std=0.1), first)
    assert not np.array_equal(
        make_backend("numpy", seed=6).random_uniform((3, 4)),
        make_backend("numpy", seed=5).random_uniform((3, 4)),
    )


def test_blobs_from_the_backend(backend):
    z = backend.zeros((2, 3))
    assert z.backend is backend and z.dtype == backend.dtype
    np.testing.assert_array_equal(z.to_host(), np.zeros((2, 3)))
    host = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(backend.to_host(backend.asarray(host)), host)
    backend.synchronize()


def test_lifecycle_and_registry_reset():
    b = make_backend("numpy")
    mocha.init(b)
    assert b.initialized
    b.param_registry["ip"] = ["something"]
    mocha.registry_reset(b)
    assert b.param_registry == {}
    b.param_registry["ip"] = ["something"]
    mocha.shutdown(b)
    assert b.param_registry == {} and not b.initialized


def test_kernel_table_lists_the_generic_kernels(backend):
    names = backend.kernels.names()
    for kernel in ("gemm", "softmax"):
        assert kernel in names
        assert backend.kernels.implementation_of(kernel) in ("*", backend.name)
    x = backend.asarray(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(backend.to_host(backend.kernels.softmax(x, 1)).sum(), 1.0, rtol=1e-6)


def test_a_backend_uses_the_kernel_table_of_the_registry_that_made_it():
    """A registry built from another plugin manager (here: the installed plugins plus one
    that replaces `gemm` on NumPy) serves its own kernels to the backends made from it; a
    backend made from the process-wide registry keeps the built-in kernel."""
    import types

    from mocha.core.plugins import make_plugin_manager
    from mocha.core.registry import build_registry

    def marked_gemm(backend, a, b, out=None, trans_a=False, trans_b=False, alpha=1, beta=0):
        return "marked"

    module = types.ModuleType("gemm_override")
    module.mocha_register_kernels = mocha.hookimpl(
        lambda register: register("gemm", marked_gemm, backend="numpy", replace=True)
    )
    registry = build_registry(make_plugin_manager(extra_plugins=[("gemm_override", module)]))
    own = make_backend("numpy", registry=registry)
    assert own.registry is registry
    assert own.kernels.gemm(np.ones((1, 1)), np.ones((1, 1))) == "marked"
    assert mocha.CPUBackend(registry=registry).registry is registry
    plain = make_backend("numpy")
    assert plain.kernels.gemm(np.ones((1, 1)), np.ones((1, 1))).shape == (1, 1)


@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_mocha_backend_overrides_the_default_choice(monkeypatch, name):
    cls = make_backend(name).__class__
    monkeypatch.setenv("MOCHA_BACKEND", name)
    assert type(mocha.DefaultBackend()) is cls
    assert type(make_backend("default")) is cls
    assert type(make_backend("numpy")).__name__ == "NumpyBackend"  # a named one stays
    monkeypatch.setenv("MOCHA_BACKEND", "numpi")
    with pytest.raises(MochaError, match="numpi"):
        mocha.DefaultBackend()


def test_the_session_backend_is_exported(pytestconfig):
    import os

    from mocha.testing.pytest_plugin import session_backend

    wanted = session_backend(pytestconfig)
    if wanted:
        assert os.environ["MOCHA_BACKEND"] == wanted
        assert make_backend("default").name == make_backend(wanted).name
