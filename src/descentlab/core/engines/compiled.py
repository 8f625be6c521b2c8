"""The compiled engine (``engine="compiled"``): numba kernels for stacks of small models.

For a stack whose forward pass is at most ``FUSED_MAX_MACS`` multiply-adds, the products, the output layer and
the backward pass run in the kernels of :mod:`descentlab.core.engines._numba` (three calls per layer instead of
about a dozen NumPy calls), and the activation is its one NumPy formula. Larger stacks go to the NumPy engine,
whose one GEMM over the shared data no loop nest beats; when one model alone is that small, the kernels still
make its backward products, each model's in cache, where BLAS would take one call per model
(docs/performance.md, "The backward pass of small models").

numba is optional (``pip install numba``; in a clone, ``pip install -e '.[fast]'``). Its cache of compiled
kernels goes to :func:`numba_cache_dir`, outside the package folder (site-packages may be read-only), unless the
user chose one.
"""

from __future__ import annotations

import os
from functools import cache, partial
from types import ModuleType
from typing import Any

import numpy as np

from ..activations import ACTIVATIONS, Fill
from .base import WANTS, Batch, Evaluation, Network, Want
from .cache import numba_cache_dir, numba_cache_problem
from .fused import FusedEngine, Workspace

SOFTPLUS = ACTIVATIONS["softplus"]
FUSED_MAX_MACS = 1 << 16  # multiply-adds of one forward pass of the stack up to which the kernels do everything


@cache  # once per process: the cache check touches the disk, and mini-batch steps make engines often
def kernels() -> ModuleType:
    """The numba kernels, their cache pointed at :func:`numba_cache_dir` first (ImportError without numba)."""
    problem = numba_cache_problem()
    if problem is not None:
        raise CacheError(f"{problem}: set NUMBA_CACHE_DIR to a writable folder, or use the NumPy engine")
    cache = str(numba_cache_dir())
    os.environ.setdefault("NUMBA_CACHE_DIR", cache)
    import numba

    config: Any = numba.config
    if not config.CACHE_DIR:  # numba was imported before us: its configuration is already read
        config.CACHE_DIR = cache
    from . import _numba

    return _numba


def hidden_layer(kernels: ModuleType, fill: Fill, x: np.ndarray, w0: int, a_in: np.ndarray, z: np.ndarray,
                 a: np.ndarray, dh: np.ndarray, gradient: bool) -> None:
    """(F1) ``z = W a_in + b`` and (F2) ``a = h(z)``, ``dh = h′(z)`` by the activation's formula ``fill``."""
    kernels.linear(x, w0, a_in, z)
    fill(z, a, dh, gradient)


def softplus_layer(kernels: ModuleType, x: np.ndarray, w0: int, a_in: np.ndarray, z: np.ndarray, a: np.ndarray,
                   dh: np.ndarray, gradient: bool) -> None:
    """:func:`hidden_layer` for softplus, stacks ``(M, n, S)``.

    This is softplus's one formula (``SOFTPLUS.fill``) with its elementwise lines fused into the two kernels
    around NumPy's ``exp`` and ``log1p``: five calls instead of nine, the same operations in the same order, so
    the same bits as ``linear`` followed by ``SOFTPLUS.fill`` (tests/test_engines.py; a NaN stays NaN, though
    the compiler may give it another payload).
    """
    kernels.linear_softplus_parts(x, w0, a_in, z, a, dh)  # a = max(z, 0), z = min(z, 0), dh = −|z|
    _softplus_rest(kernels, z, a, dh, gradient)


def simd_softplus_layer(kernels: ModuleType, x: np.ndarray, w0: int, a_in: np.ndarray, z: np.ndarray,
                        a: np.ndarray, dh: np.ndarray, gradient: bool) -> None:
    """:func:`softplus_layer` with the simd engine's softplus (vectorised exp and log1p, within a few ulp)."""
    kernels.linear(x, w0, a_in, z)
    kernels.bias_softplus_simd(z, z[:, :, :0], a, dh, gradient)  # the bias is in z already: an empty one


def bias_softplus(kernels: ModuleType, z: np.ndarray, b: np.ndarray, a: np.ndarray, dh: np.ndarray,
                  gradient: bool) -> None:
    """The NumPy engine's ``activate`` step for softplus on large stacks, whose products BLAS makes: the bias
    added and softplus's formula fused as in :func:`softplus_layer` (the same bits as ``bias_then``)."""
    kernels.bias_softplus_parts(z, b, a, dh)  # z += b; a = max(z, 0), z = min(z, 0), dh = −|z|
    _softplus_rest(kernels, z, a, dh, gradient)


def _softplus_rest(kernels: ModuleType, z: np.ndarray, a: np.ndarray, dh: np.ndarray, gradient: bool) -> None:
    np.exp(dh, out=dh)
    np.log1p(dh, out=dh)
    kernels.softplus_join(a, z, dh, gradient)  # a = h(z); z = ln σ(z)
    if gradient:
        np.exp(z, out=dh)


class CacheError(ValueError):
    """The compiled kernels have nowhere to be cached."""


class CompiledEngine:
    """The numba kernels for small stacks, the NumPy engine for large ones; see the module docstring."""

    def __init__(self, net: Network, batch: Batch, simd: bool = False) -> None:
        try:
            self.kernels = kernels()
        except ImportError:
            raise ValueError("the compiled engine needs numba: pip install numba (in a clone of descentlab: "
                             "pip install -e '.[fast]')") from None
        self.batch = batch
        softplus = net.activation.fill is SOFTPLUS.fill
        simd = simd and softplus
        # larger stacks: BLAS's products, with softplus's elementwise lines fused around them
        activate = self.kernels.bias_softplus_simd if simd else partial(bias_softplus, self.kernels)
        self.macs = batch.S * sum(n * m for n, m in zip(net.sizes[:-1], net.sizes[1:], strict=True))
        self.fused = FusedEngine(net, batch, activate if softplus else None)
        # models this small: the kernels' hidden layers backward, each model's in cache, beat a BLAS call per model
        # (on all the samples, not in blocks: the kernels read the whole batch's a_0)
        if self.macs <= FUSED_MAX_MACS and net.n_layers > 1 and not self.fused.blocks:
            self.fused.products_back = self._products_back
        if simd:
            self.fused.exp = self.kernels.exp_nonpositive
        self.A0 = np.ascontiguousarray(batch.A0)[None]  # the kernels read the shared data as a stack of one
        self.offsets = [W.start for W in net.slots[0::2]]
        self.no_rows = np.empty((0, 0, batch.S), batch.A0.dtype)  # stands in for the ∂L/∂a_0 nobody needs
        self._work: Workspace | None = None
        self._a: list[np.ndarray] = []
        self._correct = np.empty(0, np.int64)
        self.L = net.n_layers - 1
        self._hidden_layer = (partial(simd_softplus_layer, self.kernels) if simd
                              else partial(softplus_layer, self.kernels) if softplus
                              else partial(hidden_layer, self.kernels, net.activation.fill))

    def evaluate(self, x: np.ndarray, want: Want) -> Evaluation:
        M = x.shape[0]
        if M * self.macs > FUSED_MAX_MACS:
            return self.fused.evaluate(x, want)
        work = self.fused.workspace(M)
        if work is not self._work:  # the kernels read the data as a stack of one, the rest as the workspace's
            self._work, self._a = work, [self.A0] + work.a3[1:]
            self._correct = np.empty(M, np.int64)
        gradient, correct_wanted = WANTS[want]
        z, a, dh, L = work.z3, self._a, work.dh3, self.L
        for l in range(L):  # noqa: E741 - the derivation's layer index
            self._hidden_layer(x, self.offsets[l], a[l], z[l], a[l + 1], dh[l], gradient)  # (F1, F2)
        loss = np.empty(M, x.dtype)
        correct = np.empty(M, np.int64) if correct_wanted else self._correct
        dA = z[L - 1] if gradient and L else self.no_rows
        self.kernels.output_layer(x, self.offsets[L], a[L], self.batch.y, z[L], gradient, work.gradient, dA, loss,
                                  correct)
        if gradient:
            self._backward_hidden(x, z, a, dh, work.gradient)
        return Evaluation(loss, work.gradient if gradient else None, correct if correct_wanted else None)

    def _products_back(self, work: Workspace) -> None:
        """(B2–B5) of a stack the NumPy engine evaluates, from dZ_L in ``z[-1]``: the output layer's products by
        BLAS, then each hidden layer's, from the ∂L/∂a they leave, by the kernels."""
        self.fused.layer_products_back(work, self.L)
        self._backward_hidden(work.x, work.z3, [self.A0] + work.a3[1:], work.dh3, work.gradient)

    def _backward_hidden(self, x: np.ndarray, z: list, a: list, dh: list, x_grad: np.ndarray) -> None:
        for l in range(self.L - 1, -1, -1):  # noqa: E741 - the derivation's layer index
            dA = z[l - 1] if l else self.no_rows
            self.kernels.hidden_backward(x, self.offsets[l], a[l], z[l], dh[l], x_grad, dA)
