"""Topological sort and the TopologyError cases (semantics §2.3, §2.4, §2.6): every error names
the layers and blobs involved."""

from dataclasses import dataclass

import numpy as np
import pytest

import mocha
from mocha import Layer, LayerState, Net, TopologyError, name_field
from mocha.core.layer import check_counts
from mocha.core.topology import topological_sort

IP = mocha.InnerProductLayer
Split = mocha.SplitLayer


class _DoubleInPlaceState(LayerState):
    def forward(self, backend, inputs):
        for x in inputs:
            x.data *= 2

    def backward(self, backend, inputs, diffs):
        for d in diffs:
            if not d.is_null:
                d.data *= 2


@dataclass(frozen=True, kw_only=True, eq=False)
class DoubleInPlaceLayer(Layer, is_inplace=True, can_do_bp=True):
    """A tiny in-place layer (like Dropout): doubles its bottom in place."""

    name: str = name_field("double")
    state_cls = _DoubleInPlaceState

    def validate(self) -> None:
        check_counts(self, "1", "0")


def _data(n=6):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((n, 4)), rng.integers(0, 3, (n, 1)).astype(float)]
    return mocha.MemoryDataLayer(name="data", data=arrays, batch_size=3)


def _loss(name, bottom):
    return mocha.SoftmaxLossLayer(name=name, bottoms=[bottom, "label"])


def _net(backend, layers):
    backend.param_registry.clear()
    return Net("topology", backend, layers)


def _inplace_layers(kind):
    if kind == "DropoutLayer":
        try:
            dropout = mocha.lookup("layers", "DropoutLayer")
        except mocha.UnknownNameError:
            pytest.skip("DropoutLayer is not registered yet")
        return lambda name, bottom: dropout(name=name, ratio=0.5, bottoms=[bottom])
    return lambda name, bottom: DoubleInPlaceLayer(name=name, bottoms=[bottom])


# -- sort order -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["DoubleInPlaceLayer", "DropoutLayer"])
def test_mocha_inplace_sort_order(backend, kind):
    inplace = _inplace_layers(kind)
    layers = [
        IP(name="ip2", output_dim=3, bottoms=["ip1"], tops=["ip2"]),
        _data(),
        IP(name="ip1", output_dim=5, bottoms=["data"], tops=["ip1"]),
        inplace("dropout1", "ip1"),
        inplace("dropout2", "ip1"),
    ]
    assert topological_sort(layers) == [1, 2, 3, 4, 0]
    net = _net(backend, layers + [_loss("loss", "ip2")])
    assert [layer.name for layer in net.layers] == [
        "data",
        "ip1",
        "dropout1",
        "dropout2",
        "ip2",
        "loss",
    ]


def test_inplace_layer_changes_the_producer_blob(backend):
    net = _net(
        backend,
        [
            _data(),
            IP(name="ip1", output_dim=2, bottoms=["data"], tops=["ip1"]),
            DoubleInPlaceLayer(name="twice", bottoms=["ip1"]),
            IP(name="ip2", output_dim=3, bottoms=["ip1"], tops=["ip2"]),
            _loss("loss", "ip2"),
        ],
    )
    net.init()
    net.forward()
    ip1 = net.states[1]
    x = net.output_blobs["data"].to_host()
    w, b = (p.blob.to_host() for p in ip1.parameters)
    np.testing.assert_allclose(net.output_blobs["ip1"].to_host(), 2 * (x @ w.T + b), rtol=1e-5)
    net.check_bp_topology()  # an in-place layer is not a second consumer
    net.shutdown()


def test_sort_keeps_input_order_within_a_round():
    layers = [
        _data(),
        IP(name="b", output_dim=2, bottoms=["data"], tops=["b"]),
        IP(name="a", output_dim=2, bottoms=["data"], tops=["a"]),
    ]
    assert topological_sort(layers) == [0, 1, 2]


# -- errors raised while building the net -----------------------------------------------
def _message(exc_info) -> str:
    message = str(exc_info.value)
    assert message.startswith("Illegal Network Topology: ")
    return message


def test_duplicated_top_within_one_layer(backend):
    with pytest.raises(TopologyError) as info:
        _net(
            backend,
            [
                mocha.MemoryDataLayer(
                    name="dup", data=[np.zeros((2, 2))] * 2, batch_size=1, tops=["data", "data"]
                )
            ],
        )
    message = _message(info)
    assert "duplicated output blob 'data'" in message
    assert "MemoryDataLayer('dup')" in message


def test_duplicated_top_across_two_layers(backend):
    with pytest.raises(TopologyError) as info:
        _net(backend, [_data(), IP(name="redefine", output_dim=4, bottoms=["data"], tops=["data"])])
    message = _message(info)
    assert "'data'" in message
    assert "MemoryDataLayer('data')" in message and "InnerProductLayer('redefine')" in message


def test_missing_bottom(backend):
    with pytest.raises(TopologyError) as info:
        _net(backend, [_data(), IP(name="ip1", output_dim=2, bottoms=["dta"], tops=["ip1"])])
    message = _message(info)
    assert "required input blob 'dta'" in message
    assert "InnerProductLayer('ip1')" in message
    assert "produced blobs: data, ip1, label" in message  # to spot the typo


def test_cycle(backend):
    with pytest.raises(TopologyError) as info:
        _net(
            backend,
            [
                _data(),
                IP(name="ip1", output_dim=2, bottoms=["ip2"], tops=["ip1"]),
                IP(name="ip2", output_dim=2, bottoms=["ip1"], tops=["ip2"]),
            ],
        )
    message = _message(info)
    assert "cycle" in message
    assert "InnerProductLayer('ip1') waits for ip2" in message
    assert "InnerProductLayer('ip2') waits for ip1" in message


# -- errors raised by check_bp_topology ----------------------------------------------------
def test_blob_needing_bp_used_twice_without_split(backend):
    net = _net(
        backend,
        [
            _data(),
            IP(name="ip1", output_dim=3, bottoms=["data"], tops=["ip1"]),
            IP(name="a", output_dim=3, bottoms=["ip1"], tops=["a"]),
            IP(name="b", output_dim=3, bottoms=["ip1"], tops=["b"]),
            _loss("loss_a", "a"),
            _loss("loss_b", "b"),
        ],
    )
    with pytest.raises(TopologyError) as info:
        net.check_bp_topology()
    message = _message(info)
    assert "blob 'ip1'" in message and "multiple places" in message
    assert "InnerProductLayer('a')" in message and "InnerProductLayer('b')" in message
    assert "SplitLayer" in message
    net.shutdown()


def test_the_same_sharing_through_a_split_is_fine(backend):
    net = _net(
        backend,
        [
            _data(),
            IP(name="ip1", output_dim=3, bottoms=["data"], tops=["ip1"]),
            Split(name="split", bottoms=["ip1"], tops=["ip1a", "ip1b"]),
            IP(name="a", output_dim=3, bottoms=["ip1a"], tops=["a"]),
            IP(name="b", output_dim=3, bottoms=["ip1b"], tops=["b"]),
            _loss("loss_a", "a"),
            _loss("loss_b", "b"),
        ],
    )
    net.check_bp_topology()
    net.shutdown()


def test_a_data_blob_may_feed_several_layers(backend):
    net = _net(
        backend,
        [
            _data(),
            IP(name="a", output_dim=3, bottoms=["data"], tops=["a"]),
            IP(name="b", output_dim=3, bottoms=["data"], tops=["b"]),
            _loss("loss_a", "a"),
            _loss("loss_b", "b"),
        ],
    )
    net.check_bp_topology()
    net.shutdown()


def test_blob_not_connected_to_a_loss(backend):
    net = _net(
        backend,
        [
            _data(),
            IP(name="ip1", output_dim=3, bottoms=["data"], tops=["ip1"]),
            IP(name="extra", output_dim=3, bottoms=["data"], tops=["dangling"]),
            _loss("loss", "ip1"),
        ],
    )
    with pytest.raises(TopologyError) as info:
        net.check_bp_topology()
    message = _message(info)
    assert "blob 'dangling'" in message and "InnerProductLayer('extra')" in message
    assert "not connected to a loss" in message
    net.shutdown()


def test_a_layer_that_cannot_bp_does_not_count_as_a_loss(backend):
    net = _net(
        backend,
        [
            _data(),
            IP(name="ip1", output_dim=3, bottoms=["data"], tops=["ip1"]),
            mocha.AccuracyLayer(name="acc", bottoms=["ip1", "label"]),
        ],
    )
    with pytest.raises(
        TopologyError,
        match=r"blob 'ip1' \(top of InnerProductLayer\('ip1'\)\)"
        r" is not connected to a loss",
    ):
        net.check_bp_topology()
    net.shutdown()


@pytest.mark.parametrize("branch", ["dangling", "HDF5OutputLayer"])
def test_split_branch_that_reaches_no_loss(backend, tmp_path, branch):
    """Mocha's topology.jl: a Split whose second branch goes nowhere (or only to an output
    layer, which cannot back-propagate) is fine on a data blob, not on an IP output."""

    def layers(source):
        out = [_data()]
        if source == "ip1":
            out.append(IP(name="ip1", output_dim=3, bottoms=["data"], tops=["ip1"]))
        out += [
            Split(name="split", bottoms=[source], tops=["s1", "s2"]),
            IP(name="ip2", output_dim=3, bottoms=["s1"], tops=["ip2"]),
            _loss("loss", "ip2"),
        ]
        if branch != "dangling":
            out.append(
                mocha.lookup("layers", branch)(
                    name="out", filename=str(tmp_path / f"{source}.h5"), bottoms=["s2"]
                )
            )
        return out

    good = _net(backend, layers("data"))
    good.check_bp_topology()
    good.shutdown()
    bad = _net(backend, layers("ip1"))
    with pytest.raises(TopologyError) as info:
        bad.check_bp_topology()
    message = _message(info)
    assert "blob 's2'" in message and "SplitLayer('split')" in message
    bad.shutdown()


def test_output_layer_on_a_data_blob_is_fine(backend, tmp_path):
    net = _net(
        backend,
        [
            _data(),
            IP(name="ip1", output_dim=3, bottoms=["data"], tops=["ip1"]),
            _loss("loss", "ip1"),
            mocha.HDF5OutputLayer(name="out", filename=str(tmp_path / "o.h5"), bottoms=["data"]),
        ],
    )
    net.check_bp_topology()
    net.shutdown()


def test_reshaped_ip_output_fed_to_two_ips(backend):
    net = _net(
        backend,
        [
            _data(),
            IP(name="ip1", output_dim=4, bottoms=["data"], tops=["ip1"]),
            mocha.ReshapeLayer(name="reshape", shape=(2, 2), bottoms=["ip1"], tops=["r"]),
            IP(name="a", output_dim=3, bottoms=["r"], tops=["a"]),
            IP(name="b", output_dim=3, bottoms=["r"], tops=["b"]),
            _loss("loss_a", "a"),
            _loss("loss_b", "b"),
        ],
    )
    with pytest.raises(
        TopologyError,
        match=r"blob 'r' needs back-propagation and is used in "
        r"multiple places",
    ):
        net.check_bp_topology()
    net.shutdown()


def test_solve_checks_the_topology(backend):
    net = _net(
        backend,
        [
            _data(),
            IP(name="ip1", output_dim=3, bottoms=["data"], tops=["ip1"]),
            IP(name="extra", output_dim=3, bottoms=["data"], tops=["dangling"]),
            _loss("loss", "ip1"),
        ],
    )
    solver = mocha.Solver(mocha.SGD(), mocha.make_solver_parameters(mocha.SGD(), max_iter=1))
    with pytest.raises(TopologyError, match="dangling"):
        mocha.solve(solver, net)
    net.shutdown()


def test_inplace_layer_on_the_first_split_top_changes_the_original_only(backend):
    """Mocha's split.jl: top 1 of a Split aliases its bottom, the other tops are copies."""
    net = _net(
        backend,
        [
            _data(),
            IP(name="ip1", output_dim=3, bottoms=["data"], tops=["ip1"]),
            Split(name="split", bottoms=["ip1"], tops=["s1", "s2"]),
            DoubleInPlaceLayer(name="twice", bottoms=["s1"]),
            IP(name="a", output_dim=3, bottoms=["s1"], tops=["a"]),
            IP(name="b", output_dim=3, bottoms=["s2"], tops=["b"]),
            _loss("loss_a", "a"),
            _loss("loss_b", "b"),
        ],
    )
    net.init()
    net.forward()
    ip1, s1, s2 = (net.output_blobs[n].to_host() for n in ("ip1", "s1", "s2"))
    np.testing.assert_array_equal(ip1, s1)  # the same memory, doubled
    np.testing.assert_allclose(s1, 2 * s2, rtol=1e-6)  # the copy was taken before
    net.check_bp_topology()
    net.shutdown()
