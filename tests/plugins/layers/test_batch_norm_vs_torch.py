"""BatchNormLayer against PyTorch's BatchNorm2d/1d (skipped without torch, which is never a
dependency): training forward and gradients, PyTorch's running statistics after a step
(momentum rule, unbiased variance), and evaluation with imported running statistics."""

import numpy as np
import pytest

from mocha.plugins.layers.batch_norm import BatchNormLayer
from mocha.testing import run_layer

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (7, 5)])
def test_training_step_matches_pytorch(shape):
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(shape)
    gamma, beta = rng.uniform(0.5, 2, shape[1]), rng.standard_normal(shape[1])
    cls = torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d
    ref = cls(shape[1], momentum=0.1, eps=1e-5).double().train()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(gamma))
        ref.bias.copy_(torch.from_numpy(beta))
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = ref(xt)
    yt.backward(torch.from_numpy(g))

    layer = BatchNormLayer(bottoms=["x"], tops=["y"], momentum=0.1, affine=True)
    h = run_layer(layer, [x])
    h.state.parameters[3].blob.copy_from(gamma)
    h.state.parameters[4].blob.copy_from(beta)
    h.forward()
    np.testing.assert_allclose(h.tops()[0], yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    h.backward([g])
    np.testing.assert_allclose(h.diffs[0].to_host(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    dgamma, dbeta = (p.gradient.to_host() for p in h.state.parameters[3:])
    np.testing.assert_allclose(dgamma, ref.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dbeta, ref.bias.grad.numpy(), rtol=1e-10)
    mean, var, factor = (p.blob.to_host() for p in h.state.parameters[:3])
    assert factor.tolist() == [1.0]
    np.testing.assert_allclose(mean, ref.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var, ref.running_var.numpy(), rtol=1e-12)


def test_evaluation_with_imported_running_statistics_matches_pytorch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5, 5)).astype(np.float32)
    ref = torch.nn.BatchNorm2d(4).eval()
    values = [rng.standard_normal(4), rng.uniform(0.2, 3, 4), rng.uniform(0.5, 2, 4)]
    values.append(rng.standard_normal(4))
    with torch.no_grad():
        for t, v in zip((ref.running_mean, ref.running_var, ref.weight, ref.bias), values):
            t.copy_(torch.from_numpy(v.astype(np.float32)))
        want = ref(torch.from_numpy(x)).numpy()
    h = run_layer(BatchNormLayer(bottoms=["x"], tops=["y"], affine=True), [x], phase="test")
    mean, var, gamma, beta = values
    for p, v in zip(h.state.parameters, (mean, var, [1.0], gamma, beta)):
        p.blob.copy_from(np.asarray(v, np.float32).astype(np.float64))
    h.forward()
    np.testing.assert_allclose(h.tops()[0], want, rtol=1e-5, atol=1e-5)
