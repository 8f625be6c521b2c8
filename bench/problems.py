"""The three reference problems, built the same way for every implementation.

Every implementation starts from descentlab's initial parameters, unpacked from the flat vector
``W0 (n1, d), b0 (n1, 1), W1 (k, n1), b1 (k, 1)``, so that loss curves can be compared number for number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import descentlab as dl

ITERATIONS = 350
LR = 0.01
SWEEP_MODELS = 64
DIGITS_ITERATIONS = 100  # per-iteration throughput; 350 iterations of every peer would not fit a 2-minute run
LARGE_SHAPE = (60000, 784)
LARGE_HIDDEN = 256
LARGE_CLASSES = 10


@dataclass
class Problem:
    net: dl.MLP
    X: np.ndarray  # (S, d) training rows
    y: np.ndarray  # (S,) labels
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    p0: np.ndarray  # (P,) or (M, P) initial parameters
    lr: np.ndarray | float
    iterations: int

    def unpack(self, flat: np.ndarray) -> list[np.ndarray]:
        """W0, b0, W1, b1 as arrays (stacked on a leading model axis when ``flat`` is 2-D)."""
        params = dl.Params(flat, self.net.slots)
        return [np.ascontiguousarray(params[name]) for name in ("W0", "b0", "W1", "b1")]


def single() -> Problem:
    """The assignment's run: Iris (descentlab's default split), 4 → 16 softplus → 3, lr 0.01, 350 iterations."""
    train, test = dl.train_test_split(dl.load_iris(), test_size=0.25, seed=0)
    net = dl.MLP([4, 16, 3])
    return Problem(net, train.X, train.y, test.X, test.y, net.init(seed=0).flat, LR, ITERATIONS)


def sweep(models: int = SWEEP_MODELS, base: Problem | None = None) -> Problem:
    """``models`` models of the single problem (or of ``base``): init seeds 0, 1, …, learning rates evenly
    spaced in [0.005, 0.02]."""
    base = base or single()
    p0 = np.stack([base.net.init(seed=m).flat for m in range(models)])
    lr = np.linspace(0.005, 0.02, models)
    return Problem(base.net, base.X, base.y, base.X_test, base.y_test, p0, lr, base.iterations)


def digits() -> Problem:
    """64 models on scikit-learn's digits as descentlab ships them: 1797 × 64 pixels / 16 → 32 softplus → 10."""
    from importlib import resources

    data = dl.load_csv(resources.files("descentlab.data").joinpath("datasets/digits.csv"))
    net = dl.MLP([64, 32, 10])
    one = Problem(net, data.X / 16.0, data.y, None, None, net.init(seed=0).flat, LR, DIGITS_ITERATIONS)
    return sweep(SWEEP_MODELS, one)


def large(dtype: type = np.float32) -> Problem:
    """Synthetic (60000, 784) standard-normal data from seed 0, 10 classes, 784 → 256 softplus → 10."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal(LARGE_SHAPE, dtype=np.float32).astype(dtype, copy=False)
    y = rng.integers(0, LARGE_CLASSES, LARGE_SHAPE[0])
    net = dl.MLP([LARGE_SHAPE[1], LARGE_HIDDEN, LARGE_CLASSES])
    p0 = net.init(seed=0, sigma=0.05).flat.astype(dtype)
    return Problem(net, X, y, None, None, p0, LR, 1)


def large_gflop() -> float:
    """Matrix-product work of one iteration: forward W0·X and W1·a1, backward dW1, dA1 and dW0."""
    S, d = LARGE_SHAPE
    h, k = LARGE_HIDDEN, LARGE_CLASSES
    return 2.0 * S * (2 * d * h + 3 * h * k) / 1e9
