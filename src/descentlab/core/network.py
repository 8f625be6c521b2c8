"""The feed-forward network: parameter layout, initialisation, and the user-facing loss, gradient and prediction.

Users pass samples as rows ``X`` of shape ``(S, d)`` and one model's :class:`Params`; the kernels live in
:mod:`descentlab.core.engines` and the objective training calls in :mod:`descentlab.core.objective`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .activations import Activation, get_activation
from .engines.reference import forward, softmax
from .objective import Objective, Want
from .params import Params, Slot, make_slots

# The variance of a layer's weights from its fan-in and fan-out, per scheme ("normal" takes --init-sigma instead)
INIT_SCHEMES: dict[str, Callable[[int, int], float]] = {
    "normal": lambda fan_in, fan_out: 1.0,
    "glorot": lambda fan_in, fan_out: 2.0 / (fan_in + fan_out),
    "he": lambda fan_in, fan_out: 2.0 / fan_in,
    "lecun": lambda fan_in, fan_out: 1.0 / fan_in,
}


class MLP:
    """A fully connected network with one hidden activation and a softmax output.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``[4, 16, 3]`` for the assignment's network
        ``4 → 16 (softplus) → 3 (softmax)``. ``[d, k]`` is multinomial logistic regression.
    activation : str or Activation
        Hidden activation: ``softplus`` (default), ``relu``, ``tanh``, ``sigmoid`` or ``identity``.

    Notes
    -----
    Parameters are ``W_l`` of shape ``(n_{l+1}, n_l)`` and ``b_l`` of shape ``(n_{l+1}, 1)`` for
    ``l = 0 … L−1``, stored in that order (``W0, b0, W1, b1, …``) in one flat vector, so that
    ``n_params = Σ_l n_{l+1}(n_l + 1)``; for ``[4, N_H, 3]`` that is ``8·N_H + 3``.
    """

    def __init__(self, sizes: Sequence[int], activation: str | Activation = "softplus") -> None:
        sizes = [int(n) for n in sizes]
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output width, got {sizes}")
        if any(n < 1 for n in sizes):
            raise ValueError(f"every layer width must be at least 1, got {sizes}")
        if sizes[-1] < 2:
            raise ValueError(f"the softmax output needs at least 2 classes, got {sizes[-1]}")
        self.sizes: tuple[int, ...] = tuple(sizes)
        self.activation: Activation = get_activation(activation)
        widths = enumerate(zip(sizes[:-1], sizes[1:], strict=True))
        self.slots: tuple[Slot, ...] = make_slots([(f"{name}{layer}", shape) for layer, (n_in, n_out) in widths
                                                   for name, shape in (("W", (n_out, n_in)), ("b", (n_out, 1)))])
        self._n_params = self.slots[-1].stop
        # (start, stop, shape) of W_l and b_l, precomputed for layers(), which the workspaces and the penalty call
        self._bounds = tuple((W.start, W.stop, W.shape, b.start, b.stop, b.shape)
                             for W, b in zip(self.slots[0::2], self.slots[1::2], strict=True))

    def layers(self, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Views ``(W_l, b_l)`` into the stack ``x`` (M, P) for every layer: ``(M, n_{l+1}, n_l)`` and
        ``(M, n_{l+1}, 1)`` (without the leading M for one vector of shape (P,))."""
        lead = x.shape[:-1]
        return [
            (x[..., w0:w1].reshape(lead + w_shape), x[..., b0:b1].reshape(lead + b_shape))
            for w0, w1, w_shape, b0, b1, b_shape in self._bounds
        ]

    @property
    def n_layers(self) -> int:
        """Number of weight layers L (hidden layers + 1)."""
        return len(self.sizes) - 1

    @property
    def n_params(self) -> int:
        """Number of learnable parameters, ``Σ_l n_{l+1}(n_l + 1)``."""
        return self._n_params

    def __repr__(self) -> str:
        return f"MLP({list(self.sizes)}, activation={self.activation.name!r})"

    def describe(self) -> list[tuple[str, tuple[int, ...], int]]:
        """``(name, shape, size)`` of every parameter tensor, in storage order."""
        return [(s.name, s.shape, s.size) for s in self.slots]

    # -- parameters ---------------------------------------------------------------------------------------
    def init(self, seed: int | np.random.Generator = 0, mu: float = 0.0, sigma: float = 1.0,
             scheme: str = "normal") -> Params:
        """Initial parameters drawn with ``numpy.random.default_rng(seed)``, so a seed fixes the point exactly.

        Parameters
        ----------
        seed : int or numpy Generator
        mu, sigma : float
            ``scheme="normal"`` (the default, the assignment's): every parameter from N(mu, sigma²), drawn as
            ``normal(mu, sigma, n_params)`` laid out ``W0, b0, W1, b1, …``.
        scheme : {"normal", "glorot", "he", "lecun"}
            The others scale each layer by its fan-in ``n_l`` and fan-out ``n_{l+1}``: ``W_l`` from N(0, v_l) with
            v_l = 2 / (n_l + n_{l+1}) (Glorot and Bengio 2010), 2 / n_l (He et al. 2015) or 1 / n_l (LeCun et al.
            1998), biases 0; ``mu`` and ``sigma`` do not apply to them.
        """
        if scheme not in INIT_SCHEMES:
            raise ValueError(f"init scheme must be one of {', '.join(INIT_SCHEMES)}, got {scheme!r}")
        if not sigma >= 0.0 or not np.isfinite(sigma) or not np.isfinite(mu):
            raise ValueError(f"init needs a finite mu and sigma >= 0, got mu={mu}, sigma={sigma}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        if scheme == "normal":
            return Params(rng.normal(mu, sigma, self.n_params), self.slots)
        flat = rng.standard_normal(self.n_params)
        for W, b in zip(self.slots[0::2], self.slots[1::2], strict=True):
            fan_out, fan_in = W.shape
            flat[W.start : W.stop] *= np.sqrt(INIT_SCHEMES[scheme](fan_in, fan_out))
            flat[b.start : b.stop] = 0.0
        return Params(flat, self.slots)

    def params(self, arrays: Mapping[str, np.ndarray]) -> Params:
        """Parameters from plain arrays by name; every shape is checked and the values copied."""
        names = {s.name for s in self.slots}
        missing = sorted(names - set(arrays))
        extra = sorted(set(arrays) - names)
        if missing or extra:
            raise ValueError(f"parameter names do not match {self!r}: missing {missing}, unexpected {extra}")
        flat = np.empty(self.n_params, dtype=np.float64)
        for slot in self.slots:
            value = np.asarray(arrays[slot.name], dtype=np.float64)
            if value.shape != slot.shape:
                raise ValueError(f"{slot.name} has shape {value.shape}, expected {slot.shape}")
            flat[slot.start : slot.stop] = value.ravel()
        return Params(flat, self.slots)

    def _check(self, params: Params) -> None:
        if params.slots != self.slots:
            raise ValueError(f"these parameters do not belong to {self!r}")

    # -- user-facing evaluation (rows in, rows out) -----------------------------------------------------------
    def objective(self, X: np.ndarray, y: np.ndarray, weight_decay: float = 0.0) -> Objective:
        """The loss of this network on fixed data, as the training loop and optimisers use it."""
        return Objective(self, X, y, weight_decay)

    def loss_and_grad(self, params: Params, X: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        r"""Mean cross-entropy over the S samples and its exact gradient.

        Parameters
        ----------
        params : Params of this network
        X : (S, d) array, one sample per row
        y : (S,) int array of class indices in ``0..k−1``

        Returns
        -------
        loss : float
            :math:`L = -\frac{1}{S}\sum_s \ln \hat y_{s, y_s}`
        grads : Params
            :math:`\partial L/\partial W_l, \partial L/\partial b_l`, a new vector (nothing is shared).
        """
        self._check(params)
        result = Objective(self, X, y).evaluate(params.flat[None], Want.GRADIENT)
        assert result.gradient is not None
        return float(result.loss[0]), Params(result.gradient[0].copy(), self.slots)

    def loss(self, params: Params, X: np.ndarray, y: np.ndarray) -> float:
        """Mean cross-entropy over the S samples (forward pass only)."""
        self._check(params)
        return float(Objective(self, X, y).evaluate(params.flat[None]).loss[0])

    def predict_proba(self, params: Params, X: np.ndarray) -> np.ndarray:
        """Class probabilities, ``(S, k)``; every row sums to 1."""
        self._check(params)
        z_L = forward(self, params.flat, _as_columns(X, self.sizes[0]))[0][-1]
        return softmax(z_L).T  # (F3)

    def predict(self, params: Params, X: np.ndarray) -> np.ndarray:
        """Most probable class index per sample, ``(S,)`` int64."""
        self._check(params)
        z_L = forward(self, params.flat, _as_columns(X, self.sizes[0]))[0][-1]
        return np.argmax(z_L, axis=-2).astype(np.int64)


def _as_columns(X: np.ndarray, d: int, dtype: Any = np.float64) -> np.ndarray:
    X = np.asarray(X, dtype=dtype)
    if X.ndim != 2 or X.shape[1] != d:
        raise ValueError(f"X must have shape (S, {d}), got {X.shape}")
    return np.ascontiguousarray(X.T)


def lipschitz_bound(X: np.ndarray, weight_decay: float = 0.0) -> float:
    r"""A Lipschitz constant of the gradient of multinomial logistic regression, ``MLP([d, k])``.

    For the mean cross-entropy of a softmax of ``z = W x + b`` the Hessian is
    ``(1/S) Σ_s (diag(ŷ_s) − ŷ_s ŷ_sᵀ) ⊗ x̃_s x̃_sᵀ`` with ``x̃ = [x; 1]``, and
    ``diag(ŷ) − ŷŷᵀ ⪯ ½ I`` (Böhning 1992), so

    .. math:: L = \tfrac12\,\lambda_{\max}\!\bigl(\tilde X^\top \tilde X / S\bigr) + \lambda,
              \qquad \tilde X = [X,\ \mathbf 1]

    where λ is the weight decay (its Hessian is λ on the weights and 0 on the biases, at most λ).

    Parameters
    ----------
    X : (S, d) array of samples
    weight_decay : λ ≥ 0
    """
    X = np.asarray(X, dtype=np.float64)
    X_tilde = np.hstack([X, np.ones((X.shape[0], 1))])
    gram = X_tilde.T @ X_tilde / X.shape[0]
    return 0.5 * float(np.linalg.eigvalsh(gram)[-1]) + float(weight_decay)
