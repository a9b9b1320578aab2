"""Export to ONNX: every mapped layer alone, the tutorial nets, and the refusals; each graph is
run by onnxruntime and must equal our forward within 1e-5 relative at batch 1 and 4."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx_support import ROOT, check_export, experiment_layers, make_net, onnx, ort_run

import mocha
from mocha import Neurons
from mocha.plugins.components.transformers import Scale, SubMean
from mocha.plugins.formats.onnx import OnnxError
from mocha.plugins.formats.onnx import export_net as export

RNG = np.random.default_rng(0)


def images(n=4, c=3, h=9, w=8):
    return RNG.normal(size=(n, c, h, w)).astype(np.float32)


def conv(**kw):
    kw.setdefault("n_filter", 4)
    kw.setdefault("kernel", (3, 3))
    return mocha.ConvolutionLayer(name="conv", bottoms=["data"], tops=["y"], **kw)


SINGLE_LAYER = {
    "conv": conv(),
    "conv-pad-stride": conv(pad=(2, 1), stride=(2, 3)),
    "conv-group": conv(n_filter=6, n_group=3),
    "conv-relu": conv(neuron=Neurons.ReLU()),
    "conv-relu-epsilon": conv(neuron=Neurons.ReLU(epsilon=0.1)),
    "conv-lrelu": conv(neuron=Neurons.LReLU()),
    "conv-sigmoid": conv(neuron=Neurons.Sigmoid()),
    "conv-tanh": conv(neuron=Neurons.Tanh()),
    "conv-exp": conv(neuron=Neurons.Exponential()),
    "ip-flatten": mocha.InnerProductLayer(name="ip", output_dim=5, bottoms=["data"], tops=["y"]),
    "max-pool": mocha.PoolingLayer(kernel=(3, 3), stride=(2, 2), bottoms=["data"], tops=["y"]),
    "mean-pool-ceil": mocha.PoolingLayer(
        kernel=(3, 2), stride=(2, 3), pooling="mean", bottoms=["data"], tops=["y"]
    ),
    "mean-pool-pad": mocha.PoolingLayer(
        kernel=(3, 3), stride=(2, 2), pad=(1, 1), pooling="mean", bottoms=["data"], tops=["y"]
    ),
    "max-pool-pad-relu": mocha.PoolingLayer(
        kernel=(2, 3),
        stride=(2, 2),
        pad=(1, 0),
        neuron=Neurons.ReLU(),
        bottoms=["data"],
        tops=["y"],
    ),
    "channel-pool-max": mocha.ChannelPoolingLayer(kernel=2, stride=2, bottoms=["data"], tops=["y"]),
    "channel-pool-mean-pad": mocha.ChannelPoolingLayer(
        kernel=3, stride=2, pad=(1, 1), pooling="mean", channel_dim=2, bottoms=["data"], tops=["y"]
    ),
    "lrn-across": mocha.LRNLayer(
        kernel=3, scale=0.5, shift=1.5, power=0.75, bottoms=["data"], tops=["y"]
    ),
    "lrn-across-even-dim2": mocha.LRNLayer(
        kernel=4, scale=0.3, power=0.6, channel_dim=2, bottoms=["data"], tops=["y"]
    ),
    "lrn-within": mocha.LRNLayer(
        kernel=3, scale=0.5, power=0.75, mode="WithinChannel", bottoms=["data"], tops=["y"]
    ),
    "softmax": mocha.SoftmaxLayer(bottoms=["data"], tops=["y"]),
    "softmax-dim2": mocha.SoftmaxLayer(dim=2, bottoms=["data"], tops=["y"]),
    "softmax-last": mocha.SoftmaxLayer(dim=-1, bottoms=["data"], tops=["y"]),
    "power": mocha.PowerLayer(power=2, scale=0.5, shift=3.0, bottoms=["data"], tops=["y"]),
    "power-3": mocha.PowerLayer(power=3, bottoms=["data"], tops=["y"]),
    "power-identity": mocha.PowerLayer(bottoms=["data"], tops=["y"]),
    "reshape": mocha.ReshapeLayer(shape=(9, 24), bottoms=["data"], tops=["y"]),
    "identity": mocha.IdentityLayer(bottoms=["data"], tops=["y"]),
    "split": mocha.SplitLayer(bottoms=["data"], tops=["y", "z"]),
    "argmax": mocha.ArgmaxLayer(bottoms=["data"], tops=["y"]),
    "argmax-dim3": mocha.ArgmaxLayer(dim=3, bottoms=["data"], tops=["y"]),
    "crop": mocha.CropLayer(crop_size=(5, 4), bottoms=["data"], tops=["y"]),
    "two-bottoms": mocha.PoolingLayer(
        kernel=(2, 2), stride=(2, 2), bottoms=["data", "data"], tops=["y", "z"]
    ),
}


@pytest.mark.filterwarnings("ignore:.*in Mocha.jl:UserWarning")  # numpy-order dims on purpose
@pytest.mark.parametrize("case", sorted(SINGLE_LAYER))
def test_single_layer_matches_onnxruntime(case):
    model = check_export([SINGLE_LAYER[case]], {"data": images()})
    assert [o.name for o in model.graph.output] == list(SINGLE_LAYER[case].tops)
    assert SINGLE_LAYER[case].name in [n.name for n in model.graph.node]


@pytest.mark.parametrize("op", ["Add", "Subtract", "Multiply", "Divide"])
def test_element_wise(op):
    b = images() + 5.0  # away from zero for Divide
    model = check_export(
        [mocha.ElementWiseLayer(operation=op, bottoms=["data", "other"], tops=["y"])],
        {"data": images(), "other": b},
    )
    assert len(model.graph.input) == 2


@pytest.mark.parametrize("dim", [1, 2, -1])
def test_concat(dim):
    check_export(
        [mocha.ConcatLayer(dim=dim, bottoms=["data", "other"], tops=["y"])],
        {"data": images(), "other": images()},
    )


def test_inner_product_on_matrices_and_index2onehot():
    x = RNG.normal(size=(4, 6)).astype(np.float32)
    check_export(
        [
            mocha.InnerProductLayer(
                name="ip", output_dim=3, neuron=Neurons.Tanh(), bottoms=["data"], tops=["y"]
            )
        ],
        {"data": x},
    )
    labels = RNG.integers(0, 5, size=(4, 1, 3)).astype(np.float32)
    check_export(
        [mocha.Index2OnehotLayer(n_class=5, bottoms=["data"], tops=["y"])], {"data": labels}
    )


def test_dropout_and_random_mask_are_the_identity_at_inference():
    x = RNG.normal(size=(4, 6)).astype(np.float32)
    layers = [
        mocha.InnerProductLayer(name="ip", output_dim=5, bottoms=["data"], tops=["h"]),
        mocha.DropoutLayer(bottoms=["h"]),
        mocha.RandomMaskLayer(bottoms=["h"]),
        mocha.InnerProductLayer(name="ip2", output_dim=3, bottoms=["h"], tops=["y"]),
    ]
    model = check_export(layers, {"data": x})
    assert {n.op_type for n in model.graph.node} == {"Gemm"}


def test_crop_exports_its_centred_inference_form():
    x = images(h=9, w=8)
    net = make_net(
        [
            mocha.CropLayer(
                crop_size=(4, 3), random_crop=True, random_mirror=True, bottoms=["data"], tops=["y"]
            )
        ],
        {"data": x},
    )
    got = ort_run(export(net), {"data": x})["y"]
    np.testing.assert_array_equal(got, x[:, :, 2:6, 2:5])


@given(
    size=st.tuples(st.integers(3, 9), st.integers(3, 9)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    pad=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    mean=st.booleans(),
)
def test_pooling_geometries_all_match(size, kernel, stride, pad, mean):
    """Our rounded-up output size and full-window divisor, for every geometry we accept."""
    layer = mocha.PoolingLayer(
        kernel=kernel,
        stride=stride,
        pad=pad,
        pooling="mean" if mean else "max",
        bottoms=["data"],
        tops=["y"],
    )
    x = images(n=2, c=2, h=size[0], w=size[1])
    try:
        make_net([layer], {"data": x}).shutdown()
    except mocha.ShapeError:
        return  # a geometry the layer refuses itself
    check_export([layer], {"data": x})


def test_transformers_become_nodes_and_the_model_takes_raw_inputs():
    x = images(n=4, c=2, h=5, w=5)
    mean = RNG.normal(size=(2, 5, 5)).astype(np.float32)
    data = mocha.MemoryDataLayer(
        name="data",
        tops=["data"],
        batch_size=4,
        data=[x],
        transformers=(("data", SubMean(mean_blob=mean)), ("data", Scale(0.5))),
    )
    b = mocha.make_backend("numpy")
    b.init()
    net = mocha.Net("t", b, [data, mocha.IdentityLayer(bottoms=["data"], tops=["y"])], phase="test")
    net.forward()
    model = export(net)
    assert [n.op_type for n in model.graph.node][:2] == ["Sub", "Mul"]
    np.testing.assert_allclose(ort_run(model, {"data": x})["y"], (x - mean) * 0.5, rtol=1e-6)
    no_nodes = export(net, transformers=False)
    np.testing.assert_array_equal(ort_run(no_nodes, {"data": x})["y"], x)


def test_tied_inner_product_shares_the_encoder_weight():
    x = RNG.normal(size=(4, 6)).astype(np.float32)
    layers = [
        mocha.InnerProductLayer(
            name="enc", output_dim=3, neuron=Neurons.Sigmoid(), bottoms=["data"], tops=["h"]
        ),
        mocha.TiedInnerProductLayer(name="dec", tied_param_key="enc", bottoms=["h"], tops=["y"]),
    ]
    model = check_export(layers, {"data": x})
    assert [i.name for i in model.graph.initializer].count("enc___weight") == 1
    assert "dec/tied___weight" not in [i.name for i in model.graph.initializer]


# -- the tutorial nets --------------------------------------------------------------------
@pytest.mark.parametrize(
    "path, shape",
    [
        (ROOT / "examples" / "mnist" / "lenet.toml", (1, 28, 28)),
        (ROOT / "examples" / "cifar10" / "cifar10_full.toml", (3, 32, 32)),
    ],
)
def test_tutorial_nets_match_onnxruntime(path, shape):
    x = RNG.normal(size=(3, *shape)).astype(np.float32)
    model = check_export(experiment_layers(path, shape), {"data": x})
    assert [o.name for o in model.graph.output] == ["ip2" if "lenet" in path.name else "ip1"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_autoencoder_matches_onnxruntime():
    """The denoising auto-encoder of examples/autoencoder (first stage): Split, RandomMask,
    a sigmoid encoder, the tied decoder and SquareLoss; the reconstruction is the output."""
    x = RNG.random(size=(5, 1, 4, 4)).astype(np.float32)
    layers = [
        mocha.IdentityLayer(bottoms=["data"], tops=["ip0"]),
        mocha.SplitLayer(bottoms=["ip0"], tops=["orig_data", "corrupt_data"]),
        mocha.RandomMaskLayer(ratio=0.1, bottoms=["corrupt_data"]),
        mocha.InnerProductLayer(
            name="ip-1",
            param_key="ip-layer-1",
            output_dim=8,
            neuron=Neurons.Sigmoid(),
            bottoms=["corrupt_data"],
            tops=["ip1"],
        ),
        mocha.TiedInnerProductLayer(
            name="tied-ip-1", tied_param_key="ip-layer-1", bottoms=["ip1"], tops=["recon"]
        ),
        mocha.SquareLossLayer(bottoms=["recon", "orig_data"]),
    ]
    model = check_export(layers, {"data": x})
    assert [o.name for o in model.graph.output] == ["recon"]


# -- options and refusals -------------------------------------------------------------------
def test_fixed_batch_opset_and_node_names(tmp_path):
    net = make_net([conv(neuron=Neurons.ReLU())], {"data": images()})
    path = tmp_path / "net.onnx"
    model = export(net, path, batch=4, opset=18)
    loaded = onnx.load(str(path))
    assert loaded.opset_import[0].version == 18
    assert loaded.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    assert [n.name for n in model.graph.node] == ["conv", "conv/relu"]
    assert {i.name for i in model.graph.initializer} == {"conv___filter", "conv___bias"}
    with pytest.raises(OnnxError, match="opset must be an int >= 17"):
        export(net, opset=13)
    with pytest.raises(OnnxError, match="batch must be 'dynamic' or an int"):
        export(net, batch=0)
    with pytest.raises(OnnxError, match="blob 'nope' is not computed"):
        export(net, outputs=["nope"])


@dataclass(frozen=True, kw_only=True, eq=False)
class MyIdentityLayer(mocha.IdentityLayer):
    """A layer type the exporter does not know."""


def test_a_layer_without_equivalent_is_named():
    net = make_net([MyIdentityLayer(name="mine", bottoms=["data"], tops=["y"])], {"data": images()})
    with pytest.raises(
        OnnxError,
        match=r"MyIdentityLayer\('mine'\): layer type "
        r"MyIdentityLayer has no ONNX equivalent",
    ):
        export(net)


def test_a_generated_input_has_no_equivalent():
    layers = [
        mocha.RandomNormalLayer(name="noise", tops=["z"], output_dims=(3,), batch_sizes=(2,)),
        mocha.InnerProductLayer(name="ip", output_dim=2, bottoms=["z"], tops=["y"]),
    ]
    b = mocha.make_backend("numpy")
    b.init()
    net = mocha.Net("gen", b, layers, phase="test")
    with pytest.raises(
        OnnxError,
        match=r"RandomNormalLayer\('noise'\): layer type "
        r"RandomNormalLayer has no ONNX equivalent",
    ):
        export(net)


def test_float64_nets_export_float32():
    b = mocha.make_backend("numpy", dtype="float64")
    b.init()
    x = RNG.normal(size=(4, 6))
    net = make_net(
        [mocha.InnerProductLayer(name="ip", output_dim=3, bottoms=["data"], tops=["y"])],
        {"data": x},
        b=b,
    )
    assert net.output_blobs["y"].data.dtype == np.float64
    model = export(net)
    assert {i.data_type for i in model.graph.initializer} == {onnx.TensorProto.FLOAT}
    np.testing.assert_allclose(
        ort_run(model, {"data": x})["y"], net.output_blobs["y"].data, rtol=1e-5, atol=1e-5
    )
