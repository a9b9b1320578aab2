"""GaussianKLLossLayer: KL divergence of a diagonal Gaussian from the standard normal, the
regularizer of variational auto-encoders (semantics §3.14)."""

from __future__ import annotations

from mocha.core.errors import DataError, ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, config_field, name_field
from mocha.plugins.layers._loss import RunningLossState


class GaussianKLLossState(RunningLossState):
    stat_key = "encoder-loss"
    stat_title = "Encoder-loss"

    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        mu, sigma = inputs
        if mu.shape != sigma.shape:
            raise ShapeError(
                f"{type(layer).__name__}({layer.name!r}): bottoms {layer.bottoms[0]!r} "
                f"{mu.shape} and {layer.bottoms[1]!r} {sigma.shape} must have the same shape"
            )
        self.n = mu.shape[0]

    def forward(self, backend, inputs):
        xp = backend.xp
        mu, sigma = inputs
        bad = ~(sigma.data > 0)
        if bool(bad.any()):
            raise DataError(
                f"{type(self.layer).__name__}({self.layer.name!r}): standard deviation "
                f"{float(sigma.data[bad].ravel()[0])} in blob {self.layer.bottoms[1]!r} is out "
                f"of range: it must be > 0"
            )
        m, s = mu.data, sigma.data
        total = float((m * m + s * s - 2 * xp.log(s) - 1).sum())
        self.loss = 0.5 * self.layer.weight * total / self.n
        self.accumulate(self.n)

    def backward(self, backend, inputs, diffs):
        # L = w/(2N) Σ (μ² + σ² - 2 log σ - 1)  =>  dμ = w/N · μ,  dσ = w/N · (σ - 1/σ).
        xp = backend.xp
        mu, sigma = inputs
        dmu, dsigma = diffs
        scale = self.layer.weight / self.n
        if not dmu.is_null:
            xp.multiply(mu.data, scale, out=dmu.data)
        if not dsigma.is_null:
            dsigma.data[...] = scale * (sigma.data - 1 / sigma.data)


class GaussianKLLossLayer(
    Layer, is_sink=True, can_do_bp=True, has_loss=True, has_stats=True, bottoms="2", tops="0"
):
    """loss = 0.5·weight/N · Σ (μ² + σ² - 2·log σ - 1) = weight/N · KL(N(μ, σ²) ‖ N(0, I)).

    Fields: `weight` (≥ 0, default 1). Bottoms (default ["mu", "sigma"]): the means and the
    standard deviations (> 0), of the same shape, batch first. Tops: none.
    Statistics: "<name>-encoder-loss", the running mean of the loss weighted by batch size.
    """

    name: str = name_field("gauss-kl-loss")
    bottoms: tuple[str, ...] = config_field(
        ("mu", "sigma"), convert=lambda v: (v,) if isinstance(v, str) else tuple(map(str, v))
    )
    weight: float = config_field(1.0, check=lambda v: v >= 0, rule="must be >= 0")
    state_cls = GaussianKLLossState


@hookimpl
def mocha_register_layers(register):
    register(GaussianKLLossLayer)
