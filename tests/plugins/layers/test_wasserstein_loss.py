"""WassersteinLossLayer (semantics §3.14, §9.4): Sinkhorn forward against a plain NumPy oracle,
known values, Mocha's backward, the backward as the gradient of the regularised transport cost
(finite differences), bad input, and agreement of every backend with the reference.

The gradient check is not `check_gradients` on the layer's loss: Mocha's `d pred = log(u)/λ/N`
is the gradient of the *regularised* cost ⟨T, M⟩ + (1/λ)·Σ T(log T − 1) at convergence, up to
a constant per sample, not of the reported ⟨T, M⟩. So the finite differences here are of the
regularised cost, along directions that stay on the simplex (the constant drops out there).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_smoke import Case, L, distributions
from loss_oracles import regularised_ot_cost, wasserstein_oracle

from mocha import DataError, LayerConfigError, ShapeError
from mocha.backend_choice import make_backend
from mocha.plugins.layers.wasserstein_loss import WassersteinLossLayer
from mocha.testing import check_layer, run_layer


def layer(M, lam, iters=50, **kw):
    return WassersteinLossLayer(
        name="wass", M=M, lambda_=lam, sinkhorn_iter=iters, bottoms=["pred", "label"], **kw
    )


def cost_matrix(rng, C, low=0.1, high=2.0):
    M = rng.uniform(low, high, (C, C))
    np.fill_diagonal(M, 0.0)
    return M


def simplex(rng, n, C, low=0.0):
    x = rng.uniform(low, 1.0, (n, C)) + 1e-3
    return x / x.sum(axis=1, keepdims=True)


problems = st.tuples(
    st.integers(2, 6),
    st.integers(1, 4),
    st.floats(0.1, 20.0),
    st.integers(1, 60),
    st.integers(0, 2**16),
)


@given(problem=problems)
def test_forward_and_backward_match_the_oracle(problem):
    C, n, lam, iters, seed = problem
    rng = np.random.default_rng(seed)
    M, pred, target = cost_matrix(rng, C), simplex(rng, n, C), simplex(rng, n, C)
    h = run_layer(layer(M, lam, iters), [pred, target])
    loss, dpred, dtarget = wasserstein_oracle(pred, target, M, lam, iters)
    assert h.state.loss == pytest.approx(loss, rel=1e-9, abs=1e-12)
    h.backward()
    np.testing.assert_allclose(h.diffs[0].to_host(), dpred, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(h.diffs[1].to_host(), dtarget, rtol=1e-9, atol=1e-12)


@given(problem=problems)
@settings(max_examples=25)
def test_class_index_labels_are_one_hot_targets(problem):
    C, n, lam, iters, seed = problem
    rng = np.random.default_rng(seed)
    M, pred = cost_matrix(rng, C), simplex(rng, n, C)
    idx = rng.integers(0, C, (n, 1))
    onehot = (np.arange(C)[None, :] == idx).astype(float)
    h = run_layer(layer(M, lam, iters), [pred, idx.astype(float)])
    loss, dpred, _ = wasserstein_oracle(pred, onehot, M, lam, iters)
    assert h.state.loss == pytest.approx(loss, rel=1e-9, abs=1e-12)
    h.backward()
    np.testing.assert_allclose(h.diffs[0].to_host(), dpred, rtol=1e-9, atol=1e-12)
    assert not h.diffs[1].to_host().any(), "class indices get no gradient"


def test_float64_on_every_backend_matches_the_oracle(backend_name):
    b64 = make_backend(backend_name, dtype="float64", seed=0)
    rng = np.random.default_rng(5)
    M, pred, target = cost_matrix(rng, 5), simplex(rng, 4, 5), simplex(rng, 4, 5)
    h = run_layer(layer(M, 3.0, 40), [pred, target], b64)
    loss, dpred, dtarget = wasserstein_oracle(pred, target, M, 3.0, 40)
    assert h.state.loss == pytest.approx(loss, rel=1e-10)
    h.backward()
    np.testing.assert_allclose(h.diffs[0].to_host(), dpred, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(h.diffs[1].to_host(), dtarget, rtol=1e-10, atol=1e-13)


def test_agrees_with_the_reference_on_each_backend(backend):
    rng = np.random.default_rng(2)
    M = cost_matrix(rng, 4)
    pred, target = simplex(rng, 3, 4, 0.1), simplex(rng, 3, 4, 0.1)
    check_layer(layer(M, 2.0), [pred.reshape(3, 4, 1, 1), target], backend, gradcheck=False)
    check_layer(
        layer(M, 2.0),
        [pred, rng.integers(0, 4, (3, 1)).astype(float)],
        backend,
        no_grad=[1],
        gradcheck=False,
    )


def test_identical_distributions_cost_nearly_nothing():
    rng = np.random.default_rng(3)
    M = cost_matrix(rng, 5, 0.5, 1.0)
    p = simplex(rng, 3, 5)
    # With λ = 50 every off-diagonal K_ij <= e^-25, so the plan is diagonal to ~1e-10.
    assert run_layer(layer(M, 50.0, 200), [p, p]).state.loss == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize(("i", "j"), [(0, 2), (2, 0), (1, 3), (3, 3)])
def test_point_masses_cost_the_entry_of_M(i, j):
    rng = np.random.default_rng(4)
    M = cost_matrix(rng, 4)
    a = np.eye(4)[[i]]
    for label in (np.eye(4)[[j]], np.array([[float(j)]])):
        h = run_layer(layer(M, 30.0), [a, label])
        assert h.state.loss == pytest.approx(M[i, j], rel=1e-12, abs=1e-12)
        h.backward()  # u is 0 off the point mass: log is floored, the gradient stays finite
        assert np.all(np.isfinite(h.diffs[0].to_host()))


def test_small_lambda_blurs_the_plan_large_lambda_gives_the_exact_distance():
    # Between [1, 0] and [0.5, 0.5] with cost 1 the Wasserstein distance is 0.5: the plan is
    # forced, so any λ gives it.
    M = [[0.0, 1.0], [1.0, 0.0]]
    a, b = np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])
    assert run_layer(layer(M, 1.0), [a, b]).state.loss == pytest.approx(0.5, rel=1e-12)
    # Between [0.5, 0.5] and itself the distance is 0; a small λ spreads the plan off the
    # diagonal (T_01 = T_10 = 0.5·e^-λ/(1 + e^-λ) for this symmetric case), a large one not.
    a = np.array([[0.5, 0.5]])
    blurred = run_layer(layer(M, 1.0, 500), [a, a]).state.loss
    assert blurred == pytest.approx(np.exp(-1.0) / (1 + np.exp(-1.0)), rel=1e-9)
    assert run_layer(layer(M, 40.0, 500), [a, a]).state.loss == pytest.approx(0.0, abs=1e-15)


def _centred(g):
    return g - g.mean(axis=1, keepdims=True)


def _fd_on_simplex(f, x, eps):
    """Per sample n and class i: the central difference of f along e_i − 1/C (a direction
    that keeps the mass of sample n), i.e. the centred gradient of f on the simplex."""
    out = np.empty_like(x)
    n, C = x.shape
    for s in range(n):
        for i in range(C):
            d = np.zeros_like(x)
            d[s] = -1.0 / C
            d[s, i] += 1.0
            out[s, i] = (f(x + eps * d) - f(x - eps * d)) / (2 * eps)
    return out


@given(
    C=st.integers(2, 6), n=st.integers(1, 3), lam=st.floats(0.5, 5.0), seed=st.integers(0, 2**16)
)
@settings(max_examples=15, deadline=None)
def test_backward_is_the_gradient_of_the_regularised_cost(C, n, lam, seed):
    """d pred and d label, centred per sample, equal the centred finite-difference gradient
    of F(a, b) = Σ_n W_λ(a_n, b_n) / N, W_λ the regularised cost.

    Tolerance: with M ≤ 1 and λ ≤ 5, every K_ij ≥ e^-5, so Sinkhorn contracts by at most
    tanh(λ·max M / 4)² ≈ 0.72 per update (Franklin & Lorenz); 500 updates leave no residual
    above rounding. Entries ≥ 0.2/C keep log T smooth, so the central difference with
    ε = 1e-6 has a truncation error ~ε²·|W'''| ≲ 1e-9 and a rounding error ~1e-16/ε = 1e-10.
    Over 20 seeded draws the largest difference seen was 6e-10 for gradients of size ~0.1;
    atol 1e-7 leaves room for both, and any wrong factor (λ, N, u vs v) is an O(0.1) error
    (checked: λ·u/N instead of u/(λN), or log(u) given as the label's gradient, fail here).
    """
    rng = np.random.default_rng(seed)
    M = cost_matrix(rng, C, 0.1, 1.0)
    a, b = simplex(rng, n, C, 0.2), simplex(rng, n, C, 0.2)
    h = run_layer(layer(M, lam, 500), [a, b])
    h.backward()

    def F(pa, pb):
        return sum(regularised_ot_cost(pa[s], pb[s], M, lam) for s in range(n)) / n

    fd_a = _fd_on_simplex(lambda x: F(x, b), a, 1e-6)
    fd_b = _fd_on_simplex(lambda x: F(a, x), b, 1e-6)
    np.testing.assert_allclose(_centred(h.diffs[0].to_host()), fd_a, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(_centred(h.diffs[1].to_host()), fd_b, rtol=1e-6, atol=1e-7)


def test_a_step_against_the_gradient_lowers_the_regularised_cost():
    rng = np.random.default_rng(7)
    M = cost_matrix(rng, 5, 0.1, 1.0)
    a, b = simplex(rng, 2, 5, 0.2), simplex(rng, 2, 5, 0.2)
    h = run_layer(layer(M, 3.0, 500), [a, b])
    h.backward()
    step = -_centred(h.diffs[0].to_host())
    step *= 0.05 * a.min() / np.abs(step).max()  # stays inside the simplex

    def F(pa):
        return sum(regularised_ot_cost(pa[s], b[s], M, 3.0) for s in range(2)) / 2

    assert F(a + step) < F(a)


# --- bad input ------------------------------------------------------------------------------

M3 = [[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]]


def test_configuration_errors_name_the_layer_field_and_value():
    with pytest.raises(
        LayerConfigError,
        match=r"WassersteinLossLayer\(name='wass'\).*'M'.*"
        r"square.*2 row\(s\) of length\(s\) \[3\]",
    ):
        layer([[0, 1, 2], [1, 0, 1]], 1.0)
    with pytest.raises(LayerConfigError, match=r"'M'.*M\[0, 1\] = -0\.5 must be finite"):
        layer([[0, -0.5], [1, 0]], 1.0)
    with pytest.raises(LayerConfigError, match=r"'M'.*M\[1, 0\] = nan must be finite"):
        layer(np.array([[0, 1], [np.nan, 0]]), 1.0)
    with pytest.raises(LayerConfigError, match=r"'M'.*C >= 2"):
        layer([[0.0]], 1.0)
    with pytest.raises(LayerConfigError, match=r"'M' = 3\.0.*2-D array"):
        layer(3.0, 1.0)
    for lam in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(LayerConfigError, match=rf"'lambda_' = {lam}.*> 0"):
            layer(M3, lam)
    for iters in (0, -3, 2.5):
        with pytest.raises(LayerConfigError, match=rf"'sinkhorn_iter' = {iters}.*>= 1"):
            layer(M3, 1.0, iters)
    with pytest.raises(TypeError, match=r"'M'"):
        WassersteinLossLayer(lambda_=1.0, bottoms=["p", "y"])  # M is required
    with pytest.raises(LayerConfigError, match=r"lambda_"):
        WassersteinLossLayer(**{"M": M3, "lambda": 1.0, "bottoms": ["p", "y"]})
    with pytest.raises(LayerConfigError, match=r"'bottoms'"):
        WassersteinLossLayer(M=M3, lambda_=1.0, bottoms=["p"])


def test_shape_errors_name_the_blob_and_shapes():
    pred = simplex(np.random.default_rng(0), 2, 4)
    with pytest.raises(
        ShapeError,
        match=r"WassersteinLossLayer\('wass'\).*'pred'.*\(2, 4\)"
        r".*'M' is 3x3",
    ):
        run_layer(layer(M3, 1.0), [pred, np.zeros((2, 1))])
    with pytest.raises(ShapeError, match=r"label blob 'label' has shape \(2, 2\)"):
        run_layer(layer(M3, 1.0), [pred[:, :3], np.zeros((2, 2))])


def test_data_errors_name_the_blob_and_value():
    pred = np.array([[0.2, 0.3, 0.5]])
    with pytest.raises(DataError, match=r"'wass'.*label 3\.0 in blob 'label' is out of range"):
        run_layer(layer(M3, 1.0), [pred, np.array([[3.0]])])
    with pytest.raises(DataError, match=r"label -1\.0 in blob 'label'"):
        run_layer(layer(M3, 1.0), [pred, np.array([[-1.0]])])
    with pytest.raises(DataError, match=r"label 0\.5 in blob 'label'"):
        run_layer(layer(M3, 1.0), [pred, np.array([[0.5]])])
    with pytest.raises(DataError, match=r"prediction -0\.1 in blob 'pred'.*>= 0"):
        run_layer(layer(M3, 1.0), [np.array([[-0.1, 0.6, 0.5]]), np.array([[0.0]])])
    with pytest.raises(DataError, match=r"prediction nan in blob 'pred'"):
        run_layer(layer(M3, 1.0), [np.array([[np.nan, 0.6, 0.5]]), np.array([[0.0]])])
    with pytest.raises(DataError, match=r"label -0\.2 in blob 'label'"):
        run_layer(layer(M3, 1.0), [pred, np.array([[1.2, -0.2, 0.0]])])
    with pytest.raises(DataError, match=r"sample 1 in blob 'pred' has total mass 0"):
        run_layer(layer(M3, 1.0), [np.vstack([pred, np.zeros((1, 3))]), np.zeros((2, 1))])


def test_a_cost_matrix_that_underflows_for_lambda_is_refused_at_setup():
    M = [[0.0, 1.0], [1.0, 0.0]]
    big = [[2000.0, 2000.0], [1.0, 0.0]]  # exp(-λ·2000) is 0: class 0 can go nowhere
    run_layer(layer(M, 1000.0), [np.array([[0.5, 0.5]]), np.array([[1.0]])])
    with pytest.raises(LayerConfigError, match=r"'lambda_' = 1\.0.*underflows.*row 0"):
        run_layer(layer(big, 1.0), [np.array([[0.5, 0.5]]), np.array([[1.0]])])


# The smoke case collected by test_every_layer.py (built by its registered name, run on
# every backend against the reference and in a net).
SMOKE_CASES = {
    # gradcheck=False: d pred = log(u)/λ/N is the gradient of the *regularised* transport
    # cost (up to a constant per sample), not of the reported loss; the tests above check it
    # by finite differences of that cost on the simplex.
    "WassersteinLossLayer": Case(
        lambda t: L(
            "WassersteinLossLayer",
            M=[[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]],
            lambda_=3.0,
            bottoms=["p", "y"],
        ),
        [distributions(4, 3), distributions(4, 3)],
        gradcheck=False,
    ),
}
