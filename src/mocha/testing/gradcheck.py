"""Gradient checks and backend agreement for single layers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mocha.core.blob import Blob, NullBlob
from mocha.core.layer import Layer, SetupContext, state_class_of
from mocha.core.registry import lookup


def reference_backend(dtype: str = "float64", seed: int = 0) -> Any:
    """The NumPy backend (the reference every other backend is checked against), found in the
    plugin registry like any backend."""
    return lookup("backends", "numpy")(dtype=dtype, seed=seed)


class LayerHarness:
    """One layer set up outside a net, on host `inputs`.

    `no_grad` lists the bottom indices whose diff is a `NullBlob` (e.g. labels).
    Forward applies the layer's neuron as a net does; backward runs the neuron backward first.
    In-place layers (`is_inplace`) see their bottoms as their tops: the harness keeps the
    original inputs (`sources`) and restores them before every forward, so a forward is always
    applied to the same data; the bottom diffs play the top diffs.
    """

    def __init__(
        self,
        layer: Layer,
        inputs: Sequence[np.ndarray],
        backend: Any,
        no_grad: Sequence[int] = (),
        phase: str = "train",
        shared_params: list[Any] | None = None,
    ) -> None:
        self.layer, self.backend = layer, backend
        self.inputs = [backend.from_host(np.asarray(a)) for a in inputs]
        self.diffs: list[Blob] = [
            NullBlob() if (i in no_grad or not layer.can_do_bp) else backend.zeros(x.shape)
            for i, x in enumerate(self.inputs)
        ]
        ctx = SetupContext(phase=phase, shared_params=shared_params)
        self.state = state_class_of(layer)(layer, backend, self.inputs, self.diffs, ctx)
        if layer.is_inplace:
            self.state.blobs = list(self.inputs)
            self.state.blobs_diff = list(self.diffs)
        # what a finite-difference check perturbs: the inputs, or their originals if in place
        self.sources = [
            backend.asarray(x.data).copy() if layer.is_inplace else x.data for x in self.inputs
        ]
        for p in self.state.parameters:
            p.initializer.init(backend, p.blob)
        self._rng_state = backend.rng_state()

    def forward(self) -> None:
        self.backend.set_rng_state(self._rng_state)  # random layers: the same draw every time
        if self.layer.is_inplace:
            for x, src in zip(self.inputs, self.sources):
                x.data[...] = src
        self.state.forward(self.backend, self.inputs)
        neuron = getattr(self.layer, "neuron", None)
        if self.layer.has_neuron and neuron is not None and not neuron.is_identity:
            for blob in self.state.blobs:
                neuron.forward(self.backend, blob)

    def backward(self, top_grads: Sequence[np.ndarray] | None = None) -> None:
        state, backend = self.state, self.backend
        if top_grads is not None:
            for d, g in zip(state.blobs_diff, top_grads):
                if not d.is_null:
                    d.data[...] = backend.asarray(g)
        neuron = getattr(self.layer, "neuron", None)
        if self.layer.has_neuron and neuron is not None and not neuron.is_identity:
            for blob, d in zip(state.blobs, state.blobs_diff):
                if not d.is_null:
                    neuron.backward(backend, blob, d)
        state.backward(backend, self.inputs, self.diffs)

    def tops(self) -> list[np.ndarray]:
        return [b.to_host() for b in self.state.blobs]

    def objective(self, weights: Sequence[np.ndarray]) -> float:
        """Σ_j <weights_j, top_j> (+ the loss for loss layers), after a forward."""
        self.forward()
        total = float(self.state.loss) if self.layer.has_loss else 0.0
        for w, top in zip(weights, self.tops()):
            total += float(np.sum(w * top))
        return total

    def shutdown(self) -> None:
        self.state.shutdown(self.backend)


def run_layer(
    layer: Layer, inputs: Sequence[np.ndarray], backend: Any = None, **kwargs: Any
) -> LayerHarness:
    """Set the layer up on `inputs` and run one forward."""
    harness = LayerHarness(layer, inputs, backend or reference_backend(), **kwargs)
    harness.forward()
    return harness


def _numeric_grad(f, array: np.ndarray, coords, eps: float):
    """Central differences at `coords`; None where one-sided differences disagree (kink)."""
    out = []
    for c in coords:
        old = array[c]
        array[c] = old + eps
        fp = f()
        array[c] = old - eps
        fm = f()
        array[c] = old
        f0 = f()
        right, left = (fp - f0) / eps, (f0 - fm) / eps
        central = (fp - fm) / (2 * eps)
        if abs(right - left) > 1e-3 * max(1.0, abs(central)) + 1e-4:
            out.append(None)
        else:
            out.append(central)
    return out


def check_gradients(
    layer: Layer,
    inputs: Sequence[np.ndarray],
    *,
    no_grad: Sequence[int] = (),
    eps: float = 1e-6,
    rtol: float = 1e-4,
    atol: float = 1e-6,
    max_coords: int = 60,
    seed: int = 0,
    phase: str = "train",
    check_params: bool = True,
    prepare: Callable[[Any], None] | None = None,
) -> dict[str, int]:
    """Compare the layer's backward with float64 central differences.

    The objective is Σ_j <r_j, top_j> with fixed random r (plus the loss for loss layers).
    At most `max_coords` random coordinates per tensor are checked. Returns how many
    coordinates were checked and skipped (kinks); raises AssertionError on a mismatch.
    `prepare(backend)` runs on the fresh backend before the layer is set up (e.g. to register
    the parameters a `TiedInnerProductLayer` looks up).
    """
    backend = reference_backend("float64", seed)
    if prepare is not None:
        prepare(backend)
    h = LayerHarness(
        layer,
        [np.asarray(a, dtype=np.float64) for a in inputs],
        backend,
        no_grad=no_grad,
        phase=phase,
    )
    rng = np.random.default_rng(seed + 1)
    h.forward()
    weights = [rng.standard_normal(b.shape) for b in h.state.blobs]
    h.forward()
    h.backward([w for w in weights])
    analytic_inputs = [d.to_host() if not d.is_null else None for d in h.diffs]
    analytic_params = [p.gradient.to_host() for p in h.state.parameters] if check_params else []

    def f() -> float:
        return h.objective(weights)

    counts = {"checked": 0, "skipped": 0}

    def compare(label: str, array: np.ndarray, analytic: np.ndarray) -> None:
        flat_idx = rng.permutation(array.size)[:max_coords]
        coords = [np.unravel_index(i, array.shape) for i in flat_idx]
        numeric = _numeric_grad(f, array, coords, eps)
        for c, num in zip(coords, numeric):
            if num is None:
                counts["skipped"] += 1
                continue
            counts["checked"] += 1
            a = float(analytic[c])
            if not abs(a - num) <= atol + rtol * max(abs(a), abs(num)):
                raise AssertionError(
                    f"{type(layer).__name__}({layer.name!r}): gradient of {label} at {c}: "
                    f"backward gives {a:.10g}, finite differences {num:.10g}"
                )

    for i, (x, grad) in enumerate(zip(h.sources, analytic_inputs)):
        if grad is not None:
            compare(f"bottom {i} ({layer.bottoms[i]!r})", x, grad)
    for p, grad in zip(h.state.parameters, analytic_params):
        compare(f"parameter {p.name!r}", p.blob.data, grad)
    total = counts["checked"] + counts["skipped"]
    if total and counts["skipped"] > total // 2:
        raise AssertionError(
            f"{type(layer).__name__}: {counts['skipped']} of {total} coordinates sat on kinks; "
            f"draw inputs away from the non-smooth points"
        )
    h.shutdown()
    return counts


def check_layer(
    layer: Layer,
    inputs: Sequence[np.ndarray],
    backend: Any,
    *,
    no_grad: Sequence[int] = (),
    gradcheck: bool = True,
    phase: str = "train",
    prepare: Callable[[Any], None] | None = None,
    **grad_kwargs: Any,
) -> LayerHarness:
    """Run `layer` on `backend` and on the float64 reference with the same parameters:
    tops, loss, bottom diffs and parameter gradients must agree; a NullBlob diff is honoured;
    then (optionally) the reference passes the gradient check. `prepare(backend)` runs on
    both backends before the layer is set up (see `check_gradients`)."""
    from mocha.testing.backends import backend_tolerance

    tol = backend_tolerance(backend.dtype)
    ref_backend = reference_backend()
    if prepare is not None:
        prepare(ref_backend)
        prepare(backend)
    start = ref_backend.rng_state()
    ref = LayerHarness(
        layer,
        [np.asarray(a, np.float64) for a in inputs],
        ref_backend,
        no_grad=no_grad,
        phase=phase,
    )
    backend.set_rng_state(start)  # random layers draw the same numbers on both backends
    dut = LayerHarness(
        layer, [np.asarray(a) for a in inputs], backend, no_grad=no_grad, phase=phase
    )
    for p_ref, p in zip(ref.state.parameters, dut.state.parameters):
        p.blob.copy_from(p_ref.blob.to_host().astype(p.blob.dtype))
    ref.forward()
    dut.forward()
    for j, (a, b) in enumerate(zip(ref.tops(), dut.tops())):
        np.testing.assert_allclose(
            b,
            a,
            err_msg=f"{layer.name}: top {j} differs from the reference on {backend.name}",
            **tol,
        )
    if layer.has_loss:
        np.testing.assert_allclose(
            float(dut.state.loss),
            float(ref.state.loss),
            err_msg=f"{layer.name}: loss differs",
            **tol,
        )
    if layer.can_do_bp:
        rng = np.random.default_rng(3)
        grads = [rng.standard_normal(b.shape) for b in ref.state.blobs]
        ref.backward(grads)
        dut.backward(grads)
        for i, (d_ref, d) in enumerate(zip(ref.diffs, dut.diffs)):
            if not d_ref.is_null:
                np.testing.assert_allclose(
                    d.to_host(),
                    d_ref.to_host(),
                    err_msg=(f"{layer.name}: bottom diff {i} differs on {backend.name}"),
                    **tol,
                )
        for p_ref, p in zip(ref.state.parameters, dut.state.parameters):
            np.testing.assert_allclose(
                p.gradient.to_host(),
                p_ref.gradient.to_host(),
                err_msg=f"{layer.name}: gradient of {p.name} differs",
                **tol,
            )
        if gradcheck:
            check_gradients(
                layer, inputs, no_grad=no_grad, phase=phase, prepare=prepare, **grad_kwargs
            )
    ref.shutdown()
    return dut
