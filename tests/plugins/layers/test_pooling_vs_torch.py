"""PoolingLayer's options against PyTorch's pooling (skipped without torch): floor and ceil
rounding, and the mean's divisors `count_include_pad` true/false = PyTorch's
count_include_pad=True/False, on cases where windows run past the padded image."""

import numpy as np
import pytest

from mocha.plugins.layers.pooling import PoolingLayer
from mocha.testing import run_layer

torch = pytest.importorskip("torch")
F = torch.nn.functional

CASES = [  # (H, W), kernel, stride, pad
    ((112, 112), 3, 2, 1),  # the ResNet stem: 56 floor, 57 ceil
    ((7, 6), 3, 2, 1),
    ((5, 8), 2, 3, 1),
    ((6, 6), 3, 3, 0),
]


@pytest.mark.parametrize("hw, k, s, p", CASES)
@pytest.mark.parametrize("ceil", [False, True])
@pytest.mark.parametrize("mode, include", [("max", None), ("mean", True), ("mean", False)])
def test_matches_pytorch(hw, k, s, p, ceil, mode, include):
    x = np.random.default_rng(0).standard_normal((2, 3, *hw))
    layer = PoolingLayer(
        kernel=k, stride=s, pad=p, pooling=mode, ceil_mode=ceil, count_include_pad=include,
        bottoms=["x"], tops=["y"],
    )  # fmt: skip
    got = run_layer(layer, [x]).tops()[0]
    xt = torch.from_numpy(x)
    if mode == "max":
        want = F.max_pool2d(xt, k, s, p, ceil_mode=ceil)
    else:
        want = F.avg_pool2d(xt, k, s, p, ceil_mode=ceil, count_include_pad=include)
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-14)


def test_global_pooling_matches_adaptive_pooling():
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 7))
    layer = PoolingLayer(global_pooling=True, pooling="mean", bottoms=["x"], tops=["y"])
    want = F.adaptive_avg_pool2d(torch.from_numpy(x), 1).numpy()
    np.testing.assert_allclose(run_layer(layer, [x]).tops()[0], want, rtol=1e-12)
