"""The loss of one network on fixed data, evaluated for a stack of models: the oracle training calls.

Column ("denominator") layout as in ``docs/derivation.md``: inside the kernels a batch is ``A0`` of shape
``(d, S)``, one sample per column; users pass rows ``X`` of shape ``(S, d)`` and the transpose happens once,
in :class:`Objective`. Kernel lines cite the equation label they implement.

Parameters are a stack of M models, ``x`` of shape ``(M, P)`` (one model is M = 1): losses come back with shape
``(M,)``, gradients ``(M, P)``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .network import MLP


def _transpose(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def _3d(a: np.ndarray) -> np.ndarray:
    """One model's (n, S) array as a stack of one, (1, n, S), for kernels written for stacked models."""
    return a if a.ndim == 3 else a[None]


class Want(enum.Flag):
    """What an evaluation computes besides the loss (which it always computes)."""

    LOSS = 0
    GRADIENT = enum.auto()
    CORRECT = enum.auto()


@dataclass(frozen=True)
class Evaluation:
    """The result of :meth:`Objective.evaluate` for M stacked models.

    loss : (M,) array, the loss of each model (L1, plus L2 when penalised)
    gradient : (M, P) array, or None when not wanted. It may live in a buffer that the objective's next
        evaluation overwrites: copy it to keep it.
    correct : (M,) int array, the number of correctly classified samples per model, or None when not wanted
    """

    loss: np.ndarray
    gradient: np.ndarray | None = None
    correct: np.ndarray | None = None


def _layers(net: MLP, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(W_l, b_l)`` views into ``flat`` for every layer (slots are stored W0, b0, W1, b1, …)."""
    lead = flat.shape[:-1]
    return [
        (flat[..., w0:w1].reshape(lead + w_shape), flat[..., b0:b1].reshape(lead + b_shape))
        for w0, w1, w_shape, b0, b1, b_shape in net._bounds
    ]


def forward(net: MLP, flat: np.ndarray, A0: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Forward pass in column layout, allocating (for prediction; training uses :class:`Objective`'s buffers).

    Returns ``zs`` (pre-activations ``z_1 … z_L``) and ``As`` (``a_0 … a_{L−1}``, the inputs of each layer).
    """
    layers = _layers(net, flat)
    zs: list[np.ndarray] = []
    As: list[np.ndarray] = [A0]
    for layer, (W, b) in enumerate(layers):
        zs.append(W @ As[-1] + b)  # (F1) z_{l+1} = W_l a_l + b_l
        if layer < len(layers) - 1:
            As.append(net.activation.value(zs[-1]))  # (F2) a_{l+1} = h(z_{l+1})
    return zs, As


def _softmax(z_out: np.ndarray) -> np.ndarray:
    """(F3) ŷ = softmax(z) per column, from ``e^{z − max_j z_j}``: every exponent is ≤ 0, nothing overflows."""
    expo = np.exp(z_out - z_out.max(axis=-2, keepdims=True))
    return expo / expo.sum(axis=-2, keepdims=True)


class _Buffers:
    """Every array one evaluation writes, for one shape of ``flat``: allocated once, reused by every call.

    ``z[l]`` holds z_{l+1} (and, on the way back, dZ_{l+1}), ``a[l]`` is a_l (``a[0]`` the data) and ``dh[l]``
    h′(z_{l+1}). With stacked models the first layer's weights of all models are copied into one
    ``(M·n_1, d)`` matrix so that the first product (and its gradient) is a single GEMM over the shared data.
    """

    def __init__(self, net: MLP, lead: tuple[int, ...], A0: np.ndarray, gradient: bool) -> None:
        dtype, S = A0.dtype, A0.shape[1]
        hidden = net.sizes[1:-1]
        self.z = [np.empty(lead + (n, S), dtype) for n in net.sizes[1:]]
        self.a = [A0] + [np.empty(lead + (n, S), dtype) for n in hidden]
        self.dh = [np.empty(lead + (n, S), dtype) for n in hidden] if gradient else []
        self.column = np.empty(lead + (1, S), dtype)  # max_j z_j, then Σ_j e^{z_j − max}
        self.log_column = np.empty(lead + (1, S), dtype)
        self.stacked = bool(lead)
        if self.stacked:
            M, n1 = lead[0], net.sizes[1]
            self.W0 = np.empty((M * n1, net.sizes[0]), dtype)
            self.gW0 = np.empty((M * n1, net.sizes[0]), dtype) if gradient else None
        self.grad = np.empty(lead + (net.n_params,), dtype) if gradient else None
        self.grad_layers = _layers(net, self.grad) if self.grad is not None else []


ENGINES = ("numpy", "compiled")
FUSED_MAX_MACS = 1 << 20  # multiply-adds of one forward pass up to which the compiled engine fuses everything


def compiled_available() -> bool:
    """Whether the optional compiled engine (numba) can be used."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def _compiled_kernels(engine: str) -> Any:
    """The module of compiled kernels for ``engine="compiled"``, None for ``"numpy"``."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "numpy":
        return None
    try:
        from . import _compiled
    except ImportError:
        raise ValueError("the compiled engine needs numba: pip install numba (in a clone of descentlab: pip install "
                         "-e '.[fast]')") from None
    return _compiled


class Objective:
    """Mean cross-entropy of one network on fixed data: the oracle the optimisers call.

    The data are transposed to columns and one-hot encoded once. Every evaluation runs in buffers kept
    from the previous call with the same parameter shape, and :meth:`loss_and_grad` writes the gradient
    into a buffer that its next call overwrites (the training loop allocates no array of the batch's size per
    call); copy it to keep it.

    Parameters
    ----------
    net : the network
    X : (S, d) array of samples (rows)
    y : (S,) int array of class indices
    weight_decay : λ ≥ 0 of the L2 penalty ``(λ/2) Σ_l ‖W_l‖²_F`` on the weights (biases are not penalised),
        added to the loss (L2) and ``λ W_l`` to the weight gradients (B6).
    dtype : float64 (default) or float32; parameters passed in must have the same dtype.
    engine : ``"numpy"`` (default) or ``"compiled"``: the numba kernels of :mod:`descentlab.core._compiled` (needs
        ``descentlab[fast]``). For one model whose forward pass is at most ``FUSED_MAX_MACS`` multiply-adds the
        whole evaluation runs in them, the activations' exp/log1p aside; otherwise (stacked models, large data)
        BLAS does the products and only softplus's element-wise passes are compiled. Both engines compute the
        same equations; results agree to rounding.
    """

    def __init__(
        self, net: MLP, X: np.ndarray, y: np.ndarray, weight_decay: float = 0.0, dtype: Any = np.float64,
        engine: str = "numpy",
    ) -> None:
        if not (np.isfinite(weight_decay) and weight_decay >= 0.0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError(f"dtype must be float64 or float32, got {self.dtype}")
        self.net = net
        self.weight_decay = float(weight_decay)
        # The columns are a transposed view of the rows (BLAS reads either order): no copy of the data, which
        # on a large problem is as big as all activations together. The compiled kernels want contiguous columns.
        rows = np.ascontiguousarray(X, dtype=self.dtype)
        if rows.ndim != 2 or rows.shape[1] != net.sizes[0]:
            raise ValueError(f"X must have shape (S, {net.sizes[0]}), got {rows.shape}")
        self._kernels = _compiled_kernels(engine)
        # The fused single-model path pays off while the products are small; beyond that BLAS does them and
        # only the softplus passes are compiled.
        macs = rows.shape[0] * sum(n * m for n, m in zip(net.sizes[:-1], net.sizes[1:], strict=True))
        self._fused = self._kernels is not None and macs <= FUSED_MAX_MACS
        self.A0 = np.ascontiguousarray(rows.T) if self._fused else rows.T
        y = np.asarray(y)
        k = net.sizes[-1]
        if y.shape != (self.A0.shape[1],):
            raise ValueError(f"y must have shape ({self.A0.shape[1]},), got {y.shape}")
        if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= k):
            raise ValueError(f"y must hold class indices in 0..{k - 1}")
        if y.size == 0:
            raise ValueError("the loss needs at least one sample")
        self.y = y.astype(np.int64)
        self.S = int(self.A0.shape[1])
        self.Y = np.zeros((k, self.S), self.dtype)  # one-hot, column s is y_s
        self.Y[self.y, np.arange(self.S)] = 1.0
        self._buffers: dict[tuple[bool, tuple[int, ...], Any], _Buffers] = {}
        self._last_grad = np.empty(0)
        self.engine = engine
        self._no_rows = np.empty((0, self.S), self.dtype)  # stand-ins for outputs a call does not want
        self._no_grad = np.empty(0, self.dtype)

    def _workspace(self, flat: np.ndarray, gradient: bool) -> _Buffers:
        key = (gradient, flat.shape, flat.dtype)
        buffers = self._buffers.get(key)
        if buffers is None:
            if flat.ndim not in (1, 2) or flat.shape[-1] != self.net.n_params:
                raise ValueError(f"parameters of shape {flat.shape} do not fit {self.net!r}")
            if flat.dtype != self.dtype:
                raise ValueError(f"parameters are {flat.dtype} but this objective computes in {self.dtype}")
            # Keep one workspace per kind of call: a new shape (another chunk of stacked models) replaces it.
            for old in [k for k in self._buffers if k[0] == gradient]:
                del self._buffers[old]
            buffers = self._buffers[key] = _Buffers(self.net, flat.shape[:-1], self.A0, gradient)
        return buffers

    def evaluate(self, x: np.ndarray, want: Want = Want.LOSS) -> Evaluation:
        """Loss of every model of the stack ``x`` (M, P) and, as ``want`` asks, gradient and correct counts.

        The gradient lives in a buffer that the next evaluation overwrites; copy it to keep it.
        """
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"evaluate takes a stack of models of shape (M, P), got {x.shape}")
        gradient, correct = Want.GRADIENT in want, Want.CORRECT in want
        if x.shape[0] == 1:
            loss, n_correct = self._evaluate(x[0], gradient, correct)
            return Evaluation(
                np.reshape(loss, (1,)), self._last_grad[None] if gradient else None,
                np.reshape(n_correct, (1,)) if correct else None,
            )
        loss, n_correct = self._evaluate(x, gradient, correct)
        return Evaluation(loss, self._last_grad if gradient else None, n_correct)

    def loss_and_correct(self, flat: np.ndarray) -> tuple[Any, Any]:
        """Loss (L1, plus L2 when penalised) and the number of correctly classified samples; forward only."""
        loss, correct = self._evaluate(flat, gradient=False, correct=True)
        return loss, correct

    def loss(self, flat: np.ndarray) -> Any:
        """The loss alone (forward pass only)."""
        return self._evaluate(flat, gradient=False, correct=False)[0]

    def loss_and_grad(self, flat: np.ndarray) -> tuple[Any, np.ndarray]:
        """Loss (L1) and its gradient with respect to ``flat`` (B1–B5), all samples at once."""
        loss, _ = self._evaluate(flat, gradient=True, correct=False)
        return loss, self._last_grad

    def loss_grad_and_correct(self, flat: np.ndarray) -> tuple[Any, np.ndarray, Any]:
        """Loss, gradient (in the reused buffer) and number of correct predictions in one pass."""
        loss, correct = self._evaluate(flat, gradient=True, correct=True)
        return loss, self._last_grad, correct

    def _evaluate(self, flat: np.ndarray, gradient: bool, correct: bool) -> tuple[Any, Any]:
        net, buf = self.net, self._workspace(flat, gradient)
        layers = _layers(net, flat)
        if self._fused and flat.ndim == 1:
            loss, n_correct = self._evaluate_compiled(flat, layers, gradient, buf)
            if not correct:
                n_correct = None
        else:
            z, a, dh = buf.z, buf.a, buf.dh
            last = net.n_layers - 1
            softplus = self._kernels is not None and net.activation.name == "softplus"
            for layer, (W, b) in enumerate(layers[:last]):  # hidden layers, forward
                self._linear(layer, W, b, buf, bias=not softplus)
                if softplus:
                    self._softplus_compiled(z[layer], b, a[layer + 1], dh[layer] if gradient else None)
                else:  # (F2) a_{l+1} = h(z_{l+1}), with h′(z_{l+1}) when the gradient is wanted
                    net.activation.fill(z[layer], a[layer + 1], dh[layer] if gradient else None)
            loss, n_correct = self._output(layers[last], buf, correct)
            if gradient:
                self._backward(layers, buf, last)
        if self.weight_decay:
            loss = loss + 0.5 * self.weight_decay * sum(np.sum(W * W, axis=(-2, -1)) for W, _ in layers)  # (L2)
        if gradient:
            assert buf.grad is not None
            if self.weight_decay:
                for (W, _), (dW, _) in zip(layers, buf.grad_layers, strict=True):
                    dW += self.weight_decay * W  # (B6) the penalty's gradient λ W_l
            self._last_grad = buf.grad
        return loss, n_correct

    def _evaluate_compiled(
        self, flat: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]], gradient: bool, buf: _Buffers
    ) -> tuple[Any, Any]:
        """The same pass with the kernels of :mod:`descentlab.core._compiled` (one float64 model)."""
        kernels = self._kernels
        net, z, a, dh = self.net, buf.z, buf.a, buf.dh
        sizes, bounds, last = net.sizes, net._bounds, net.n_layers - 1
        softplus = net.activation.name == "softplus"
        for layer in range(last):
            n, m = sizes[layer + 1], sizes[layer]
            kernels.linear(flat, bounds[layer][0], n, m, a[layer], z[layer], softplus, a[layer + 1])  # (F1)
            if not softplus:
                net.activation.fill(z[layer], a[layer + 1], dh[layer] if gradient else None)  # (F2)
                continue
            np.exp(z[layer], out=z[layer])  # e^{−|z|}
            if gradient:
                np.log1p(z[layer], out=dh[layer])
                kernels.softplus_join(a[layer + 1], z[layer], dh[layer])  # (F2) h(z) and h′(z)
            else:
                np.log1p(z[layer], out=z[layer])
                np.add(a[layer + 1], z[layer], out=a[layer + 1])  # (F2)
        grad = buf.grad if gradient else self._no_grad
        assert grad is not None
        dA = z[last - 1] if gradient and last > 0 else self._no_rows
        total, n_correct = kernels.output_layer(flat, bounds[last][0], sizes[-1], sizes[-2], a[last], self.y,
                                                z[last], gradient, grad, dA)
        if gradient:
            for layer in range(last - 1, -1, -1):
                dA_prev = z[layer - 1] if layer > 0 else self._no_rows
                kernels.hidden_backward(flat, bounds[layer][0], sizes[layer + 1], sizes[layer], a[layer], z[layer],
                                        dh[layer], grad, dA_prev)
        return total / self.S, n_correct

    def _softplus_compiled(self, z: np.ndarray, b: np.ndarray, a: np.ndarray, dh: np.ndarray | None) -> None:
        """(F1, F2) bias and softplus of stacked (or large) products: two fused passes around NumPy's SIMD exp
        and log1p."""
        kernels = self._kernels
        kernels.softplus_split(_3d(z), _3d(b), _3d(a))  # z += b; a = max(z, 0), z = −|z|
        np.exp(z, out=z)
        if dh is None:
            np.log1p(z, out=z)
            np.add(a, z, out=a)
            return
        np.log1p(z, out=dh)
        S = z.shape[-1]
        kernels.softplus_join(a.reshape(-1, S), z.reshape(-1, S), dh.reshape(-1, S))

    @staticmethod
    def _linear(layer: int, W: np.ndarray, b: np.ndarray, buf: _Buffers, bias: bool = True) -> None:
        z, a = buf.z, buf.a
        if layer == 0 and buf.stacked:  # one GEMM for the first layer of all models
            np.copyto(buf.W0.reshape(W.shape), W)
            np.dot(buf.W0, a[0], out=z[0].reshape(buf.W0.shape[0], -1))  # (F1)
        elif buf.stacked:
            np.matmul(W, a[layer], out=z[layer])  # (F1)
        else:
            np.dot(W, a[layer], out=z[layer])  # (F1) z_{l+1} = W_l a_l + b_l
        if bias:
            np.add(z[layer], b, out=z[layer])

    def _output(self, last: tuple[np.ndarray, np.ndarray], buf: _Buffers, correct: bool) -> tuple[Any, Any]:
        """Output layer in NumPy: z_L, loss (L1), correct count; leaves e^{z_L − m} in ``z[-1]``."""
        layer = len(buf.z) - 1
        self._linear(layer, *last, buf)
        out = buf.z[layer]
        n_correct = (np.argmax(out, axis=-2) == self.y).sum(axis=-1) if correct else None
        # (F3, L1) log-sum-exp: L = (1/S) Σ_s (m_s + ln Σ_j e^{z_js − m_s} − z_{y_s s}), every exponent ≤ 0.
        np.maximum.reduce(out, axis=-2, keepdims=True, out=buf.column)
        np.subtract(out, buf.column, out=out)
        picked = np.vdot(self.Y, out) if out.ndim == 2 else np.einsum("...ks,ks->...", out, self.Y)
        np.exp(out, out=out)
        np.add.reduce(out, axis=-2, keepdims=True, out=buf.column)
        np.log(buf.column, out=buf.log_column)
        return (np.add.reduce(buf.log_column, axis=(-2, -1)) - picked) / self.S, n_correct

    def _backward(self, layers: list[tuple[np.ndarray, np.ndarray]], buf: _Buffers, top: int) -> None:
        """Backward pass from layer ``top`` down, with ∂L/∂z_{top+1} in ``z[top]`` (for the output layer:
        e^{z_L − m}, turned into (Ŷ − Y)/S first)."""
        z, a, dh = buf.z, buf.a, buf.dh
        dZ = z[top]
        if top == len(layers) - 1:
            np.divide(dZ, buf.column, out=dZ)  # (F3) ŷ = softmax(z_L)
            np.subtract(dZ, self.Y, out=dZ)
            np.multiply(dZ, 1.0 / self.S, out=dZ)  # (B1) ∂L/∂z_L = (Ŷ − Y)/S: the softmax Jacobian collapsed
        summed = False  # whether (B3) of this layer was done together with (B5) of the layer above
        for layer in range(top, -1, -1):
            W = layers[layer][0]
            dW, db = buf.grad_layers[layer]
            if layer == 0 and buf.stacked:
                assert buf.gW0 is not None
                np.dot(dZ.reshape(buf.gW0.shape[0], -1), a[0].T, out=buf.gW0)  # (B2), all models at once
                np.copyto(dW, buf.gW0.reshape(dW.shape))
            elif buf.stacked:
                np.matmul(dZ, _transpose(a[layer]), out=dW)  # (B2)
            else:
                np.dot(dZ, a[layer].T, out=dW)  # (B2) ∂L/∂W_l = dZ_{l+1} a_lᵀ
            if not summed:
                np.add.reduce(dZ, axis=-1, out=db[..., 0])  # (B3) ∂L/∂b_l = Σ_s dZ_{l+1}
            if layer > 0:
                back = z[layer - 1]  # z_l is no longer needed: it receives ∂L/∂a_l, then ∂L/∂z_l
                if buf.stacked:
                    np.matmul(_transpose(W), dZ, out=back)  # (B4)
                else:
                    np.dot(W.T, dZ, out=back)  # (B4) ∂L/∂a_l = W_lᵀ dZ_{l+1}
                if self._kernels is not None:  # (B5) and the next layer's (B3) in one pass
                    self._kernels.scale_and_sum(_3d(back), _3d(dh[layer - 1]), _3d(buf.grad_layers[layer - 1][1]))
                    summed = True
                else:
                    np.multiply(back, dh[layer - 1], out=back)  # (B5) ∂L/∂z_l = ∂L/∂a_l ⊙ h′(z_l)
                dZ = back


