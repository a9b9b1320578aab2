import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_smoke import Case, L, normal, register_smoke_encoder

from mocha import (
    InnerProductLayer,
    LayerConfigError,
    MemoryDataLayer,
    Net,
    Neurons,
    ShapeError,
    SquareLossLayer,
    make_parameter,
)
from mocha.plugins.components.constraints import NoCons
from mocha.plugins.components.initializers import ConstantInitializer
from mocha.plugins.components.regularizers import NoRegu
from mocha.plugins.layers.tied_inner_product import TiedInnerProductLayer
from mocha.testing import check_gradients, check_layer, reference_backend, run_layer


def register_encoder(W, key="enc"):
    """A `prepare` callback: put an encoder weight W (out_enc, F) in the backend registry."""

    def prepare(backend):
        p = make_parameter(
            backend,
            "weight",
            W.shape,
            initializer=ConstantInitializer(0.0),
            regularizer=NoRegu(),
            constraint=NoCons(),
            owner=key,
            shared=None,
        )
        p.blob.copy_from(W.astype(backend.dtype))
        backend.param_registry[key] = [p]

    return prepare


def test_forward_is_h_times_the_encoder_weight_plus_bias():
    rng = np.random.default_rng(0)
    W, h = rng.standard_normal((3, 5)), rng.standard_normal((4, 3))
    backend = reference_backend()
    register_encoder(W)(backend)
    layer = TiedInnerProductLayer(
        name="dec",
        tied_param_key="enc",
        bottoms=["h"],
        tops=["y"],
        bias_init=ConstantInitializer(0.5),
    )
    (y,) = run_layer(layer, [h], backend=backend).tops()
    np.testing.assert_allclose(y, h @ W + 0.5)


@given(
    n=st.integers(1, 3),
    out_enc=st.integers(1, 4),
    F=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    sigmoid=st.booleans(),
)
def test_gradients_float64(n, out_enc, F, seed, sigmoid):
    rng = np.random.default_rng(seed)
    W, h = rng.standard_normal((out_enc, F)), rng.standard_normal((n, out_enc))
    layer = TiedInnerProductLayer(
        name="dec",
        tied_param_key="enc",
        bottoms=["h"],
        tops=["y"],
        neuron=Neurons.Sigmoid() if sigmoid else Neurons.Identity(),
    )
    counts = check_gradients(layer, [h], seed=seed, prepare=register_encoder(W))
    assert counts["checked"] > 0


def test_two_bottoms_with_different_batch_sizes():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((2, 3))
    a, b = rng.standard_normal((2, 2)), rng.standard_normal((3, 2, 1))
    layer = TiedInnerProductLayer(
        name="dec", tied_param_key="enc", bottoms=["a", "b"], tops=["ya", "yb"]
    )
    check_gradients(layer, [a, b], prepare=register_encoder(W))


def test_agrees_with_reference_on_each_backend(backend):
    backend.param_registry.clear()
    rng = np.random.default_rng(2)
    W, h = rng.standard_normal((3, 4)), rng.standard_normal((5, 3))
    layer = TiedInnerProductLayer(name="dec", tied_param_key="enc", bottoms=["h"], tops=["y"])
    check_layer(layer, [h], backend, prepare=register_encoder(W))
    backend.param_registry.clear()


def test_nullblob_diff_is_honoured_and_bias_still_learns():
    backend = reference_backend()
    register_encoder(np.ones((2, 3)))(backend)
    layer = TiedInnerProductLayer(name="dec", tied_param_key="enc", bottoms=["h"], tops=["y"])
    h = run_layer(layer, [np.ones((2, 2))], backend=backend, no_grad=[0])
    h.backward([np.ones((2, 3))])
    np.testing.assert_array_equal(h.state.bias.gradient.to_host(), [2.0, 2.0, 2.0])


def autoencoder(x):
    return [
        MemoryDataLayer(data=[x], tops=["x"], batch_size=len(x)),
        InnerProductLayer(
            name="enc",
            param_key="ae-1",
            output_dim=3,
            neuron=Neurons.Sigmoid(),
            bottoms=["x"],
            tops=["h"],
        ),
        TiedInnerProductLayer(name="dec", tied_param_key="ae-1", bottoms=["h"], tops=["y"]),
        SquareLossLayer(bottoms=["y", "x"]),
    ]


def test_in_a_net_the_decoder_uses_the_encoder_weight_blob_and_learns_only_its_bias():
    x = np.random.default_rng(3).standard_normal((4, 6))
    backend = reference_backend()
    net = Net("ae", backend, autoencoder(x))
    enc, dec = net.state_of("enc"), net.state_of("dec")
    assert dec.tied.blob is enc.parameters[0].blob  # the same memory, not a copy
    assert [p.name for p in dec.parameters] == ["bias"]
    assert backend.param_registry["dec"] == dec.parameters
    net.init()
    net.forward()
    net.backward()
    # the encoder's weight gradient is its own term only: compare with a NumPy oracle
    W, b = (p.blob.to_host() for p in enc.parameters)
    c = dec.bias.blob.to_host()
    h = 1 / (1 + np.exp(-(x @ W.T + b)))
    y = h @ W + c
    g_y = (y - x) / 4
    g_z = (g_y @ W.T) * h * (1 - h)
    np.testing.assert_allclose(enc.parameters[0].gradient.to_host(), g_z.T @ x, rtol=1e-10)
    np.testing.assert_allclose(dec.bias.gradient.to_host(), g_y.sum(0), rtol=1e-10)


def test_errors_name_the_layer_and_key():
    with pytest.raises(LayerConfigError, match="tied_param_key"):
        TiedInnerProductLayer(name="dec", tied_param_key="", bottoms=["h"], tops=["y"])
    layer = TiedInnerProductLayer(name="dec", tied_param_key="ip-9", bottoms=["h"], tops=["y"])
    with pytest.raises(
        LayerConfigError,
        match=r"TiedInnerProductLayer\(name='dec'\).*'ip-9'.*"
        r"no parameters are registered under this key yet",
    ):
        run_layer(layer, [np.ones((2, 3))])
    backend = reference_backend()
    register_encoder(np.ones((3, 5)), key="ip-9")(backend)
    with pytest.raises(ShapeError, match=r"'h' \(2, 4\) has feature size 4.*needs 3"):
        run_layer(layer, [np.ones((2, 4))], backend=backend)


def test_encoder_after_decoder_in_an_earlier_net_is_found():
    # the decoder may live in a later net than its encoder (same backend registry)
    x = np.random.default_rng(4).standard_normal((2, 6))
    backend = reference_backend()
    Net("enc-only", backend, autoencoder(x)[:2])
    net = Net(
        "dec-only",
        backend,
        [
            MemoryDataLayer(data=[np.ones((2, 3))], tops=["h"], batch_size=2),
            TiedInnerProductLayer(name="dec", tied_param_key="ae-1", bottoms=["h"], tops=["y"]),
        ],
    )
    assert net.output_blobs["y"].shape == (2, 6)


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    "TiedInnerProductLayer": Case(
        lambda t: L(
            "TiedInnerProductLayer", name="dec", tied_param_key="enc", bottoms=["h"], tops=["y"]
        ),
        [normal(2, 3)],
        prepare=register_smoke_encoder,
        shapes=[(2, 5)],
    ),
}
