"""Every solver's update rule against a hand computation in NumPy (semantics §6.3–§6.6).

The net is MemoryData → InnerProduct → SoftmaxLoss with the whole data set as one batch, so
iteration t's gradient is the gradient at the parameters after iteration t−1 on the same data.
The weight has lr multiplier 0.5 and L2Regu(2.0) (gradient + 2·regu_coef·2·W), the bias lr
multiplier 3 and no regularizer. Three iterations, so the momentum lag (Appendix A4) shows:
iteration 1 uses base_mom, iteration t ≥ 2 uses mom_policy(t − 1). The backend is the test
session's (`--mocha-backend`, e.g. the emulated GPU), NumPy by default.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import mocha
from mocha import CoffeeBreak, LRPolicy, MomPolicy, SolverError, add_coffee_break
from mocha.testing import session_backend_name

RNG = np.random.default_rng(11)
N, D, C = 5, 4, 3
X = RNG.standard_normal((N, D))
Y = RNG.integers(0, C, (N, 1)).astype(float)
REGU, W_LR, B_LR, W_L2 = 0.01, 0.5, 3.0, 2.0
ITERS = 3


class Record(CoffeeBreak):
    def __init__(self):
        self.params = []
        self.internal = []

    def enjoy(self, lounge, solver, net, state):
        w, b = (p.blob.to_host().copy() for p in net.state_of("ip").parameters)
        self.params.append((w, b))
        self.internal.append({k: v for k, v in state.internal.items() if k != "history"})


def _run(method, **params):
    backend = mocha.make_backend(session_backend_name(), dtype="float64", seed=5)
    backend.init()
    net = mocha.Net(
        "upd",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[X, Y], batch_size=N),
            mocha.InnerProductLayer(
                name="ip",
                output_dim=C,
                bottoms=["data"],
                tops=["ip"],
                weight_lr=W_LR,
                bias_lr=B_LR,
                weight_regu=mocha.L2Regu(W_L2),
                bias_init=mocha.GaussianInitializer(std=0.1),
            ),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )
    solver = mocha.Solver(
        method, mocha.make_solver_parameters(method, max_iter=ITERS, regu_coef=REGU, **params)
    )
    rec = add_coffee_break(solver, Record(), every_n_iter=1)
    mocha.solve(solver, net)
    net.shutdown()
    return rec


def _grads(w, b):
    """Softmax-loss gradient (mean over the batch) plus the L2 term of the weight."""
    z = X @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(N), Y[:, 0].astype(int)] -= 1
    p /= N
    return p.T @ X + 2 * REGU * W_L2 * w, p.sum(0)


class It:  # what a policy sees
    def __init__(self, t):
        self.iter, self.internal = t, {}


def _check(rec, expected):
    assert len(rec.params) == ITERS + 1
    for t in range(1, ITERS + 1):
        for got, want in zip(rec.params[t], expected[t]):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=f"iteration {t}")


LR = LRPolicy.Step(0.4, 0.5, 2)  # 0.4, 0.2, 0.2 at iterations 1, 2, 3
MOM = MomPolicy.Linear(0.5, 0.2, 1, 0.95)  # μ(0) = 0.5, μ(1) = 0.7, μ(2) = 0.9, μ(3) = 0.95


def _sgd_by_hand(w, b, lag=True):
    hw, hb = np.zeros_like(w), np.zeros_like(b)
    mom_prev = 0.5  # the policy's initial value
    expected = {0: (w, b)}
    for t in range(1, ITERS + 1):
        gw, gb = _grads(w, b)
        lr = 0.4 * 0.5 ** (t // 2)
        mom = mom_prev if lag else min(0.5 + t * 0.2, 0.95)
        hw = mom * hw - lr * W_LR * gw
        hb = mom * hb - lr * B_LR * gb
        w, b = w + hw, b + hb
        expected[t] = (w, b)
        mom_prev = min(0.5 + t * 0.2, 0.95)
    return expected


def test_sgd_momentum_lag_multipliers_and_l2():
    rec = _run(mocha.SGD(), lr_policy=LR, mom_policy=MOM)
    _check(rec, _sgd_by_hand(*rec.params[0]))
    for t in range(1, ITERS + 1):
        assert rec.internal[t]["momentum"] == pytest.approx(min(0.5 + t * 0.2, 0.95))
        assert rec.internal[t]["learning_rate"] == pytest.approx(0.4 * 0.5 ** (t // 2))


def test_sgd_without_the_lag_would_differ():
    """Guard: the hand computation is sensitive to the lag (μ(t) instead of μ(t−1))."""
    rec = _run(mocha.SGD(), lr_policy=LR, mom_policy=MOM)
    no_lag = _sgd_by_hand(*rec.params[0], lag=False)
    assert not np.allclose(rec.params[ITERS][0], no_lag[ITERS][0], rtol=1e-6)


def test_nesterov():
    rec = _run(mocha.Nesterov(), lr_policy=LR, mom_policy=MOM)
    w, b = rec.params[0]
    hw, hb = np.zeros_like(w), np.zeros_like(b)
    mom_prev = 0.5
    expected = {}
    for t in range(1, ITERS + 1):
        gw, gb = _grads(w, b)
        lr, mom = 0.4 * 0.5 ** (t // 2), min(0.5 + t * 0.2, 0.95)
        w, b = w - mom_prev * hw, b - mom_prev * hb
        hw = mom_prev * hw - lr * W_LR * gw
        hb = mom_prev * hb - lr * B_LR * gb
        w, b = w + (1 + mom) * hw, b + (1 + mom) * hb
        expected[t] = (w, b)
        mom_prev = mom
    _check(rec, expected)
    assert set(mocha.Nesterov().defaults()) == {"lr_policy", "mom_policy"}


@pytest.mark.parametrize("use_mult", [False, True])
def test_adam(use_mult):
    b1, b2, eps = 0.8, 0.9, 1e-3
    rec = _run(mocha.Adam(), beta1=b1, beta2=b2, epsilon=eps, use_lr_multipliers=use_mult)
    w, b = rec.params[0]
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    expected = {}
    for t in range(1, ITERS + 1):
        grads = _grads(w, b)
        alpha = 0.003 * (1 + 1e-4 * t) ** -0.5  # the default Inv(0.003, 1e-4, 0.5)
        alpha_t = alpha * math.sqrt(1 - b2**t) / (1 - b1**t)
        new = []
        for i, (p, g, mult) in enumerate(zip((w, b), grads, (W_LR, B_LR))):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g  # decayed: Mocha's bug A1 is fixed
            step = alpha_t * (mult if use_mult else 1.0)
            new.append(p - step * m[i] / (np.sqrt(v[i]) + eps))
        w, b = new
        expected[t] = (w, b)
        assert rec.internal[t]["t"] == t
        assert rec.internal[t]["learning_rate"] == pytest.approx(alpha)
    _check(rec, expected)


def test_adam_defaults():
    d = mocha.Adam().defaults()
    assert (d["beta1"], d["beta2"], d["epsilon"]) == (0.9, 0.999, 1e-8)
    lr = d["lr_policy"]
    assert isinstance(lr, LRPolicy.Inv) and (lr.base_lr, lr.gamma, lr.power) == (0.003, 1e-4, 0.5)
    with pytest.raises(SolverError, match="beta1"):
        _run(mocha.Adam(), beta1=1.0)


def test_adagrad_scalar_step():
    gamma, eps = 0.7, 1e-6
    rec = _run(mocha.Adagrad(), gamma=gamma, epsilon=eps)
    w, b = rec.params[0]
    hist = [np.zeros_like(w), np.zeros_like(b)]
    expected = {}
    for t in range(1, ITERS + 1):
        grads = _grads(w, b)
        new = []
        for i, (p, g) in enumerate(zip((w, b), grads)):
            hist[i] = hist[i] + g * g
            new.append(p - gamma / (eps + np.sqrt(hist[i].sum())) * g)  # no lr multiplier
        w, b = new
        expected[t] = (w, b)
    _check(rec, expected)


def test_adadelta():
    rho, eps = 0.9, 1e-4
    rec = _run(mocha.Adadelta(), rho=rho, eps=eps)
    w, b = rec.params[0]
    eg = [np.zeros_like(w), np.zeros_like(b)]
    ed = [np.zeros_like(w), np.zeros_like(b)]
    expected = {}
    for t in range(1, ITERS + 1):
        grads = _grads(w, b)
        new = []
        for i, (p, g) in enumerate(zip((w, b), grads)):
            eg[i] = rho * eg[i] + (1 - rho) * g * g
            delta = np.sqrt(ed[i] + eps) / np.sqrt(eg[i] + eps) * g
            ed[i] = rho * ed[i] + (1 - rho) * delta * delta
            new.append(p - delta)
        w, b = new
        expected[t] = (w, b)
    _check(rec, expected)


@pytest.mark.parametrize(
    "method,key",
    [
        (mocha.Adam(), "beta1"),
        (mocha.Adagrad(), "gamma"),
        (mocha.Adadelta(), "rho"),
        (mocha.Nesterov(), "mom_policy"),
    ],
)
def test_required_parameters(method, key):
    params = mocha.make_solver_parameters(method)
    del params[key]
    with pytest.raises(SolverError, match=repr(key)):
        mocha.Solver(method, params)


@pytest.mark.parametrize("method", [mocha.Adam(), mocha.Nesterov(), mocha.Adagrad()])
def test_nan_objective_names_the_iteration(method):
    x = X.copy()
    backend = mocha.make_backend(session_backend_name(), dtype="float64", seed=5)
    net = mocha.Net(
        "nan",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[x, Y], batch_size=N),
            mocha.InnerProductLayer(name="ip", output_dim=C, bottoms=["data"], tops=["ip"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )

    class Poison(CoffeeBreak):
        def enjoy(self, lounge, solver, net, state):
            if state.iter == 2:  # the gradient of iteration 3 will be NaN
                net.state_of("ip").parameters[0].blob.data[0, 0] = np.inf

    solver = mocha.Solver(method, mocha.make_solver_parameters(method, max_iter=5))
    add_coffee_break(solver, Poison(), every_n_iter=1)
    with (
        np.errstate(all="ignore"),
        pytest.raises(SolverError, match="objective became nan at iteration 3"),
    ):
        mocha.solve(solver, net)
