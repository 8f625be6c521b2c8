"""The assignment's derivation, executed literally: one sample at a time, full Jacobians, then the batch
average (ASSIGNMENT.md equations 5–22). Written for clarity, not speed; the library's vectorised
``loss_and_grad`` is tested against it. Nothing in src/ imports this module."""

from __future__ import annotations

import numpy as np

from descentlab.core.network import MLP
from descentlab.core.params import Params


def softmax_jacobian(y_hat: np.ndarray) -> np.ndarray:
    """(7–10) ∂ŷ_i/∂z_j = ŷ_i(δ_ij − ŷ_j): a symmetric k×k matrix."""
    return np.diag(y_hat[:, 0]) - y_hat @ y_hat.T


def reference_loss_and_grad(net: MLP, params: Params, X: np.ndarray, y: np.ndarray):
    """Mean cross-entropy and its gradient by the per-sample chain of Jacobians, as plain arrays."""
    L = net.n_layers
    W = [np.array(params[f"W{l}"]) for l in range(L)]
    b = [np.array(params[f"b{l}"]) for l in range(L)]
    k = net.sizes[-1]
    S = X.shape[0]
    total_loss = 0.0
    total = {name: np.zeros(shape) for name, shape, _ in net.describe()}
    for s in range(S):
        x = X[s].reshape(-1, 1)  # a column vector, as in the derivation
        y_onehot = np.zeros((k, 1))
        y_onehot[y[s], 0] = 1.0
        a = [x]
        z = []
        for l in range(L):
            z.append(W[l] @ a[l] + b[l])  # (1), (3)
            if l < L - 1:
                a.append(net.activation.value(z[l]))  # (2)
        shifted = z[-1] - z[-1].max()
        y_hat = np.exp(shifted) / np.exp(shifted).sum()  # (4)
        total_loss += float(-(y_onehot.T @ np.log(y_hat))[0, 0])  # l = −yᵀ ln ŷ
        dl_dyhat = -y_onehot / y_hat  # (6) element-wise division
        e = softmax_jacobian(y_hat) @ dl_dyhat  # (5) e2 = ∂ŷ/∂z2 · ∂l/∂ŷ
        for l in range(L - 1, -1, -1):
            total[f"W{l}"] += e @ a[l].T  # (11–13), (20)
            total[f"b{l}"] += e  # (14–16), (21)
            if l > 0:
                jac_act = np.diag(net.activation.derivative(z[l - 1])[:, 0])  # (18) diag(h′(z))
                e = jac_act @ W[l].T @ e  # (17), (19): e1 e2 = diag(σ(z1)) W1ᵀ e2
    return total_loss / S, {name: g / S for name, g in total.items()}  # (22)


def reference_lbfgs(loss_and_grad, x0, steps, lr=1.0, m=10, c=1e-4, shrink=0.5, max_backtracks=30):
    """L-BFGS with Armijo backtracking for one model, written from Nocedal & Wright's Algorithm 7.4 with plain
    lists (no stacks, no masks), to check descentlab.optim.lbfgs. Inner products are ``dot`` (a sum of
    products, as the stacked code forms them), so that the two round alike: L-BFGS's line search amplifies a last
    digit into a different accepted step within 100 iterations. Returns the iterates and the number of
    function-only evaluations of the line search."""

    def dot(a, b):
        return float(np.sum(a * b))

    x = np.array(x0, dtype=np.float64)
    pairs: list[tuple[np.ndarray, np.ndarray, float]] = []  # (s, y, rho), oldest first
    gamma, previous, evaluations, iterates = 1.0, None, 0, [x]
    for k in range(steps):
        f, g = loss_and_grad(x)
        g = np.array(g)
        if previous is not None:
            s, y = previous[0], g - previous[1]
            if dot(y, s) > 1e-10:
                pairs = (pairs + [(s, y, 1.0 / (dot(y, s)))])[-m:]
                gamma = (dot(y, s)) / (dot(y, y))
        q, alphas = -g, []
        for s, y, rho in reversed(pairs):
            alpha = rho * (dot(s, q))
            q = q - alpha * y
            alphas.append(alpha)
        d = gamma * q
        for (s, y, rho), alpha in zip(pairs, reversed(alphas), strict=True):
            d = d + (alpha - rho * (dot(y, d))) * s
        if not dot(g, d) < 0:
            d = -g
        t = lr * min(1.0, 1.0 / np.abs(g).sum()) if k == 0 else lr
        for _ in range(max_backtracks):
            evaluations += 1
            if loss_and_grad(x + t * d)[0] <= f + c * t * (dot(g, d)):
                break
            t *= shrink
        previous = (t * d, g)
        x = x + t * d
        iterates.append(x)
    return iterates, evaluations
