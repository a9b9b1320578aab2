"""Nets (semantics §2.2, §2.7-2.11): forward/backward against NumPy, parameter sharing through
the backend registry, freezing, printing and GraphViz output."""

import io

import numpy as np
import pytest

import mocha
from mocha import (
    MochaError,
    Net,
    NullInitializer,
    ShapeError,
    freeze,
    freeze_all,
    net2dot,
    registry_reset,
    unfreeze,
    unfreeze_all,
)

IP = mocha.InnerProductLayer
RNG = np.random.default_rng(42)
X = RNG.standard_normal((6, 2, 2))
Y = RNG.integers(0, 3, (6, 1)).astype(float)


def _layers(hidden_neuron=None, **ip1):
    neuron = hidden_neuron or mocha.Neurons.Sigmoid()
    return [
        mocha.MemoryDataLayer(name="data", data=[X, Y], batch_size=6),
        IP(name="ip1", output_dim=5, neuron=neuron, bottoms=["data"], tops=["ip1"], **ip1),
        IP(name="ip2", output_dim=3, bottoms=["ip1"], tops=["ip2"]),
        mocha.SoftmaxLossLayer(name="loss", bottoms=["ip2", "label"]),
    ]


@pytest.fixture
def net(backend):
    registry_reset(backend)
    net = Net("mlp", backend, _layers())
    net.init()
    yield net
    net.shutdown()
    registry_reset(backend)


def _params(net, layer):
    return [p.blob.to_host().astype(np.float64) for p in net.state_of(layer).parameters]


def _grads(net, layer):
    return [p.gradient.to_host() for p in net.state_of(layer).parameters]


def _oracle(net, regu):
    """NumPy forward and backward of the `mlp` net: loss and parameter gradients."""
    (w1, b1), (w2, b2) = _params(net, "ip1"), _params(net, "ip2")
    x, y = X.reshape(6, -1), Y[:, 0].astype(int)
    h = 1 / (1 + np.exp(-(x @ w1.T + b1)))
    z = h @ w2.T + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss = -np.log(p[np.arange(6), y]).mean()
    dz = p.copy()
    dz[np.arange(6), y] -= 1
    dz /= 6
    dpre = (dz @ w2) * h * (1 - h)
    grads = {
        "ip1": [dpre.T @ x + 2 * regu * w1, dpre.sum(0)],
        "ip2": [dz.T @ h + 2 * regu * w2, dz.sum(0)],
    }
    return loss, grads


@pytest.mark.parametrize("regu", [0.0, 0.1])
def test_forward_backward_match_numpy(net, regu):
    obj = net.forward(regu)
    net.backward(regu)
    loss, grads = _oracle(net, regu)
    assert obj == pytest.approx(loss, rel=1e-4)  # the objective excludes regularization
    assert obj == pytest.approx(net.forward_backward(regu), rel=1e-6)  # one batch = all data
    for layer in ("ip1", "ip2"):
        for got, want in zip(_grads(net, layer), grads[layer]):
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)
    assert net.diff_blobs["data"].is_null  # a data layer cannot back-propagate


def test_net_describes_itself(net):
    assert [layer.name for layer in net.layers] == ["data", "ip1", "ip2", "loss"]
    assert net.data_layers == [0]
    assert net.output_blobs["ip1"].shape == (6, 5)
    assert [(n, p.name) for n, p in net.parameters()] == [
        ("ip1", "weight"),
        ("ip1", "bias"),
        ("ip2", "weight"),
        ("ip2", "bias"),
    ]
    assert repr(net) == "Net('mlp', 4 layers, phase='train')"
    with pytest.raises(KeyError, match="no layer named 'ip3'; layers: data, ip1, ip2, loss"):
        net.state_of("ip3")


def test_forward_epoch_and_epoch(backend):
    registry_reset(backend)
    layers = _layers()
    net = Net("mlp", backend, [mocha.copy(layers[0], batch_size=4)] + layers[1:])
    net.init()
    assert net.epoch == 0
    net.forward_epoch()  # 4 of 6 samples, then 8 > 6: the epoch completes on the second batch
    assert net.epoch == 1
    net.shutdown()
    registry_reset(backend)
    no_data = Net("empty", backend, [])
    with pytest.raises(MochaError, match="'empty' has no data layer"):
        _ = no_data.epoch


def test_constructor_refuses_bad_arguments(backend):
    with pytest.raises(TypeError, match="item 1 of layers is 'ip1', not a Layer"):
        Net("bad", backend, [_layers()[0], "ip1"])
    with pytest.raises(ValueError, match="phase must be 'train' or 'test'"):
        Net("bad", backend, [], phase="validation")


# -- parameter sharing -------------------------------------------------------------------
def test_sharing_by_param_key_within_a_net(backend):
    registry_reset(backend)
    layers = [
        mocha.MemoryDataLayer(name="data", data=[X, Y], batch_size=6),
        IP(name="a", param_key="shared", output_dim=3, bottoms=["data"], tops=["a"]),
        IP(name="b", param_key="shared", output_dim=3, bottoms=["data"], tops=["b"]),
        mocha.SoftmaxLossLayer(name="loss_a", bottoms=["a", "label"]),
        mocha.SoftmaxLossLayer(name="loss_b", bottoms=["b", "label"]),
    ]
    net = Net("shared", backend, layers)
    net.init()
    pa, pb = net.state_of("a").parameters, net.state_of("b").parameters
    for p, q in zip(pa, pb):
        assert q.blob is p.blob  # the same data ...
        assert q.gradient is not p.gradient  # ... each its own gradient
        assert isinstance(q.initializer, NullInitializer)
        assert q.shared_from == "a" and q.owner == "b"
    assert np.abs(pa[0].blob.to_host()).sum() > 0  # initialized once, by the owner
    net.forward()
    np.testing.assert_array_equal(net.output_blobs["a"].to_host(), net.output_blobs["b"].to_host())
    net.shutdown()
    registry_reset(backend)


def test_train_and_test_nets_share_parameters(backend):
    registry_reset(backend)
    layers = _layers()
    train = Net("train", backend, layers)
    train.init()
    test = Net("test", backend, layers, phase="test")
    for (_, p), (_, q) in zip(train.parameters(), test.parameters()):
        assert q.blob is p.blob
    test.init()  # shared parameters are not re-initialized
    before = _params(train, "ip2")[0]
    train.state_of("ip2").parameters[0].blob.fill(0.5)
    test.forward()
    assert np.all(test.state_of("ip2").parameters[0].blob.to_host() == 0.5)
    assert not np.allclose(before, 0.5)
    train.shutdown()
    test.shutdown()

    registry_reset(backend)  # forget: the next net gets fresh parameters
    fresh = Net("fresh", backend, layers)
    assert fresh.state_of("ip2").parameters[0].blob is not train.state_of("ip2").parameters[0].blob
    fresh.shutdown()
    registry_reset(backend)


def test_shape_conflict_in_the_registry_is_a_clear_error(backend):
    registry_reset(backend)
    Net("first", backend, _layers()).shutdown()
    layers = _layers()
    layers[1] = mocha.copy(layers[1], output_dim=7)
    with pytest.raises(ShapeError) as info:
        Net("second", backend, layers)
    message = str(info.value)
    assert "layer 'ip1'" in message and "'weight'" in message
    assert "(5, 4)" in message and "(7, 4)" in message
    assert "registry_reset" in message
    registry_reset(backend)
    Net("second", backend, layers).shutdown()  # fine after a reset
    registry_reset(backend)


def test_sharing_a_key_between_layers_with_different_parameters(backend):
    registry_reset(backend)
    x = RNG.standard_normal((2, 3, 4, 4))
    layers = [
        mocha.MemoryDataLayer(name="data", data=[x], batch_size=2, tops=["data"]),
        mocha.ConvolutionLayer(
            name="conv", param_key="k", n_filter=2, bottoms=["data"], tops=["conv"]
        ),
        IP(name="ip", param_key="k", output_dim=2, bottoms=["conv"], tops=["ip"]),
    ]
    with pytest.raises(
        ShapeError,
        match=r"layer 'ip': the registry holds parameters "
        r"\['filter', 'bias'\] for this key but not 'weight'",
    ):
        Net("mixed", backend, layers)
    registry_reset(backend)


# -- freezing ----------------------------------------------------------------------------
def test_freeze_skips_init_gradients_and_training(net):
    registry_reset(net.backend)
    fresh = Net("fresh", net.backend, _layers())
    assert freeze(fresh, "ip1", 3) is fresh  # by name and index; a loss has no parameters
    assert fresh.state_of("ip1").frozen
    assert not fresh.state_of("loss").frozen  # layers without parameters are never frozen
    fresh.init()
    assert all(np.all(w == 0) for w in _params(fresh, "ip1"))  # skipped by init
    assert np.abs(_params(fresh, "ip2")[0]).sum() > 0
    assert [s.layer.name for s in fresh.trainable_states()] == ["ip2"]

    for p in fresh.state_of("ip1").parameters:
        p.gradient.fill(7.0)
    fresh.forward_backward(0.5)
    for g in _grads(fresh, "ip1"):  # no gradient, no regularizer: left untouched
        assert np.all(g == 7.0)
    assert not np.all(_grads(fresh, "ip2")[0] == 0)
    fresh.shutdown()


def test_frozen_layer_still_back_propagates_to_its_bottom(net):
    registry_reset(net.backend)
    layers = _layers()
    layers.insert(1, IP(name="ip0", output_dim=4, bottoms=["data"], tops=["ip0"]))
    layers[2] = mocha.copy(layers[2], bottoms=["ip0"])
    fresh = Net("deep", net.backend, layers)
    fresh.init()
    freeze(fresh, "ip1")
    fresh.forward_backward()
    assert np.abs(_grads(fresh, "ip0")[0]).sum() > 0
    fresh.shutdown()


def test_unfreeze_and_freeze_all(net):
    freeze_all(net)
    assert [s.layer.name for s in net.states if s.frozen] == ["ip1", "ip2"]
    assert net.trainable_states() == []
    unfreeze(net, "ip2")
    assert [s.layer.name for s in net.trainable_states()] == ["ip2"]
    unfreeze_all(net)
    assert [s.layer.name for s in net.trainable_states()] == ["ip1", "ip2"]


def test_solver_does_not_change_frozen_parameters(net):
    freeze(net, "ip1")
    before = _params(net, "ip1")
    params = mocha.make_solver_parameters(
        mocha.SGD(), max_iter=3, lr_policy=mocha.LRPolicy.Fixed(0.5)
    )
    mocha.solve(mocha.Solver(mocha.SGD(), params), net)
    for a, b in zip(before, _params(net, "ip1")):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(_params(net, "ip2")[0], 0)


# -- display -----------------------------------------------------------------------------
def test_print_lists_sorted_layers_with_blob_shapes(net):
    text = str(net)
    assert "NAME: mlp" in text
    assert f"BACKEND: {type(net.backend).__name__}" in text
    assert "ARCHITECTURE: 4 layers" in text
    lines = text.splitlines()
    headers = [line.strip() for line in lines if line.startswith(" *** ")]
    assert headers == [
        "*** MemoryDataLayer(data)",
        "*** InnerProductLayer(ip1)",
        "*** InnerProductLayer(ip2)",
        "*** SoftmaxLossLayer(loss)",
    ]
    for name, shape in [("data", "6 x 2 x 2"), ("label", "6 x 1"), ("ip1", "6 x 5")]:
        assert f"     {name:>9s}: Blob({shape})" in lines  # Mocha's layout, numpy order
    # the data layer shows no inputs; the loss (a sink) shows no outputs
    data_block = text.split("*** MemoryDataLayer(data)")[1].split("***")[0]
    assert "Inputs" not in data_block and "Outputs" in data_block
    loss_block = text.split("*** SoftmaxLossLayer(loss)")[1]
    assert "Inputs" in loss_block and "Outputs" not in loss_block


def test_net2dot(net):
    out = io.StringIO()
    net2dot(out, net)
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        'digraph "mlp" {',
        "rankdir = BT;",
        'node [shape=record,fontname="Fira Mono"];',
    ]
    assert lines[-1] == "}"
    assert lines[3] == (
        'layer1 [label="MemoryData\\ndata|{top:|bot:}|{{<t1> data (6x2x2)|<t2> label (6x1)}|{}}"];'
    )
    assert (
        'layer2 [label="InnerProduct\\nip1\\n(Sigmoid)|{top:|bot:}|'
        '{{<t1> ip1 (6x5)}|{<b1> data (6x2x2)}}"];'
    ) in lines
    assert (
        'layer3 [label="InnerProduct\\nip2|{top:|bot:}|'
        '{{<t1> ip2 (6x3)}|{<b1> ip1 (6x5)}}"];' in lines
    )  # Identity neuron: no suffix
    edges = [line for line in lines if "->" in line]
    assert edges == [
        "layer1:t1 ->layer2:b1;",
        "layer2:t1 ->layer3:b1;",
        "layer3:t1 ->layer4:b1;",
        "layer1:t2 ->layer4:b2;",
    ]


def test_net_gradients_by_finite_differences(backend_name):
    """Mocha's test-gradient-simple.jl: MemoryData → IP(20, Sigmoid) → IP(4) → SquareLoss,
    every parameter gradient of the net against central differences, in float64."""
    backend = mocha.make_backend(backend_name, dtype="float64", seed=1)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((5, 10)), rng.standard_normal((5, 4))
    net = Net(
        "gradient",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[x, y], batch_size=5),
            IP(
                name="ip1",
                output_dim=20,
                neuron=mocha.Neurons.Sigmoid(),
                bottoms=["data"],
                tops=["ip1"],
                weight_regu=mocha.NoRegu(),
            ),
            IP(name="ip2", output_dim=4, bottoms=["ip1"], tops=["ip2"]),
            mocha.SquareLossLayer(name="loss", bottoms=["ip2", "label"]),
        ],
    )
    net.init()
    net.forward_backward(0.0)
    eps = 1e-6
    for layer_name, param in net.parameters():
        analytic = param.gradient.to_host()
        data = param.blob.data
        for flat in rng.permutation(data.size)[:15]:
            c = np.unravel_index(flat, data.shape)
            old = data[c]
            data[c] = old + eps
            up = net.forward()
            data[c] = old - eps
            down = net.forward()
            data[c] = old
            numeric = (up - down) / (2 * eps)
            assert analytic[c] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (
                f"{layer_name}.{param.name}{c}"
            )
    net.shutdown()


@pytest.mark.parametrize("neuron", ["Sigmoid", "Tanh", "ReLU"])
def test_inplace_dropout_keeps_the_producer_gradient_right(backend_name, neuron):
    """A8: an in-place Dropout after an IP with a neuron must not corrupt the neuron's backward
    (which reads the IP's output); the whole net agrees with finite differences, the dropout
    mask held fixed by replaying the RNG."""
    backend = mocha.make_backend(backend_name, dtype="float64", seed=2)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    net = Net(
        "dropout",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[x, y], batch_size=4),
            IP(
                name="ip1",
                output_dim=8,
                neuron=getattr(mocha.Neurons, neuron)(),
                bottoms=["data"],
                tops=["ip1"],
                weight_regu=mocha.NoRegu(),
            ),
            mocha.DropoutLayer(name="drop", ratio=0.5, bottoms=["ip1"]),
            IP(name="ip2", output_dim=3, bottoms=["ip1"], tops=["ip2"]),
            mocha.SquareLossLayer(name="loss", bottoms=["ip2", "label"]),
        ],
    )
    net.init()
    state = backend.rng_state()

    def objective() -> float:
        backend.set_rng_state(state)
        return net.forward()

    objective()
    net.backward()
    weight = net.state_of("ip1").parameters[0]
    analytic, data = weight.gradient.to_host(), weight.blob.data
    for flat in rng.permutation(data.size)[:20]:
        c = np.unravel_index(flat, data.shape)
        old = data[c]
        data[c] = old + 1e-6
        up = objective()
        data[c] = old - 1e-6
        down = objective()
        data[c] = old
        numeric = (up - down) / 2e-6
        assert analytic[c] == pytest.approx(numeric, rel=1e-5, abs=1e-8), f"ip1.weight{c}"
    net.shutdown()


def _dot_strings(line):
    """The quoted strings of one line of DOT as Graphviz's scanner reads them (`\\"` is a
    quote, `\\\\` stays two backslashes); fails on a string still open at the end of the line."""
    strings, i = [], 0
    while (start := line.find('"', i)) != -1:
        j, chars = start + 1, []
        while True:
            assert j < len(line), f"quoted string left open: {line!r}"
            if line[j] == "\\" and line[j + 1 : j + 2] in ('"', "\\"):
                chars.append(line[j + 1] if line[j + 1] == '"' else "\\\\")
                j += 2
            elif line[j] == '"':
                break
            else:
                chars.append(line[j])
                j += 1
        strings.append("".join(chars))
        i = j + 1
    return strings


def _record_fields(label):
    """(port, text) of each field of a record label, checking its braces: fields split at the
    unescaped `{`, `}`, `|`; a field may start with a `<port>`; `\\n` is a line break and
    `\\x` the character x."""
    fields, raw, depth, i = [], [], 0, 0
    while i <= len(label):
        c = label[i] if i < len(label) else "|"
        if c == "\\":
            raw.append(label[i : i + 2])
            i += 2
            continue
        if c in "{}|":
            depth += {"{": 1, "}": -1, "|": 0}[c]
            assert depth >= 0, f"unbalanced braces in {label!r}"
            fields.append(raw)
            raw = []
        else:
            raw.append(c)
        i += 1
    assert depth == 0, f"unbalanced braces in {label!r}"
    out = []
    for tokens in fields:
        port = None
        if tokens and tokens[0] == "<":
            end = tokens.index(">")
            port, tokens = "".join(tokens[1:end]), tokens[end + 1 :]
            tokens = tokens[1:] if tokens[:1] == [" "] else tokens
        assert "<" not in tokens and ">" not in tokens, f"stray port bracket in {label!r}"
        text = "".join("\n" if t == "\\n" else t[-1] for t in tokens)
        if port is not None or text:
            out.append((port, text))
    return out


def test_net2dot_escapes_names(backend):
    registry_reset(backend)
    data, label, out, layer = 'd\\"|{', "la\nbel", 'o"ut\\', 'ip "1" \\ {a|b}\n<x>'
    net = Net(
        'n"et\\',
        backend,
        [
            mocha.MemoryDataLayer(name='da"ta', data=[X, Y], batch_size=6, tops=[data, label]),
            IP(name=layer, output_dim=3, bottoms=[data], tops=[out]),
            mocha.SoftmaxLossLayer(name="loss\\", bottoms=[out, label]),
        ],
    )
    buffer = io.StringIO()
    net2dot(buffer, net)
    net.shutdown()
    lines = buffer.getvalue().splitlines()
    assert lines[0] == 'digraph "n\\"et\\\\" {'
    labels = {}
    for line in lines:
        strings = _dot_strings(line)  # every quoted string closes on its own line
        if line.startswith("layer") and "->" not in line:
            [text] = strings
            labels[line.split(" ", 1)[0]] = _record_fields(text)
    assert len(lines) == 3 + 3 + 3 + 1  # header, 3 nodes, 3 edges, closing brace
    assert labels["layer1"] == [
        (None, 'MemoryData\nda"ta'),
        (None, "top:"),
        (None, "bot:"),
        ("t1", f"{data} (6x2x2)"),
        ("t2", f"{label} (6x1)"),
    ]
    assert labels["layer2"] == [
        (None, f"InnerProduct\n{layer}"),
        (None, "top:"),
        (None, "bot:"),
        ("t1", f"{out} (6x3)"),
        ("b1", f"{data} (6x2x2)"),
    ]
    assert labels["layer3"] == [
        (None, "SoftmaxLoss\nloss\\"),
        (None, "top:"),
        (None, "bot:"),
        ("b1", f"{out} (6x3)"),
        ("b2", f"{label} (6x1)"),
    ]
