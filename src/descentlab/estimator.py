"""``DescentClassifier``: descentlab as a scikit-learn estimator (``pip install scikit-learn``).

A thin wrapper: ``fit`` builds an :class:`~descentlab.core.network.MLP`, draws its initial parameters from
``random_state`` and runs :func:`~descentlab.training.fit.fit` with the optimiser named by ``optimizer`` (any
``NAME[:KEY=VALUE…]`` spec :func:`~descentlab.optim.optimizers.parse_optimizer` reads). Nothing else is computed
here, so the estimator inherits every number the core computes.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .core.engines import DEFAULT_ENGINE
from .core.network import MLP
from .core.params import Params
from .data.dataset import Dataset, Standardizer
from .experiments.config import ONE_METHOD, CompareConfig
from .optim.optimizers import parse_optimizer
from .training.fit import fit

_DEFAULT = CompareConfig()  # the library's defaults, shared with compare and the command line


class DescentClassifier(ClassifierMixin, BaseEstimator):
    """A feed-forward softmax classifier trained with descentlab's exact gradients.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (16,)
        Hidden widths; ``()`` is multinomial logistic regression.
    activation : {"softplus", "relu", "tanh", "sigmoid", "identity"}, default "softplus"
    optimizer : str, default "nag"
        ``gd``, ``nag``, ``nag-restart``, ``momentum``, ``sutskever``, ``adam``, ``gd-armijo``, with optional
        ``:KEY=VALUE`` settings (``"momentum:mu=0.8"``).
    lr : float, default 0.01
        Learning rate (the default step of ``optimizer``).
    iterations : int, default 350
        Training iterations (full-batch steps, or mini-batch steps with ``batch_size``).
    batch_size : int or None, default None
        Mini-batch size (seeded by ``random_state``); None trains on the full batch.
    weight_decay : float, default 0.0
        λ of the L2 penalty ``(λ/2) Σ ‖W‖²`` on the weights.
    standardize : bool, default False
        Standardise features with the training mean and standard deviation (also applied at prediction).
    init : {"normal", "glorot", "he", "lecun"}, default "normal"
        Initialisation scheme (:meth:`descentlab.MLP.init`): ``normal`` draws every parameter from
        N(0, init_sigma²); the others scale each layer's weights by its fan-in and fan-out, biases 0.
    init_sigma : float, default 1.0
        Standard deviation of the normal initialisation (mean 0); only with ``init="normal"``.
    random_state : int, numpy Generator or None, default 0
        Seed of the initial parameters (and of the mini-batch order).
    engine : {"auto", "numpy", "compiled", "reference"}, default "auto"

    Attributes
    ----------
    classes_ : ndarray of the class labels, sorted
    n_features_in_ : int
    loss_curve_ : list of float
        Training loss at every iteration k = 0 … n_iter_ (k = 0 is the initial point).
    n_iter_ : int
        Iterations done (fewer than ``iterations`` only when training stopped on a non-finite loss).
    net_ : MLP
    params_ : Params
        The trained (exported) parameters.
    standardizer_ : Standardizer or None
    history_ : descentlab History of the training run
    """

    def __init__(self, hidden_layer_sizes: tuple[int, ...] = _DEFAULT.hidden, activation: str = _DEFAULT.activation,
                 optimizer: str = ONE_METHOD, lr: float = _DEFAULT.lr, iterations: int = _DEFAULT.iterations,
                 batch_size: int | None = _DEFAULT.batch_size, weight_decay: float = _DEFAULT.weight_decay,
                 standardize: bool = _DEFAULT.standardize, init: str = _DEFAULT.init,
                 init_sigma: float = _DEFAULT.init_sigma, random_state: Any = 0, engine: str = DEFAULT_ENGINE) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.lr = lr
        self.iterations = iterations
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.standardize = standardize
        self.init = init
        self.init_sigma = init_sigma
        self.random_state = random_state
        self.engine = engine

    def _seed(self) -> int | np.random.Generator:
        state = self.random_state
        if state is None:
            return np.random.default_rng()
        if isinstance(state, np.random.RandomState):
            return int(state.randint(2**31 - 1))
        if isinstance(state, np.random.Generator):
            return state
        return int(state)

    def fit(self, X: Any, y: Any) -> DescentClassifier:
        """Train on ``X`` (n_samples, n_features) and labels ``y``; returns self."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"DescentClassifier needs samples of at least 2 classes; got 1 class ({self.classes_[0]!r})"
            )
        if int(self.iterations) < 0:
            raise ValueError(f"iterations must be >= 0, got {self.iterations}")
        codes = encoder.transform(y).astype(np.int64)
        self.standardizer_ = Standardizer.fit(X) if self.standardize else None
        features = self.standardizer_.transform(X) if self.standardizer_ is not None else X
        sizes = [X.shape[1], *(int(n) for n in self.hidden_layer_sizes), len(self.classes_)]
        self.net_ = MLP(sizes, activation=self.activation)
        seed = self._seed()
        initial = self.net_.init(seed=seed, sigma=self.init_sigma, scheme=self.init)
        optimizer = parse_optimizer(self.optimizer, lr=self.lr)
        shuffle_seed = seed if isinstance(seed, int) else int(seed.integers(2**31 - 1))
        train = Dataset(features, codes, class_names=[str(c) for c in self.classes_])
        result = fit(self.net_, initial, train, optimizer, iterations=int(self.iterations),
                     weight_decay=self.weight_decay, batch_size=self.batch_size, seed=shuffle_seed,
                     metrics="loss", engine=self.engine)
        if result.stopped:
            warnings.warn(f"DescentClassifier: {result.stopped}", ConvergenceWarning, stacklevel=2)
        self.params_: Params = result.params
        self.history_ = result.history
        self.loss_curve_ = [float(v) for v in result.history.train_loss]
        self.n_iter_ = result.iterations
        return self

    def _features(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "params_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.standardizer_.transform(X) if self.standardizer_ is not None else X

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, (n_samples, n_classes), columns in the order of ``classes_``."""
        features = self._features(X)  # checks that the model is fitted first
        return self.net_.predict_proba(self.params_, features)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label of every row."""
        features = self._features(X)  # checks that the model is fitted, before classes_ is touched
        return self.classes_[self.net_.predict(self.params_, features)]
