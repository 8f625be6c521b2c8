"""PyTorch (CPU) peers: autograd for the gradient, torch.optim.SGD for GD, NAG written out as task 8 states it.

softplus is F.softplus with threshold 40 (the default 20 replaces ln(1 + e^z) by z above 20, an error of
2e-9 that would show in a 1e-10 comparison).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from problems import Problem

torch.set_num_threads(2)


def _tensors(problem: Problem, dtype: torch.dtype, flat: np.ndarray) -> list[torch.Tensor]:
    return [torch.tensor(a, dtype=dtype).requires_grad_() for a in problem.unpack(flat)]


def _loss(params: list[torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    W0, b0, W1, b1 = params
    z1 = torch.matmul(X, W0.transpose(-1, -2)) + b0.transpose(-1, -2)
    z2 = torch.matmul(F.softplus(z1, threshold=40.0), W1.transpose(-1, -2)) + b1.transpose(-1, -2)
    if z2.dim() == 2:
        return F.cross_entropy(z2, y)
    # stacked models (M, S, k): one mean per model; their sum is what backward() differentiates
    return F.cross_entropy(z2.transpose(1, 2), y.expand(z2.shape[0], -1), reduction="none").mean(dim=1)


def _metrics(params, X_test, y_test):
    with torch.no_grad():
        W0, b0, W1, b1 = params
        z2 = F.softplus(X_test @ W0.T + b0.T, threshold=40.0) @ W1.T + b1.T
        return F.cross_entropy(z2, y_test).item(), (z2.argmax(1) == y_test).double().mean().item()


def run(problem: Problem, method: str, dtype: torch.dtype = torch.float64, metrics: bool = False):
    """One model (or stacked models, batched with matmul/bmm); returns the loss at every evaluated point, the
    final exported parameters and the wall time. GD's losses are at p_k; NAG's at the look-ahead q_k."""
    X = torch.tensor(problem.X, dtype=dtype)
    y = torch.tensor(problem.y)
    X_test = torch.tensor(problem.X_test, dtype=dtype) if metrics else None
    y_test = torch.tensor(problem.y_test) if metrics else None
    stacked = np.ndim(problem.p0) == 2
    lr = torch.tensor(np.asarray(problem.lr), dtype=dtype).reshape(-1, 1, 1) if stacked else float(problem.lr)
    K = problem.iterations
    losses = np.empty((K,) + problem.p0.shape[:-1])
    params = _tensors(problem, dtype, problem.p0)
    start = time.perf_counter()
    if method == "gd":
        sgd = torch.optim.SGD(params, lr=1.0 if stacked else lr)
        for k in range(K):
            sgd.zero_grad()
            loss = _loss(params, X, y)
            loss.sum().backward()
            if stacked:  # per-model learning rates: scale the gradients, then a unit SGD step
                with torch.no_grad():
                    for p in params:
                        p.grad.mul_(lr)
            sgd.step()
            losses[k] = loss.detach().numpy()
            if metrics:
                _metrics(params, X_test, y_test)
        exported = params
    else:
        p = [t.detach().clone() for t in params]
        q = params
        t = 1.0
        for k in range(K):
            for tensor in q:
                tensor.grad = None
            loss = _loss(q, X, y)
            loss.sum().backward()
            t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
            factor = (t - 1.0) / t_new
            with torch.no_grad():
                for i in range(4):
                    p_new = q[i] - lr * q[i].grad  # (N1)
                    q[i].copy_(p_new + factor * (p_new - p[i]))  # (N3)
                    p[i] = p_new
            t = t_new
            losses[k] = loss.detach().numpy()
            if metrics:
                _metrics(p, X_test, y_test)
        exported = p
    seconds = time.perf_counter() - start
    flat = torch.cat(
        [e.detach().reshape(e.shape[0], -1) if stacked else e.detach().reshape(-1) for e in exported], dim=-1
    ).numpy()
    return losses, flat, seconds


def large_steps(problem: Problem, steps: int, dtype: torch.dtype):
    X = torch.from_numpy(problem.X)
    y = torch.from_numpy(problem.y)
    params = _tensors(problem, dtype, problem.p0)
    sgd = torch.optim.SGD(params, lr=problem.lr)
    losses, times = [], []
    for _ in range(steps):
        start = time.perf_counter()
        sgd.zero_grad()
        loss = _loss(params, X, y)
        loss.backward()
        sgd.step()
        losses.append(loss.item())
        times.append(time.perf_counter() - start)
    return losses, times
