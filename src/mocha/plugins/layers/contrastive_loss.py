"""ContrastiveLossLayer: Caffe's ContrastiveLoss for siamese nets (semantics §3.16)."""

from __future__ import annotations

from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, config_field, name_field
from mocha.plugins.layers._loss import RunningLossState


class ContrastiveLossState(RunningLossState):
    stat_key = "contrastive-loss"
    stat_title = "Contrastive-loss"

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        a, b, y = inputs
        n = a.shape[0]
        if a.shape != b.shape or y.size != n or b.shape[0] != n or y.shape[0] != n:
            raise ShapeError(
                f"ContrastiveLossLayer({layer.name!r}): bottoms {layer.bottoms[0]!r} "
                f"{a.shape} and {layer.bottoms[1]!r} {b.shape} must have one shape, and "
                f"{layer.bottoms[2]!r} {y.shape} one similarity label per pair"
            )
        self.n = n

    def forward(self, backend, inputs):
        xp = backend.xp
        a, b, y = (blob.data for blob in inputs)
        self.diff = (a - b).reshape(self.n, -1)
        self.d2 = (self.diff * self.diff).sum(axis=1)  # squared distances
        self.similar = y.reshape(self.n).astype(int) != 0  # Caffe: static_cast<int>(y)
        m = self.layer.margin
        if self.layer.legacy_version:
            apart = xp.maximum(m - self.d2, 0)
        else:
            apart = xp.maximum(m - xp.sqrt(self.d2), 0) ** 2
        per = xp.where(self.similar, self.d2, apart)
        self.loss = self.layer.weight * float(per.sum()) / (2 * self.n)
        self.accumulate(self.n)

    def backward(self, backend, inputs, diffs):
        # L = w/(2N) Σ_n [y d² + (1 − y) max(m − d, 0)²] with d = ‖a − b‖ (legacy: max(m − d², 0)):
        #   similar pairs: ∂L/∂a = w/N (a − b);
        #   dissimilar, m > d: ∂L/∂a = −w/N (m − d)/d · (a − b)  (legacy, m > d²: −w/N (a − b));
        #   ∂L/∂b = −∂L/∂a (Caffe divides by d + 1e-4 instead of d; this is the exact gradient)
        xp = backend.xp
        m, k = self.layer.margin, self.layer.weight / self.n
        if self.layer.legacy_version:
            coef = xp.where(m - self.d2 > 0, -1.0, 0.0)
        else:
            d = xp.sqrt(self.d2)
            safe = xp.where(d > 0, d, 1.0)
            coef = xp.where((m - d > 0) & (d > 0), -(m - d) / safe, 0.0)
        coef = xp.where(self.similar, 1.0, coef) * k
        grad = coef[:, None] * self.diff
        for i, sign in ((0, 1.0), (1, -1.0)):
            if not diffs[i].is_null:
                diffs[i].data[...] = (sign * grad).reshape(diffs[i].shape)
        if not diffs[2].is_null:  # the labels are constants
            diffs[2].data[...] = 0


class ContrastiveLossLayer(
    Layer, is_sink=True, can_do_bp=True, has_loss=True, has_stats=True, bottoms="any", tops="0"
):
    """Caffe's ContrastiveLoss (siamese nets): with d_n = ‖a_n − b_n‖ over each pair's
    features and y_n the similarity label (nonzero: similar, Caffe's int cast),

        loss = weight / (2N) · Σ_n [ y_n d_n² + (1 − y_n) max(margin − d_n, 0)² ]

    (`legacy_version`: max(margin − d_n², 0) for dissimilar pairs, Caffe's old form).
    Gradients to a and b (±); the label gets none. Where d_n = 0 a dissimilar pair's
    gradient is 0 (Caffe divides by d_n + 1e-4 instead of d_n; this is the exact gradient).
    Fields: `margin` (1), `legacy_version` (false), `weight` (1; Caffe's loss_weight).
    Bottoms: a, b (the same shape, N first) and y (N labels). Tops: none.
    Statistics: "<name>-contrastive-loss", the running mean of the loss.
    """

    name: str = name_field("contrastive-loss")
    margin: float = config_field(
        1.0,
        check=lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        rule="must be a number",
    )
    legacy_version: bool = config_field(
        False, check=lambda v: isinstance(v, bool), rule="must be a bool"
    )
    weight: float = config_field(
        1.0,
        check=lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v >= 0,
        rule="must be a number >= 0",
    )
    state_cls = ContrastiveLossState

    def validate(self) -> None:
        if len(self.bottoms) != 3:
            raise self.config_error("bottoms", self.bottoms, "needs 3 bottoms: a, b, label")


@hookimpl
def mocha_register_layers(register):
    register(ContrastiveLossLayer)
