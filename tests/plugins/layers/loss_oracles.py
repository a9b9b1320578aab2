"""Plain NumPy oracles shared by the loss-layer tests (written loop by loop, independent of the
layers' vectorized code)."""

import numpy as np
from hypothesis import strategies as st


def full_class_weights(weights, shape, axis, normalize):
    """Mocha's expansion and normalization of class weights, one location at a time."""
    shape = tuple(shape)
    C = shape[axis]
    w = np.asarray(weights, dtype=np.float64)
    full = np.empty(shape)
    moved = np.moveaxis(full, axis, -1)  # (..., C) view into `full`
    for loc in np.ndindex(moved.shape[:-1]):
        if w.ndim == 1 and w.size == C:
            moved[loc] = w
        elif w.shape == shape[1:]:
            moved[loc] = np.moveaxis(w, axis - 1, -1)[loc[1:]]
        else:
            moved[loc] = np.moveaxis(w, axis, -1)[loc]
    if normalize == "local":
        for loc in np.ndindex(moved.shape[:-1]):
            moved[loc] = moved[loc] * C / moved[loc].sum()
    elif normalize == "global":
        for n in range(shape[0]):
            full[n] = full[n] * full[n].size / full[n].sum()
    return full


def label_picks(prob, label, axis):
    """[(probability vector along axis, label, location)] for every sample and location."""
    moved = np.moveaxis(prob, axis, -1)
    lab_shape = list(prob.shape)
    lab_shape[axis] = 1
    lab = np.moveaxis(np.asarray(label).reshape(lab_shape), axis, -1)[..., 0]
    return [(moved[loc], int(round(lab[loc])), loc) for loc in np.ndindex(lab.shape)]


def nll_oracle(prob, label, axis, weight=1.0, class_weights=None):
    """weight/(N·S) Σ -w_label log(max(p_label, 1e-20))."""
    picks = label_picks(prob, label, axis)
    wm = None if class_weights is None else np.moveaxis(class_weights, axis, -1)
    total = 0.0
    for p, k, loc in picks:
        wk = 1.0 if wm is None else wm[loc][k]
        total += -np.log(max(p[k], 1e-20)) * wk
    return weight * total / len(picks)


def softmax_oracle(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@st.composite
def class_problems(draw, max_ndim=5):
    """(shape, axis, dim, seed): a prediction shape of rank 2..max_ndim with a non-batch class
    axis; `dim` is that axis, sometimes written negatively."""
    ndim = draw(st.integers(2, max_ndim))
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    axis = draw(st.integers(1, ndim - 1))
    shape = shape[:axis] + (draw(st.integers(2, 4)),) + shape[axis + 1 :]
    dim = axis - ndim if draw(st.booleans()) else axis
    return shape, axis, dim, draw(st.integers(0, 2**16))


def random_labels(rng, shape, axis):
    lab_shape = list(shape)
    lab_shape[axis] = 1
    return rng.integers(0, shape[axis], lab_shape).astype(np.float64)


def sinkhorn_oracle(a, b, M, lam, iters):
    """Mocha's Sinkhorn loop for one sample, written with plain matrix-vector products:
    (u, v, K) with u from `iters` updates u ← a ./ (K·(b ./ (Kᵀu))) and v = b ./ (Kᵀu)."""
    K = np.exp(-lam * np.asarray(M, dtype=np.float64))
    u = np.full(len(a), 1.0 / len(a))
    for _ in range(iters):
        u = a / (K @ (b / (K.T @ u)))
    v = b / (K.T @ u)
    return u, v, K


def wasserstein_oracle(pred, target, M, lam, iters):
    """(loss, d pred, d target) of Mocha's WassersteinLossLayer, sample by sample:
    loss = Σ_n Σ u⊙((K⊙M)·v) / N, d pred = log(u)/λ/N, d target = log(v)/λ/N, with log
    floored at the smallest normal float64 where u or v is 0 (a class without mass)."""
    n = len(pred)
    tiny = np.finfo(np.float64).tiny
    loss, dpred, dtarget = 0.0, np.empty_like(pred), np.empty_like(target)
    for i in range(n):
        u, v, K = sinkhorn_oracle(pred[i], target[i], M, lam, iters)
        loss += float(u @ ((K * M) @ v))
        dpred[i] = np.log(np.maximum(u, tiny)) / lam / n
        dtarget[i] = np.log(np.maximum(v, tiny)) / lam / n
    return loss / n, dpred, dtarget


def regularised_ot_cost(a, b, M, lam, iters=3000):
    """The entropically regularised transport cost ⟨T, M⟩ + (1/λ)·Σ T(log T − 1) at the
    Sinkhorn plan T = diag(u)·K·diag(v) (converged after `iters` updates)."""
    u, v, K = sinkhorn_oracle(a, b, M, lam, iters)
    T = u[:, None] * K * v[None, :]
    return float(np.sum(T * M) + np.sum(T * (np.log(T) - 1)) / lam)
