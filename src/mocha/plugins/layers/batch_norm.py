"""BatchNormLayer: batch normalization per channel, with moving statistics (Caffe's BatchNorm,
PyTorch's BatchNorm1d/2d; semantics §3.16)."""

from __future__ import annotations

from typing import Any

from mocha.core.blob import NullBlob
from mocha.core.errors import ShapeError
from mocha.core.hookspecs import hookimpl
from mocha.core.layer import Layer, LayerState, config_field, name_field
from mocha.core.parameter import make_parameter
from mocha.plugins.components.constraints import NoCons
from mocha.plugins.components.initializers import ConstantInitializer
from mocha.plugins.components.neurons import Identity
from mocha.plugins.components.regularizers import NoRegu

#: the statistics, in Caffe's blob order; they are parameters with learning rate 0
STATISTICS = ("mean", "variance", "scale_factor")


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class BatchNormState(LayerState):
    def __init__(self, layer, backend, inputs, diffs, ctx):
        super().__init__(layer, backend, inputs, diffs, ctx)
        x = inputs[0]
        if x.ndim < 2:
            raise ShapeError(
                f"BatchNormLayer({layer.name!r}): bottom {layer.bottoms[0]!r} has shape "
                f"{x.shape}; batch normalization needs (N, C, ...) with a channel axis 1"
            )
        C = x.shape[1]
        pytorch = layer.momentum > 0  # PyTorch's fresh statistics: mean 0, variance 1
        starts = (0.0, 1.0 if pytorch else 0.0, 1.0 if pytorch else 0.0)
        self.parameters = [
            self._param(backend, ctx, name, (1,) if name == "scale_factor" else (C,), v, 0.0)
            for name, v in zip(STATISTICS, starts)
        ]
        # what data-parallel training averages over the ranks after each backward
        self.statistics = self.parameters[:2]
        if layer.affine:
            self.parameters.append(self._param(backend, ctx, "scale", (C,), 1.0, layer.scale_lr))
            self.parameters.append(self._param(backend, ctx, "bias", (C,), 0.0, layer.bias_lr))
        self.batch_mean, self.batch_var = backend.zeros((C,)).data, backend.zeros((C,)).data
        self.pending = False  # a training forward's statistics wait for its backward
        self.used_batch = False
        self.used: tuple[Any, Any] = (None, None)  # the (mean, variance) of the last forward
        self.blobs = [backend.empty(x.shape)]
        wanted = not diffs[0].is_null or layer.affine  # a gradient for x, γ or β
        self.blobs_diff = [backend.empty(x.shape) if wanted else NullBlob()]

    def _param(self, backend, ctx, name, shape, value, lr):
        layer = self.layer
        return make_parameter(
            backend, name, shape, ConstantInitializer(value), NoRegu(), NoCons(), lr,
            layer.name, ctx.shared_params,
        )  # fmt: skip

    def _affine(self) -> tuple[Any, Any]:
        if not self.layer.affine:
            return None, None
        return self.parameters[3].blob.data, self.parameters[4].blob.data

    def _stored(self, backend) -> tuple[Any, Any]:
        """The stored statistics: sums / scale factor (0 where the factor is 0, as Caffe)."""
        sf = self.parameters[2].blob.data
        k = backend.xp.where(sf == 0, 0, 1 / backend.xp.where(sf == 0, 1, sf))
        return self.parameters[0].blob.data * k, self.parameters[1].blob.data * k

    def _view(self, a: Any) -> Any:
        return a.reshape(a.shape[0], a.shape[1], -1)

    def forward(self, backend, inputs):
        layer = self.layer
        self.used_batch = (
            self.phase == "train" if layer.use_global_stats is None else not layer.use_global_stats
        )
        scale, shift = self._affine()
        if self.used_batch:
            mean, var = self.batch_mean, self.batch_var
            self.pending = self.phase == "train"
        else:
            mean, var = self._stored(backend)
        self.used = (mean, var)
        backend.kernels.batchnorm_forward(
            self._view(inputs[0].data),
            mean,
            var,
            layer.eps,
            scale,
            shift,
            self.used_batch,
            out=self._view(self.blobs[0].data),
        )

    def _commit(self) -> None:
        """Fold the last training forward's batch statistics into the moving ones (Caffe:
        S ← λS + b, s_f ← λs_f + 1; PyTorch: S ← (1 − α)S + α·s_f·b), with the unbiased
        variance M/(M − 1)·σ²_B (M = values per channel; factor 1 when M = 1)."""
        layer, (sm, sv, sf) = self.layer, (p.blob.data for p in self.parameters[:3])
        m = self.blobs[0].size // self.batch_mean.size
        unbias = m / (m - 1) if m > 1 else 1.0
        if layer.momentum > 0:
            a = layer.momentum
            sm[...] = (1 - a) * sm + (a * sf) * self.batch_mean
            sv[...] = (1 - a) * sv + (a * sf) * (unbias * self.batch_var)
        else:
            lam = layer.moving_average_fraction
            sf[...] = sf * lam + 1
            sm[...] = lam * sm + self.batch_mean
            sv[...] = lam * sv + unbias * self.batch_var
        self.pending = False

    def backward(self, backend, inputs, diffs):
        # x̂ = (x − μ)·r, r = (σ² + eps)^-½, y = γx̂ + β; g = ∂L/∂y, M values per channel:
        #   dβ = Σ g, dγ = Σ g·x̂;
        #   batch statistics (μ, σ² of this batch): dx = γr(g − dβ/M − x̂·dγ/M)
        #     (∂μ/∂x = 1/M, ∂σ²/∂x = 2(x − μ)/M; batchnorm_backward);
        #   stored statistics (constants): dx = γr·g.
        # The moving statistics take this batch's statistics here, not in the forward, so
        # that a snapshot taken between a forward and its backward resumes bitwise.
        layer, dx = self.layer, diffs[0]
        if self.pending:
            self._commit()
        want_params = layer.affine and not self.frozen
        if dx.is_null and not want_params:
            return
        scale, _ = self._affine()
        mean, var = self.used
        grads = (
            (self.parameters[3].gradient.data, self.parameters[4].gradient.data)
            if want_params
            else (None, None)
        )
        backend.kernels.batchnorm_backward(
            self._view(inputs[0].data),
            self._view(self.blobs_diff[0].data),
            mean,
            var,
            layer.eps,
            scale,
            self.used_batch,
            out=(None if dx.is_null else self._view(dx.data), *grads),
        )


class BatchNormLayer(
    Layer, has_param=True, has_neuron=True, can_do_bp=True, bottoms="1", tops="same"
):
    """Batch normalization of each channel (axis 1) over the batch and the other axes:

        y = (x − μ_c) / sqrt(σ²_c + eps)   [· γ_c + β_c with `affine`]

    In training (`use_global_stats` unset, phase "train"), μ and σ² are the batch's mean and
    biased variance of channel c over N, H, W (or over N for a 2-D (N, C) blob), and the
    moving statistics take them when the backward of that forward runs. In evaluation (phase
    "test", or `use_global_stats = true`) the stored statistics are used: μ = S_mean / s_f,
    σ² = S_var / s_f (both 0 when s_f = 0, as in Caffe).

    The statistics are three parameters with learning rate 0, saved in models and snapshots
    in Caffe's blob order: `mean` (S_mean, (C,)), `variance` (S_var, (C,)), `scale_factor`
    (s_f, (1,)). With unbiased batch variance v = M/(M − 1)·σ²_B (M values per channel):
      Caffe's rule (`momentum = 0`, the default): s_f ← λ·s_f + 1, S ← λ·S + batch value,
        λ = `moving_average_fraction` (0.999); a fresh layer starts at all zeros. A Caffe
        model's three blobs load as they are.
      PyTorch's rule (`momentum` α > 0, e.g. 0.1): S ← (1 − α)·S + α·s_f·batch value, s_f
        unchanged; a fresh layer starts at mean 0, variance 1, s_f = 1. PyTorch's
        running_mean / running_var load as `mean` / `variance` with `scale_factor` = 1.
      (PyTorch's momentum=None, the cumulative average, is Caffe's rule with λ = 1: S =
      running value · num_batches_tracked, s_f = num_batches_tracked.)

    Fields: `eps` (1e-5), `moving_average_fraction` (0.999), `momentum` (0: Caffe's rule),
    `use_global_stats` (None: by phase; true: always the stored statistics, e.g. frozen BN in
    fine-tuning; false: always the batch's), `affine` (false: no γ, β, Caffe pairs BatchNorm
    with a ScaleLayer; true: learnable `scale` γ (init 1) and `bias` β (init 0), PyTorch's
    affine=True), `scale_lr`, `bias_lr` (1), `neuron` (Identity; applied to the top, e.g.
    the ReLU that follows a BatchNorm). A frozen layer still updates its statistics in
    training unless `use_global_stats = true`. Under data-parallel training each rank uses its
    shard's batch statistics and the moving ones are averaged over the ranks (`statistics`).
    Bottoms: one blob (N, C, ...). Tops: one blob of the same shape.
    """

    name: str = name_field("batchnorm")
    eps: float = config_field(1e-5, check=lambda v: _number(v) and v > 0, rule="must be > 0")
    moving_average_fraction: float = config_field(
        0.999, check=lambda v: _number(v) and 0 <= v <= 1, rule="must be in [0, 1]"
    )
    momentum: float = config_field(
        0.0, check=lambda v: _number(v) and 0 <= v <= 1, rule="must be in [0, 1]"
    )
    use_global_stats: bool | None = config_field(
        None, check=lambda v: v is None or isinstance(v, bool), rule="must be true, false or unset"
    )
    affine: bool = config_field(False, check=lambda v: isinstance(v, bool), rule="must be a bool")
    scale_lr: float = config_field(1.0, check=_number, rule="must be a number")
    bias_lr: float = config_field(1.0, check=_number, rule="must be a number")
    neuron: Any = Identity()
    state_cls = BatchNormState


@hookimpl
def mocha_register_layers(register):
    register(BatchNormLayer)
