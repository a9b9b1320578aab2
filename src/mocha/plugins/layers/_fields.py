"""Field blocks several layers share: 2-D window geometry and parameter settings.

* `kernel_field()`, `stride_field()`, `pad_field()`: (height, width) pairs (an int means
  both), validated alike wherever a layer slides a 2-D window (convolution, pooling).
* `WeightFields`, `FilterFields`, `BiasFields`: the initializer / regularizer / constraint /
  local learning-rate of a parameter, as base classes of the layers that own the parameter
  (`class InnerProductLayer(WeightFields, BiasFields, has_param=True, ...)`). Defaults: a
  weight or filter is Xavier-initialized, L2-regularized (1), unconstrained, lr × 1; a bias
  is 0-initialized, unregularized, unconstrained, lr × 2 (Caffe's and Mocha's defaults).
* `field_parameter(backend, layer, ctx, name, shape)`: the parameter those fields describe.
"""

from __future__ import annotations

from typing import Any

from mocha.core.layer import Layer, config_field, pair
from mocha.core.parameter import Parameter, make_parameter
from mocha.plugins.components.constraints import NoCons
from mocha.plugins.components.initializers import ConstantInitializer, XavierInitializer
from mocha.plugins.components.regularizers import L2Regu, NoRegu


def kernel_field(default: Any = (1, 1)) -> Any:
    """A (height, width) window size, both >= 1."""
    return config_field(
        default, convert=pair, check=lambda v: min(v) >= 1, rule="both sizes must be >= 1"
    )


def stride_field(default: Any = (1, 1)) -> Any:
    """A (height, width) step, both >= 1."""
    return config_field(
        default, convert=pair, check=lambda v: min(v) >= 1, rule="both strides must be >= 1"
    )


def pad_field(default: Any = (0, 0), rule: str = "both paddings must be >= 0") -> Any:
    """A (height, width) zero padding (or (front, back) along one axis), both >= 0."""
    return config_field(default, convert=pair, check=lambda v: min(v) >= 0, rule=rule)


class WeightFields(Layer):
    """`weight_init` (Xavier), `weight_regu` (L2Regu(1)), `weight_cons` (NoCons),
    `weight_lr` (1)."""

    weight_init: Any = XavierInitializer()
    weight_regu: Any = L2Regu(1.0)
    weight_cons: Any = NoCons()
    weight_lr: float = 1.0


class FilterFields(Layer):
    """`filter_init` (Xavier), `filter_regu` (L2Regu(1)), `filter_cons` (NoCons),
    `filter_lr` (1)."""

    filter_init: Any = XavierInitializer()
    filter_regu: Any = L2Regu(1.0)
    filter_cons: Any = NoCons()
    filter_lr: float = 1.0


class BiasFields(Layer):
    """`bias_init` (Constant 0), `bias_regu` (NoRegu), `bias_cons` (NoCons), `bias_lr` (2)."""

    bias_init: Any = ConstantInitializer(0.0)
    bias_regu: Any = NoRegu()
    bias_cons: Any = NoCons()
    bias_lr: float = 2.0


def field_parameter(backend: Any, layer: Any, ctx: Any, name: str, shape: tuple) -> Parameter:
    """The parameter `name` ("weight", "filter", "bias") of `layer`, made with the settings of
    its `<name>_init`, `<name>_regu`, `<name>_cons` and `<name>_lr` fields (or a share of the
    net's parameter of that name when `param_key` shares it, see `make_parameter`)."""
    return make_parameter(
        backend,
        name,
        shape,
        initializer=getattr(layer, f"{name}_init"),
        regularizer=getattr(layer, f"{name}_regu"),
        constraint=getattr(layer, f"{name}_cons"),
        learning_rate=getattr(layer, f"{name}_lr"),
        owner=layer.name,
        shared=ctx.shared_params,
    )
