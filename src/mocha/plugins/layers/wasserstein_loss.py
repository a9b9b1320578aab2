"""WassersteinLossLayer: the entropically regularised optimal-transport loss between predicted
and target distributions, computed by Sinkhorn iterations (semantics §3.14; Mocha's
`src/layers/wasserstein-loss.jl`, which the Mocha manual does not list).

Per sample, with `a` the prediction and `b` the target distribution over C classes, the cost
matrix M (C, C) and K = exp(-λM):

    u ← 1/C;  repeat sinkhorn_iter times:  u ← a ./ (K·(b ./ (Kᵀu)))
    v = b ./ (Kᵀu)
    loss = Σ_samples Σ_i u_i · ((K⊙M)·v)_i / N        (= Σ ⟨T, M⟩ / N, T = diag(u)·K·diag(v))
    d pred = log(u) / λ / N

`log(u)/λ` is the Sinkhorn dual potential α: the gradient, with respect to `a`, of the
*regularised* transport cost ⟨T, M⟩ − H(T)/λ (H(T) = −Σ T(log T − 1)) at convergence, up to an
additive constant per sample, which does not matter for a prediction that moves on the
simplex. It is not the derivative of the reported (unregularised) ⟨T, M⟩, nor of what a finite
number of iterations computes; this is Mocha's definition and the port keeps it.
"""

from __future__ import annotations

import math
from typing import Any

from mocha.core.errors import DataError, ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field


def as_cost_matrix(value: Any) -> tuple:
    """A nested list, tuple or array (anything with `tolist`) -> a tuple of rows of floats."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(row, (list, tuple)) for row in value
    ):
        raise ValueError("the cost matrix must be a 2-D array (a list of rows)")
    return tuple(tuple(float(x) for x in row) for row in value)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class WassersteinLossState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        xp = self.xp = backend.xp
        pred, label = inputs
        C = len(layer.M)
        self.n = pred.shape[0]
        if pred.ndim < 2 or pred.size != self.n * C:
            raise ShapeError(
                f"{type(layer).__name__}({layer.name!r}): prediction blob {layer.bottoms[0]!r} "
                f"has shape {pred.shape}, but field 'M' is {C}x{C}: every sample must hold one "
                f"distribution over the {C} classes of M (shape (N, {C}), or (N, {C}, 1, 1))"
            )
        if label.ndim < 1 or label.shape[0] != self.n or label.size not in (self.n, self.n * C):
            raise ShapeError(
                f"{type(layer).__name__}({layer.name!r}): label blob {layer.bottoms[1]!r} has "
                f"shape {label.shape}; with prediction shape {pred.shape} it must hold one class "
                f"index per sample ({self.n} elements) or one distribution over {C} classes "
                f"per sample ({self.n * C} elements)"
            )
        self.C = C
        self.label_is_index = label.size == self.n
        # exp(-λM) in float64, then rounded to the backend's dtype.
        m64 = xp.asarray(layer.M, dtype="float64")
        k64 = xp.exp(-layer.lambda_ * m64)
        self.K = k64.astype(backend.dtype)
        self.KM = (k64 * m64).astype(backend.dtype)
        # The floor for denominators and for log(u): the smallest normal number of the dtype.
        self.tiny = float(xp.finfo(backend.dtype).tiny)
        for axis, what in ((1, "row"), (0, "column")):
            empty = ~(self.K > 0).any(axis=axis)
            if bool(empty.any()):
                i = int(xp.argmax(empty))
                raise layer.config_error(
                    "lambda_",
                    layer.lambda_,
                    f"exp(-lambda_ * M) underflows to 0 in the whole {what} {i} of the cost "
                    f"matrix in {backend.dtype.name}; lower lambda_ or rescale M",
                )

    def _check(self, x, blob_name, what):
        xp = self.xp
        bad = ~((x >= 0) & xp.isfinite(x))  # NaN fails both
        if bool(bad.any()):
            raise DataError(
                f"{type(self.layer).__name__}({self.layer.name!r}): {what} "
                f"{float(x[bad].ravel()[0])} in blob {blob_name!r} is out of range: "
                f"distributions must be finite and >= 0"
            )
        empty = ~(x.sum(axis=1) > 0)
        if bool(empty.any()):
            raise DataError(
                f"{type(self.layer).__name__}({self.layer.name!r}): sample "
                f"{int(xp.argmax(empty))} in blob {blob_name!r} has total mass 0; the "
                f"Wasserstein loss needs a distribution with positive mass"
            )

    def _target(self, label):
        xp = self.xp
        layer = self.layer
        if not self.label_is_index:
            b = label.data.reshape(self.n, self.C)
            self._check(b, layer.bottoms[1], "label")
            return b
        raw = label.data.reshape(self.n, 1)
        rounded = xp.rint(raw)
        bad = ~((rounded >= 0) & (rounded < self.C) & (xp.abs(raw - rounded) <= 1e-3))
        if bool(bad.any()):  # NaN fails every comparison, so it is refused too
            raise DataError(
                f"{type(layer).__name__}({layer.name!r}): label {float(raw[bad].ravel()[0])} "
                f"in blob {layer.bottoms[1]!r} is out of range: labels must be integer class "
                f"indices in [0, {self.C}) or distributions over the {self.C} classes"
            )
        classes = xp.arange(self.C, dtype=raw.dtype).reshape(1, self.C)
        return (rounded == classes).astype(raw.dtype)

    def forward(self, backend, inputs):
        xp = backend.xp
        pred, label = inputs
        a = pred.data.reshape(self.n, self.C)
        self._check(a, self.layer.bottoms[0], "prediction")
        b = self._target(label)
        K, tiny = self.K, self.tiny
        # Row n of u, v is sample n: (Kᵀu)_j = (u·K)_j and (K·w)_i = (w·Kᵀ)_i.
        u = xp.full((self.n, self.C), 1.0 / self.C, dtype=a.dtype)
        for _ in range(self.layer.sinkhorn_iter):
            w = b / xp.maximum(u @ K, tiny)
            u = a / xp.maximum(w @ K.T, tiny)
        v = b / xp.maximum(u @ K, tiny)
        self.u, self.v = u, v
        loss = float((u * (v @ self.KM.T)).sum()) / self.n
        if not math.isfinite(loss) or not bool(xp.isfinite(u).all()):
            raise DataError(
                f"{type(self.layer).__name__}({self.layer.name!r}): the Sinkhorn iterations "
                f"overflowed (loss {loss}); lower lambda_ (= {self.layer.lambda_}) or rescale M"
            )
        self.loss = loss

    def backward(self, backend, inputs, diffs):
        # Mocha: d pred = log(u)/λ/N, the dual potential α of the regularised problem (up to a
        # constant per sample). By the same symmetry d label = log(v)/λ/N (β) for a
        # distribution label; class indices get no gradient. log is floored at `tiny`.
        xp = backend.xp
        dpred, dlabel = diffs
        scale = 1.0 / (self.layer.lambda_ * self.n)
        if not dpred.is_null:
            g = xp.log(xp.maximum(self.u, self.tiny)) * scale
            dpred.data[...] = g.reshape(dpred.shape)
        if not dlabel.is_null:
            if self.label_is_index:
                dlabel.data[...] = 0
            else:
                g = xp.log(xp.maximum(self.v, self.tiny)) * scale
                dlabel.data[...] = g.reshape(dlabel.shape)


class WassersteinLossLayer(
    Layer, is_sink=True, can_do_bp=True, has_loss=True, bottoms="2", tops="0"
):
    """Entropically regularised Wasserstein loss between a predicted and a target distribution
    per sample, by Sinkhorn iterations (module docstring for the formulas):

        loss = Σ_n ⟨T_n, M⟩ / N,  T_n = diag(u_n)·exp(-λM)·diag(v_n),  d pred = log(u)/λ/N

    Fields: `M` (the C×C ground cost matrix, required, C ≥ 2; a nested list or an array;
    finite and ≥ 0), `lambda_` (Mocha's `lambda`, the regularisation strength, required,
    > 0; larger is closer to the exact Wasserstein distance), `sinkhorn_iter` (default 50,
    ≥ 1). Like Mocha, it has no `weight` field.

    Bottoms: the prediction, one distribution over the C classes per sample (every non-batch
    element of a sample is one class, as in Mocha: shape (N, C) or (N, C, 1, 1)), and the
    target: either one 0-based class index per sample (shape (N,) or (N, 1); it becomes a
    one-hot distribution) or a distribution per sample with the prediction's element count.
    Both must be finite, ≥ 0 and have positive mass per sample; the losses are meaningful when
    the masses are equal (normally 1), which is not checked. Tops: none.

    Gradients: d pred = log(u)/λ/N as in Mocha; d label = log(v)/λ/N for a distribution label
    (not in Mocha), 0 for class indices. Where a class has no mass u (or v) is 0 and Mocha's
    log(0) = -inf is replaced by log of the dtype's smallest normal number (`finfo.tiny`);
    the same floor keeps the Sinkhorn denominators away from 0.
    """

    name: str = name_field("wasserstein-loss")
    M: tuple = config_field(convert=as_cost_matrix)
    lambda_: float = config_field(
        check=lambda v: _is_real(v) and math.isfinite(v) and v > 0,
        rule="must be a finite number > 0",
    )
    sinkhorn_iter: int = config_field(
        50,
        check=lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        rule="must be an integer >= 1",
    )
    state_cls = WassersteinLossState

    def validate(self) -> None:
        C = len(self.M)
        if C < 2 or any(len(row) != C for row in self.M):
            lengths = sorted({len(row) for row in self.M})
            raise self.config_error(
                "M",
                self.M,
                f"must be a square C x C cost matrix with "
                f"C >= 2 classes, got {C} row(s) of length(s) {lengths}",
            )
        for i, row in enumerate(self.M):
            for j, x in enumerate(row):
                if not (math.isfinite(x) and x >= 0):
                    raise self.config_error(
                        "M", self.M, f"entry M[{i}, {j}] = {x} must be finite and >= 0"
                    )


@hookimpl
def mocha_register_layers(register):
    register(WassersteinLossLayer)
