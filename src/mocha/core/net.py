"""`Net`: layers sorted, wired by blob name, run forward and backward. Notes: docs/core.md."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mocha.core.blob import Blob, NullBlob
from mocha.core.components import NullInitializer
from mocha.core.errors import MochaError
from mocha.core.layer import Layer, LayerState, SetupContext, param_key_of, state_class_of
from mocha.core.topology import check_bp_topology, topological_sort

if TYPE_CHECKING:
    from mocha.core.backend import Backend

PHASES = ("train", "test")


def _shape_str(blob: Blob) -> str:
    return repr(blob)


class Net:
    """A network: sorted `layers`, their `states`, and the blobs by name.

    `output_blobs[name]` / `diff_blobs[name]` are the blob and its gradient; `forward()` returns
    the objective (sum of the loss layers' losses; regularization is not included).
    """

    def __init__(
        self, name: str, backend: Backend, layers: Sequence[Layer], phase: str | None = None
    ) -> None:
        if phase is not None and phase not in PHASES:
            raise ValueError(f"Net {name!r}: phase must be 'train' or 'test', not {phase!r}")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Net {name!r}: item {i} of layers is {layer!r}, not a Layer")
        self.name = name
        self.backend = backend
        if phase is None:  # a net without a loss cannot be trained: it evaluates
            phase = "train" if any(layer.has_loss for layer in layers) else "test"
        self._phase = phase
        order = topological_sort(layers)
        self.layers: list[Layer] = [layers[i] for i in order]
        names = [layer.name for layer in self.layers]
        self.output_blobs: dict[str, Blob] = {}
        self.diff_blobs: dict[str, Blob] = {}
        self.states: list[LayerState] = []
        self._inputs: list[list[Blob]] = []
        self._diffs: list[list[Blob]] = []
        try:
            for layer in self.layers:
                self._setup_layer(layer)
        except BaseException:
            self.shutdown()
            raise
        self.data_layers = [i for i, layer in enumerate(self.layers) if layer.is_source]
        self._by_name = {n: i for i, n in enumerate(names)}
        self._run_plan = [
            (state, inputs, diffs, layer)
            for state, inputs, diffs, layer in zip(
                self.states, self._inputs, self._diffs, self.layers
            )
        ]

    # -- construction --------------------------------------------------------------------
    def _setup_layer(self, layer: Layer) -> None:
        backend = self.backend
        inputs = [self.output_blobs[b] for b in layer.bottoms]
        diffs = [self.diff_blobs[b] for b in layer.bottoms]
        ctx = SetupContext(phase=self.phase, net_name=self.name)
        if layer.has_param:
            ctx.shared_params = backend.param_registry.get(param_key_of(layer))
        state = state_class_of(layer)(layer, backend, inputs, diffs, ctx)
        if layer.has_param:
            backend.param_registry[param_key_of(layer)] = list(state.parameters)
        if not (layer.is_sink or layer.is_inplace):
            if len(state.blobs) != len(layer.tops):
                raise MochaError(
                    f"{type(layer).__name__}({layer.name!r}) set up {len(state.blobs)} output "
                    f"blobs for {len(layer.tops)} tops"
                )
            for j, top in enumerate(layer.tops):
                self.output_blobs[top] = state.blobs[j]
                diff = state.blobs_diff[j] if layer.can_do_bp and state.blobs_diff else None
                self.diff_blobs[top] = diff if diff is not None else NullBlob()
        self.states.append(state)
        self._inputs.append(inputs)
        self._diffs.append(diffs)

    # -- phase ---------------------------------------------------------------------------
    @property
    def phase(self) -> str:
        """`"train"` (random masks drawn) or `"test"` (evaluation: no random masks)."""
        return self._phase

    @phase.setter
    def phase(self, phase: str) -> None:
        if phase not in PHASES:
            raise ValueError(f"Net {self.name!r}: phase must be 'train' or 'test', not {phase!r}")
        self._phase = phase
        for state in self.states:
            state.phase = phase

    @contextmanager
    def evaluating(self) -> Iterator[Net]:
        """`with net.evaluating(): ...` runs the block in the test phase, then restores."""
        before = self._phase
        self.phase = "test"
        try:
            yield self
        finally:
            self.phase = before

    # -- running -------------------------------------------------------------------------
    def forward(self, regu_coef: float = 0.0) -> float:
        """One forward pass over the next mini-batch; returns the objective."""
        backend = self.backend
        obj_val = 0.0
        for state, inputs, _diffs, layer in self._run_plan:
            state.forward(backend, inputs)
            if layer.has_neuron:
                neuron = layer.neuron
                if not neuron.is_identity:
                    for blob in state.blobs:
                        neuron.forward(backend, blob)
            if layer.has_loss:
                obj_val += float(state.loss)
        return obj_val

    def backward(self, regu_coef: float = 0.0) -> None:
        """Back-propagate from the losses; parameter gradients include the regularizers."""
        backend = self.backend
        for state, inputs, diffs, layer in reversed(self._run_plan):
            if not layer.can_do_bp:
                continue
            if layer.has_neuron:
                neuron = layer.neuron
                if not neuron.is_identity:
                    for blob, diff in zip(state.blobs, state.blobs_diff):
                        if not diff.is_null:
                            neuron.backward(backend, blob, diff)
            state.backward(backend, inputs, diffs)
            if layer.has_param and not state.frozen:
                for param in state.parameters:
                    param.regularizer.gradient(backend, param.blob, param.gradient, regu_coef)

    def forward_backward(self, regu_coef: float = 0.0) -> float:
        obj_val = self.forward(regu_coef)
        self.backward(regu_coef)
        return obj_val

    def forward_epoch(self) -> None:
        """Run forward passes until the first data layer completes an epoch."""
        if not any(self._counts_epochs(i) for i in self.data_layers):
            raise MochaError(
                f"Net {self.name!r} has no data layer that counts epochs, so it cannot run an epoch"
            )
        epoch = self.epoch
        while True:
            self.forward()
            if self.epoch != epoch:
                break

    @property
    def epoch(self) -> int:
        if not self.data_layers:
            raise MochaError(f"Net {self.name!r} has no data layer, so it has no epoch")
        # A16: the first source that counts epochs (RandomNormalLayer does not)
        counting = [i for i in self.data_layers if self._counts_epochs(i)]
        return int(self.states[(counting or self.data_layers)[0]].epoch)

    def _counts_epochs(self, index: int) -> bool:
        return bool(self.states[index].counts_epochs)

    def init(self) -> None:
        """Initialize every parameter that is not frozen, shared or loaded."""
        for state in self.states:
            if state.layer.has_param and not state.frozen:
                for param in state.parameters:
                    if not isinstance(param.initializer, NullInitializer):
                        param.initializer.init(self.backend, param.blob)

    def check_bp_topology(self) -> None:
        check_bp_topology(self.layers, {s.layer.name for s in self.states if s.parameters})

    def shutdown(self) -> None:
        for state in getattr(self, "states", []):
            state.shutdown(self.backend)

    # -- parameters and layers -----------------------------------------------------------
    def state_of(self, name_or_index: str | int) -> LayerState:
        if isinstance(name_or_index, int):
            return self.states[name_or_index]
        try:
            return self.states[self._by_name[name_or_index]]
        except KeyError:
            raise KeyError(
                f"Net {self.name!r} has no layer named {name_or_index!r}; layers: "
                f"{', '.join(self._by_name)}"
            ) from None

    def trainable_states(self) -> list[LayerState]:
        return [s for s in self.states if s.layer.has_param and not s.frozen]

    def parameters(self) -> list[tuple[str, Any]]:
        """`(layer name, Parameter)` for every parameter of every layer, in sorted order."""
        return [(s.layer.name, p) for s in self.states for p in s.parameters]

    # -- statistics ----------------------------------------------------------------------
    def reset_statistics(self) -> None:
        for state in self.states:
            if state.layer.has_stats:
                state.reset_statistics()

    def statistics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for state in self.states:
            if state.layer.has_stats:
                out.update(state.dump_statistics())
        return out

    # -- display -------------------------------------------------------------------------
    def __str__(self) -> str:
        bar = "*" * 60
        lines = [
            bar,
            f"          NAME: {self.name}",
            f"       BACKEND: {type(self.backend).__name__}",
            f"  ARCHITECTURE: {len(self.layers)} layers (blob shapes in numpy order, N first)",
            "." * 60,
        ]
        for layer, state, inputs in zip(self.layers, self.states, self._inputs):
            lines.append(f" *** {type(layer).__name__}({layer.name})")
            if not layer.is_source:
                lines.append("    Inputs ----------------------------")
                for name, blob in zip(layer.bottoms, inputs):
                    lines.append(f"     {name:>9s}: {_shape_str(blob)}")
            if not (layer.is_sink or layer.is_inplace):
                lines.append("    Outputs ---------------------------")
                for name, blob in zip(layer.tops, state.blobs):
                    lines.append(f"     {name:>9s}: {_shape_str(blob)}")
        lines.append(bar)
        return "\n".join(lines)

    def summary(self) -> str:
        """The layers in sorted order as a text table, as `mocha summary` shows them: type,
        bottoms, tops, output shapes (numpy order, batch first) and parameter counts, with
        the total."""
        head = ("#", "layer", "type", "bottoms", "tops", "output shapes", "params")
        rows, total = [], 0
        for i, (layer, state) in enumerate(zip(self.layers, self.states), 1):
            shapes = [] if (layer.is_sink or layer.is_inplace) else state.blobs
            count = sum(int(math.prod(p.blob.shape)) for p in state.parameters)
            total += count
            rows.append(
                (
                    str(i),
                    layer.name,
                    type(layer).__name__,
                    ", ".join(layer.bottoms),
                    ", ".join(layer.tops),
                    " ".join("(" + ", ".join(map(str, b.shape)) + ")" for b in shapes),
                    f"{count:,}" if count else "",
                )
            )
        widths = [max(len(r[j]) for r in [head, *rows]) for j in range(len(head))]
        lines = [f"{self.name} ({len(rows)} layers)"]
        for r in [head, *rows]:
            lines.append(
                "  ".join(
                    c.rjust(w) if j in (0, 6) else c.ljust(w)
                    for j, (c, w) in enumerate(zip(r, widths))
                ).rstrip()
            )
        lines.insert(2, "-" * len(lines[1]))
        return "\n".join([*lines, f"{total:,} parameters"])

    def __repr__(self) -> str:
        return f"Net({self.name!r}, {len(self.layers)} layers, phase={self.phase!r})"


def evaluating(net: Net) -> Any:
    """`with evaluating(net): ...`: the block runs `net` in the test phase (no dropout)."""
    return net.evaluating()


def freeze(net: Net, *names_or_indices: str | int) -> Net:
    for key in names_or_indices:
        state = net.state_of(key)
        if state.layer.has_param:
            state.frozen = True
    return net


def unfreeze(net: Net, *names_or_indices: str | int) -> Net:
    for key in names_or_indices:
        net.state_of(key).frozen = False
    return net


def freeze_all(net: Net) -> Net:
    for state in net.states:
        if state.layer.has_param:
            state.frozen = True
    return net


def unfreeze_all(net: Net) -> Net:
    for state in net.states:
        state.frozen = False
    return net
