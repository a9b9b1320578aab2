"""The in-place random mask shared by DropoutLayer and RandomMaskLayer (semantics §3.10)."""

from __future__ import annotations

from mocha.core.layer import LayerState


class InplaceMaskState(LayerState):
    """x ← x · [u > ratio] · scale for every bottom, u ~ U[0, 1) drawn per forward; the same
    mask scales the bottom diffs in backward, after which the original x is restored.
    Active only while the net is in the training phase (`self.phase == "train"`, which the
    net updates when its phase changes); the masks are allocated on first use."""

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        self.scale = 1.0 / (1.0 - layer.ratio) if self.auto_scale() else 1.0
        self.shapes = [x.shape for x in inputs]
        self.masks: list = []
        self.saved: list = []  # the producer's original output
        self.applied = False  # whether the last forward masked (so backward must too)

    @property
    def active(self) -> bool:
        return self.phase == "train"

    def auto_scale(self) -> bool:
        return bool(getattr(self.layer, "auto_scale", False))

    def forward(self, backend, inputs):
        self.applied = self.active
        if not self.applied:
            return
        if not self.masks:
            self.masks = [backend.empty(s) for s in self.shapes]
            self.saved = [backend.empty(s) for s in self.shapes]
        ratio = self.layer.ratio
        for x, mask, saved in zip(inputs, self.masks, self.saved):
            u = backend.random_uniform(x.shape)
            backend.kernels.dropout_mask(u, ratio, self.scale, out=mask.data)
            saved.data[...] = x.data
            backend.kernels.dropout_apply(x.data, mask.data, out=x.data)

    def backward(self, backend, inputs, diffs):
        # y = x · m (m = [u > ratio] · scale)  =>  dx = g · m, in place on the shared diff
        if not self.applied:
            return
        for x, dx, mask, saved in zip(inputs, diffs, self.masks, self.saved):
            if not dx.is_null:
                backend.kernels.dropout_apply(dx.data, mask.data, out=dx.data)
            x.data[...] = saved.data  # A8: give the producer back its own output


def ratio_ok(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < 1
