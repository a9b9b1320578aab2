"""The kernel table is one typed protocol, `mocha.core.kernel_names.Kernels` (issue 23):
`KERNEL_NAMES` is its methods, `backend.kernels` is typed with it, and every registered
implementation takes exactly the protocol method's arguments (after `backend`), so the
signature an editor shows for `backend.kernels.<name>` is the one that runs."""

from __future__ import annotations

import inspect
import typing

import pytest

import mocha
from mocha.core.backend import Backend
from mocha.core.kernel_names import KERNEL_NAMES, Kernels


def _parameters(signature: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_kernel_names_are_the_protocol_methods():
    methods = [n for n, v in vars(Kernels).items() if callable(v) and not n.startswith("_")]
    assert list(KERNEL_NAMES) == methods and {"im2col", "gemm", "add_scaled"} <= set(methods)
    assert "generic" not in KERNEL_NAMES and "names" not in KERNEL_NAMES  # the table's own


def test_backend_kernels_is_typed_with_the_protocol():
    hints = typing.get_type_hints(Backend.kernels.fget, vars(mocha.core.backend))
    assert hints["return"] is Kernels


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_every_implementation_matches_the_protocol(name):
    expected = _parameters(inspect.signature(getattr(Kernels, name)))[1:]  # after self
    impls = mocha.get_registry().kernels[name]
    assert "*" in impls, f"kernel {name!r} has no generic version"
    for backend_name, entry in impls.items():
        got = _parameters(inspect.signature(entry.obj))
        assert got[0][0] == "backend", (name, backend_name)
        assert got[1:] == expected, (
            f"{entry.obj.__module__}.{entry.obj.__qualname__} ({backend_name}) does not take "
            f"the arguments of Kernels.{name}"
        )
