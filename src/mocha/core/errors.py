"""Exceptions raised by Mocha. Every message names the layer, field or blob and the bad value."""

from __future__ import annotations


class MochaError(Exception):
    """Base class of every error Mocha raises on purpose."""


class LayerConfigError(MochaError, ValueError):
    """A layer (or neuron, initializer, ...) was configured with an invalid field value."""


class ShapeError(MochaError, ValueError):
    """A blob reaching a layer has a shape the layer cannot work with."""


class TopologyError(MochaError):
    """The layers of a net do not form a valid network ("Illegal Network Topology: ...")."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Illegal Network Topology: {message}")


class PluginError(MochaError):
    """A plugin could not be loaded, or two plugins claim the same name."""


class UnknownNameError(MochaError, KeyError):
    """A name was looked up in the registry and is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DataError(MochaError, ValueError):
    """Training data (a file, a dataset, a label) is missing, malformed or out of range."""


class SolverError(MochaError):
    """The solver was misconfigured or training diverged (e.g. NaN objective)."""


class SnapshotError(MochaError):
    """A snapshot or model file cannot be loaded into this net/solver."""
