"""How kernels are registered: only names of the kernel table, the generic ("*") column by its
own plugin (so it outlives any one backend), `Backend.workspace` for every backend, and
`mocha backends --kernels` / `--json` saying which module serves each kernel where."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from mocha.cli.app import make_app
from mocha.core.backend import KERNEL_NAMES, Backend, KernelTable, check_kernel_name
from mocha.core.errors import PluginError, UnknownNameError
from mocha.core.hookspecs import hookimpl
from mocha.core.plugins import make_plugin_manager
from mocha.core.registry import build_registry
from mocha.plugins.backends import generic
from mocha.plugins.backends.numpy_backend import NumpyBackend


class _Plugin:
    """A plugin registering one kernel under a misspelt name."""

    @hookimpl
    def mocha_register_kernels(self, register):
        register("conv_fwd", lambda backend, x: x)


def test_the_registrar_refuses_a_kernel_name_outside_the_table():
    with pytest.raises(
        UnknownNameError,
        match=r"'conv_fwd' is not a kernel of the kernel "
        r"table\. Did you mean conv_forward",
    ):
        check_kernel_name("conv_fwd")
    for name in KERNEL_NAMES:
        check_kernel_name(name)  # no error
    pm = make_plugin_manager(load_entrypoints=False, extra_plugins=[("kernels.typo", _Plugin())])
    with pytest.raises(
        PluginError,
        match=r"plugin 'kernels.typo'.*'conv_fwd' is not a kernel "
        r"of the kernel table.*KERNEL_NAMES",
    ):
        build_registry(pm)


def test_the_generic_package_registers_the_whole_table():
    assert set(generic.KERNELS) == set(KERNEL_NAMES)
    backend = NumpyBackend()
    for name in KERNEL_NAMES:
        assert backend.kernels.implementation_of(name) == "*"
        module = backend.kernels.resolve(name).func.__module__
        assert module.startswith("mocha.plugins.backends.generic."), (name, module)


class _GpuLike(Backend):
    """Stands in for the CuPy backend (same name, NumPy arrays) to resolve its kernels."""

    name = "cupy"


def test_disabling_the_numpy_backend_leaves_other_backends_their_generic_kernels(monkeypatch):
    monkeypatch.setenv("MOCHA_DISABLE_PLUGINS", "backends.numpy_backend")
    registry = build_registry(make_plugin_manager())
    assert "numpy" not in registry.names("backends")
    assert "cupy" in registry.names("backends")
    for name in KERNEL_NAMES:
        assert "*" in registry.kernels[name], name
    gpu = _GpuLike(dtype="float64")
    gpu._kernels = KernelTable(gpu, registry.kernel_table())
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(gpu.kernels.softmax(x, 1).sum(), 1.0)
    np.testing.assert_allclose(gpu.kernels.gemm(x, x, trans_b=True), [[14.0]])


def test_kernel_table_gives_the_generic_version_explicitly():
    backend = NumpyBackend(dtype="float64")
    x = np.array([-1.0, 2.0])
    np.testing.assert_array_equal(backend.kernels.generic("relu_forward")(x, 0.0), [0.0, 2.0])
    with pytest.raises(AttributeError, match="no generic"):
        backend.kernels.generic("no_such_kernel")


def test_every_backend_has_workspaces():
    backend = NumpyBackend(dtype="float32")
    a = backend.workspace("scratch", (3, 4), np.float64)
    assert a.shape == (3, 4) and a.dtype == np.float64
    b = backend.workspace("scratch", (2, 2), np.float64)  # smaller: the same buffer
    assert np.shares_memory(a, b)
    c = backend.workspace("scratch", (5, 5), np.float64)  # larger: grown
    assert c.shape == (5, 5) and not np.shares_memory(a, c)
    assert not np.shares_memory(c, backend.workspace("other", (5, 5), np.float64))
    assert not np.shares_memory(c, backend.workspace("scratch", (5, 5), np.float32))
    backend.shutdown()
    assert not np.shares_memory(c, backend.workspace("scratch", (5, 5), np.float64))


def test_cli_shows_which_module_serves_each_kernel():
    runner, app = CliRunner(), make_app()
    result = runner.invoke(app, ["backends", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    numpy_conv = rows["numpy"]["kernels"]["conv_forward"]
    assert numpy_conv["module"] == "mocha.plugins.backends.generic.conv"
    assert numpy_conv["generic"] is True and numpy_conv["plugin"] == "backends.generic"
    numba_conv = rows["numba"]["kernels"]["conv_forward"]
    assert numba_conv["module"] == "mocha.plugins.backends.numba_backend.conv"
    assert numba_conv["generic"] is False and numba_conv["plugin"] == "backends.numba_backend"
    assert rows["numba"]["kernels"]["gemm"]["module"] == "mocha.plugins.backends.numba_backend.blas"
    assert rows["cupy"]["kernels"]["softmax"]["module"] == (
        "mocha.plugins.backends.generic.softmax"
    )
    for row in rows.values():
        assert set(row["kernels"]) == set(KERNEL_NAMES)

    result = runner.invoke(app, ["backends", "--kernels"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = {
        line.split("│")[1].strip(): line
        for line in result.stdout.splitlines()
        if line.count("│") >= 4
    }
    assert set(KERNEL_NAMES) <= set(lines)
    cells = [c.strip() for c in lines["conv_forward"].split("│")[2:-1]]
    header = next(line for line in result.stdout.splitlines() if "kernel" in line and "┃" in line)
    columns = [c.strip() for c in header.split("┃")[2:-1]]
    served = dict(zip(columns, cells))
    assert served["numba"] == "numba_backend.conv"
    assert served["numpy"] == served["cupy"] == "generic.conv"
