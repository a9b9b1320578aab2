"""Ordering the layers of a net and checking that back-propagation can flow (semantics §2.3,
§2.6). Every `TopologyError` names the layers and blobs involved."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mocha.core.errors import TopologyError


def _label(layer: Any) -> str:
    return f"{type(layer).__name__}({layer.name!r})"


def producers(layers: Sequence[Any]) -> dict[str, int]:
    """Blob name -> index of the layer producing it; a duplicated top is an error."""
    out: dict[str, int] = {}
    for i, layer in enumerate(layers):
        if layer.is_sink or layer.is_inplace:
            continue
        for top in layer.tops:
            if top in out:
                first = layers[out[top]]
                raise TopologyError(
                    f"duplicated output blob {top!r}: produced by {_label(first)} and by "
                    f"{_label(layer)}"
                )
            out[top] = i
    return out


def topological_sort(layers: Sequence[Any]) -> list[int]:
    """Mocha's order: Kahn's algorithm in rounds; within a round in-place layers first, each
    group in input order."""
    made = producers(layers)
    deps: list[set[int]] = []
    for layer in layers:
        if layer.is_source:
            deps.append(set())
            continue
        needed = set()
        for bottom in layer.bottoms:
            if bottom not in made:
                raise TopologyError(
                    f"required input blob {bottom!r} of {_label(layer)} is missing: no layer "
                    f"produces it (produced blobs: {', '.join(sorted(made)) or 'none'})"
                )
            needed.add(made[bottom])
        deps.append(needed)

    order: list[int] = []
    done: set[int] = set()
    remaining = list(range(len(layers)))
    while remaining:
        ready = [i for i in remaining if deps[i] <= done]
        if not ready:
            stuck = [layers[i] for i in remaining]
            detail = "; ".join(
                f"{_label(layer)} waits for {', '.join(layer.bottoms)}" for layer in stuck
            )
            raise TopologyError(f"cycle among the layers: {detail}")
        ready.sort(key=lambda i: (not layers[i].is_inplace, i))
        order.extend(ready)
        done.update(ready)
        remaining = [i for i in remaining if i not in done]
    return order


def check_bp_topology(layers: Sequence[Any], param_layers: set[str]) -> None:
    """Raise when a blob that needs a gradient is consumed by two back-propagating layers
    (use a SplitLayer) or does not reach a loss. `layers` are in sorted order."""
    needed: dict[str, bool] = {}
    ready: dict[str, bool] = {}
    producer: dict[str, Any] = {}
    for layer in layers:
        if not (layer.is_sink or layer.is_inplace):
            for top in layer.tops:
                needed[top] = True
                ready[top] = False
                producer[top] = layer
    for layer in layers:
        wants = layer.can_do_bp and (
            layer.name in param_layers or any(needed.get(b, False) for b in layer.bottoms)
        )
        if not wants and not (layer.is_sink or layer.is_inplace):
            for top in layer.tops:
                needed[top] = False

    consumer: dict[str, Any] = {}
    for layer in layers:
        if not layer.can_do_bp or layer.is_inplace:
            continue
        for bottom in layer.bottoms:
            if not needed.get(bottom, False):
                continue
            if bottom in consumer:
                raise TopologyError(
                    f"blob {bottom!r} needs back-propagation and is used in multiple places: "
                    f"by {_label(consumer[bottom])} and by {_label(layer)}; insert a "
                    f"SplitLayer(bottoms=[{bottom!r}], tops=[...]) and give each consumer its own "
                    f"top"
                )
            consumer[bottom] = layer

    for layer in reversed(layers):
        if not layer.can_do_bp or layer.is_inplace:
            continue
        if not layer.is_sink:
            for top in layer.tops:
                if needed.get(top, False) and not ready.get(top, False):
                    raise TopologyError(
                        f"blob {top!r} (top of {_label(layer)}) is not connected to a loss: no "
                        f"back-propagating path leads from it to a loss layer (layers that "
                        f"cannot back-propagate, such as AccuracyLayer, do not count)"
                    )
        for bottom in layer.bottoms:
            ready[bottom] = True
