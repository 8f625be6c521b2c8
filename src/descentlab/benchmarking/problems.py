"""Benchmark problems as objects: the data with their held-out test set, the model, the loss and the target that
says when a run has solved the problem.

Three kinds (docs/benchmark.md):

* ``mlp``: an MLP on a data set, run by the tuned protocol of ``sweep --tune``; solved when the validation loss
  falls to the best median final validation loss any method reached, times ``1 + delta``.
* ``logistic``: L2-regularised multinomial logistic regression (``MLP([d, k])`` with weight decay λ on the
  weights) on the rows left after the held-out test set, standardised with their statistics; its optimal value
  f* is computed once by Newton's method (:func:`newton_f_star`) and stored in ``f_star.json``. Solved when
  f − f* ≤ ``epsilon``.
* ``quadratic``: f(x) = ½ xᵀAx − bᵀx with eigenvalues of A spread log-uniformly over [μ, L] = [1, κ]; f*, L, μ
  and x* are exact. Solved when f − f* ≤ ``epsilon``.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..core.network import MLP, lipschitz_bound
from ..core.objective import Objective, Want
from ..data.dataset import Dataset, Standardizer, load_csv, train_test_split

KINDS = ("mlp", "logistic", "quadratic")
BUILT_IN_DATA = ("iris", "wine", "breast_cancer", "digits")
MAX_DIMENSION = 4096  # a quadratic's A is dense: 4096² float64 is 128 MiB
SPLIT_SEED = 0  # the held-out test rows are drawn once, from this seed (as sweep --tune's --split-seed default)


class ProblemError(ValueError):
    """A problem or suite that cannot be used, in one line naming the file and key."""


@dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    Attributes
    ----------
    name : unique in its suite
    kind : ``"mlp"``, ``"logistic"`` or ``"quadratic"``
    data : a built-in data set (``BUILT_IN_DATA``) or the path of a CSV file (not for ``quadratic``)
    target : the label column of a CSV file (default: the last column)
    hidden, activation, init_mu, init_sigma, standardize : the network and its initial points (``mlp``; a
        ``logistic`` problem has no hidden layer and draws its initial points with ``init_mu``, ``init_sigma``)
    weight_decay : λ of the penalty (λ/2)‖W‖² on the weights
    iterations : steps per run; ``lrs`` : the learning-rate grid (None: the command's)
    test_size : fraction of the rows held out for the final evaluation
    epsilon : convex problems are solved when f − f* ≤ epsilon
    delta : ``mlp`` problems are solved when the validation loss ≤ (1 + delta) × the best median final
        validation loss of any method
    f_star : the optimal value (convex problems), stored for the built-in ones
    dimension, condition, seed : the quadratic's size, κ = L/μ and the seed of its eigenvectors and b
    """

    name: str
    kind: str = "mlp"
    data: str = "iris"
    target: str | None = None
    hidden: tuple[int, ...] = (16,)
    activation: str = "softplus"
    init_mu: float = 0.0
    init_sigma: float = 1.0
    standardize: bool = True
    weight_decay: float = 0.0
    iterations: int = 350
    lrs: tuple[float, ...] | None = None
    test_size: float = 0.25
    epsilon: float = 1e-6
    delta: float = 0.1
    f_star: float | None = None
    dimension: int = 50
    condition: float = 1e3
    seed: int = 0

    @property
    def convex(self) -> bool:
        return self.kind != "mlp"


# -- data -------------------------------------------------------------------------------------------------------
def load_problem_data(problem: Problem) -> Dataset:
    """The whole data set of a problem (built-in by name, or read from its CSV file)."""
    if problem.data in BUILT_IN_DATA:
        source = resources.files("descentlab.data").joinpath(f"datasets/{problem.data}.csv")
        with resources.as_file(source) as path:
            return load_csv(path, target=_BUILT_IN_TARGET[problem.data])
    return load_csv(problem.data, target=problem.target)


_BUILT_IN_TARGET = {"iris": "species", "wine": "cultivar", "breast_cancer": "diagnosis", "digits": "digit"}


def held_out(data: Dataset, test_size: float) -> tuple[Dataset, Dataset]:
    """``(rest, test)``: the test rows drawn once (seed ``SPLIT_SEED``), held out of everything until the end."""
    return train_test_split(data, test_size=test_size, seed=SPLIT_SEED)


# -- convex objectives ------------------------------------------------------------------------------------------
class Quadratic:
    r"""f(x) = ½ xᵀAx − bᵀx for a stack of points ``(M, n)``, with A = Q diag(λ) Qᵀ, the λ_i log-spaced over
    [1, κ] and Q, b drawn from ``seed``: L = κ, μ = 1, x* = A⁻¹b and f* = −½ bᵀA⁻¹b exact.

    GD with step 1/L contracts every eigen-component by (1 − λ_i/L), so f − f* ≤ (1 − 1/κ)^{2k} (f(x₀) − f*).
    """

    def __init__(self, dimension: int, condition: float, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.eigenvalues = np.geomspace(1.0, condition, dimension)
        self.Q, _ = np.linalg.qr(rng.standard_normal((dimension, dimension)))
        self.A = (self.Q * self.eigenvalues) @ self.Q.T
        self.b = rng.standard_normal(dimension)
        self.L, self.mu = float(condition), 1.0
        c = self.Q.T @ self.b
        self.x_star = self.Q @ (c / self.eigenvalues)
        self.f_star = float(-0.5 * np.sum(c**2 / self.eigenvalues))

    def value(self, x: np.ndarray) -> np.ndarray:
        """f at each row of ``x`` ``(M, n)``: ``(M,)``."""
        return 0.5 * np.einsum("mi,mi->m", x @ self.A, x) - x @ self.b

    def value_and_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(f (M,), ∇f = Ax − b (M, n))``."""
        Ax = x @ self.A
        return 0.5 * np.einsum("mi,mi->m", Ax, x) - x @ self.b, Ax - self.b

    def start(self, seed: int) -> np.ndarray:
        """Initial point of repetition ``seed``: standard normal, ``(n,)``."""
        return np.random.default_rng([seed, 1]).standard_normal(self.b.size)

    def nearest_solution(self, x0: np.ndarray) -> np.ndarray:
        return self.x_star


class Logistic:
    """The penalised mean cross-entropy of ``MLP([d, k])`` on fixed rows: descentlab's own :class:`Objective`."""

    def __init__(self, problem: Problem, rest: Dataset) -> None:
        self.problem, self.rest = problem, rest
        self.net = MLP([rest.n_features, rest.n_classes])
        self.objective = Objective(self.net, rest.X, rest.y, problem.weight_decay)
        self.L = lipschitz_bound(rest.X, problem.weight_decay)
        self.mu = problem.weight_decay  # on the weights; the softmax is flat along b + c·1 (all classes alike)

    def value(self, x: np.ndarray) -> np.ndarray:
        return self.objective.evaluate(x, Want(0)).loss

    def value_and_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        evaluation = self.objective.evaluate(x, Want.GRADIENT)
        assert evaluation.gradient is not None
        return evaluation.loss, evaluation.gradient

    def start(self, seed: int) -> np.ndarray:
        return self.net.init(seed=seed, mu=self.problem.init_mu, sigma=self.problem.init_sigma).flat

    @cached_property
    def solution(self) -> np.ndarray:
        """A minimiser ``(P,)`` from Newton's method (:func:`newton_solution`)."""
        W, b = newton_solution(self.rest.X, self.rest.y, self.rest.n_classes, self.problem.weight_decay)
        return self.net.params({"W0": W, "b0": b.reshape(self.net.slots[1].shape)}).flat

    def nearest_solution(self, x0: np.ndarray) -> np.ndarray:
        """The minimiser closest to ``x0``: minimisers differ by a shift b + c·1 of every class's bias."""
        bias = slice(self.net.slots[1].start, self.net.slots[1].stop)
        nearest = self.solution.copy()
        nearest[bias] += np.mean(x0[bias] - nearest[bias])
        return nearest


ConvexObjective = Quadratic | Logistic


def convex_objective(problem: Problem) -> tuple[ConvexObjective, Dataset | None]:
    """The objective a convex problem's runs minimise, and its held-out test set (None for the quadratic)."""
    if problem.kind == "quadratic":
        return Quadratic(problem.dimension, problem.condition, problem.seed), None
    rest, test = held_out(load_problem_data(problem), problem.test_size)
    standardizer = Standardizer.fit(rest.X)
    return Logistic(problem, standardizer.apply(rest)), standardizer.apply(test)


# -- the reference solver ---------------------------------------------------------------------------------------
def _softmax_loss(theta: np.ndarray, U: np.ndarray, y: np.ndarray, k: int, weight_decay: float
                  ) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss, gradient ``(k, d+1)`` and class probabilities ``(S, k)`` of multinomial logistic regression with
    parameters ``theta = [W, b]`` ``(k, d+1)`` on ``U = [X, 1]``, written apart from the engines."""
    S = U.shape[0]
    z = U @ theta.T
    z -= z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    p = np.exp(z - log_norm[:, None])
    W = theta[:, :-1]
    loss = float(np.mean(log_norm - z[np.arange(S), y])) + 0.5 * weight_decay * float(np.sum(W * W))
    p_minus_y = p.copy()
    p_minus_y[np.arange(S), y] -= 1.0
    grad = p_minus_y.T @ U / S
    grad[:, :-1] += weight_decay * W
    return loss, grad, p


def _softmax_hessian(p: np.ndarray, U: np.ndarray, weight_decay: float) -> np.ndarray:
    """The Hessian ``(k(d+1), k(d+1))`` at class probabilities ``p``: block (a, b) is
    (1/S) Σ_s (p_sa δ_ab − p_sa p_sb) u_s u_sᵀ, one product per block (the blocks are symmetric: b ≥ a only),
    plus λ on the weights' diagonal."""
    (S, k), m = p.shape, U.shape[1]
    hessian = np.empty((k, m, k, m))
    for a in range(k):
        for b in range(a, k):
            curvature = p[:, a] * ((a == b) - p[:, b])
            hessian[a, :, b] = hessian[b, :, a] = U.T @ (curvature[:, None] * U) / S
    decay = np.zeros((k, m))
    decay[:, :-1] = weight_decay
    return hessian.reshape(k * m, k * m) + np.diag(decay.ravel())


def newton_solution(X: np.ndarray, y: np.ndarray, k: int, weight_decay: float, tolerance: float = 1e-14
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A minimiser ``(W (k, d), b (k,))`` of the penalised mean cross-entropy by Newton's method with
    backtracking (least-squares steps: the Hessian is singular along b + c·1), until the gradient's norm is below
    ``tolerance`` or a step no longer lowers the loss."""
    U = np.hstack([X, np.ones((X.shape[0], 1))])
    theta = np.zeros((k, U.shape[1]))
    loss, grad, p = _softmax_loss(theta, U, y, k, weight_decay)
    for _ in range(200):
        if np.linalg.norm(grad) < tolerance:
            break
        hessian = _softmax_hessian(p, U, weight_decay)
        step = np.linalg.lstsq(hessian, grad.ravel(), rcond=None)[0].reshape(theta.shape)
        t = 1.0
        while t > 1e-10:
            trial = _softmax_loss(theta - t * step, U, y, k, weight_decay)
            if trial[0] <= loss:
                break
            t /= 2
        if trial[0] > loss or (trial[0] == loss and np.linalg.norm(trial[1]) >= np.linalg.norm(grad)):
            break
        theta = theta - t * step
        loss, grad, p = trial
    return theta[:, :-1].copy(), theta[:, -1].copy()


def newton_f_star(problem: Problem) -> float:
    """f* of a ``logistic`` problem from :func:`newton_solution`, evaluated by descentlab's own objective."""
    objective, _ = convex_objective(problem)
    assert isinstance(objective, Logistic)
    return float(objective.value(objective.solution[None, :])[0])


# -- suites -----------------------------------------------------------------------------------------------------
_F_STAR_FILE = "f_star.json"


def _stored_f_star() -> dict[str, float]:
    text = resources.files("descentlab.benchmarking").joinpath(_F_STAR_FILE).read_text(encoding="utf-8")
    return {name: float(entry["f_star"]) for name, entry in json.loads(text).items()}


SMALL = (
    Problem("iris-mlp", data="iris", hidden=(16,), iterations=350),
    Problem("wine-mlp", data="wine", hidden=(16,), iterations=350),
    Problem("breast_cancer-mlp", data="breast_cancer", hidden=(16,), iterations=350),
    Problem("digits-mlp", data="digits", hidden=(32,), iterations=350),
    Problem("wine-logistic", kind="logistic", data="wine", weight_decay=1e-2, init_sigma=0.1, iterations=500,
            lrs=(0.1, 0.2, 0.5, 1.0, 2.0, 5.0), epsilon=1e-6),
    Problem("breast_cancer-logistic", kind="logistic", data="breast_cancer", weight_decay=1e-2, init_sigma=0.1,
            iterations=500, lrs=(0.1, 0.2, 0.5, 1.0, 2.0, 5.0), epsilon=1e-6),
    Problem("quadratic-k1e3", kind="quadratic", data="", dimension=50, condition=1e3, iterations=2000,
            lrs=(2.5e-4, 5e-4, 1e-3, 1.5e-3), epsilon=1e-6),
)


def suite(name: str = "small") -> list[Problem]:
    """The problems of a suite: ``"small"`` (built in, no download) or the path of a TOML file (docs/benchmark.md).

    Each problem has a ``name`` and, when it is convex, its ``f_star``.
    """
    if name == "small":
        stored = _stored_f_star()
        return [_with_f_star(p, stored) for p in SMALL]
    return read_suite(Path(name))


def _with_f_star(problem: Problem, stored: dict[str, float]) -> Problem:
    if problem.kind == "logistic":
        return replace(problem, f_star=stored[problem.name])
    if problem.kind == "quadratic":
        return replace(problem, f_star=Quadratic(problem.dimension, problem.condition, problem.seed).f_star)
    return problem


# -- TOML -------------------------------------------------------------------------------------------------------
_TYPES: dict[str, Any] = {f.name: f.type for f in fields(Problem)}
_TOML_KEYS = tuple(k for k in _TYPES if k not in ("name", "f_star"))


def read_suite(path: Path) -> list[Problem]:
    """Problems declared in a TOML file, one ``[[problem]]`` table each (docs/benchmark.md); a relative ``data``
    path is relative to the file. Raises :class:`ProblemError` naming the file and the key at fault."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ProblemError(f"{path}: cannot read the suite ({error.strerror or error})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProblemError(f"{path}: not a TOML file ({error})") from None
    tables = document.get("problem")
    extra = sorted(set(document) - {"problem"})
    if extra:
        raise ProblemError(f"{path}: unknown key {extra[0]!r} (problems are [[problem]] tables)")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ProblemError(f"{path}: no [[problem]] table")
    problems = [_problem_from(path, i, table) for i, table in enumerate(tables)]
    names = [p.name for p in problems]
    if len(set(names)) != len(names):
        raise ProblemError(f"{path}: problem name {next(n for n in names if names.count(n) > 1)!r} is used twice")
    return problems


def _problem_from(path: Path, index: int, table: dict[str, Any]) -> Problem:
    where = f"{path}: problem {index + 1}"
    name = table.get("name")
    if not isinstance(name, str) or not name.strip() or any(c in name for c in "/\\,"):
        raise ProblemError(f"{where}: key 'name' must be a non-empty text without '/', '\\' or ','")
    where = f"{path}: problem {name!r}"
    values: dict[str, Any] = {"name": name}
    for key, value in table.items():
        if key == "name":
            continue
        if key not in _TOML_KEYS:
            raise ProblemError(f"{where}: unknown key {key!r} (known: {', '.join(_TOML_KEYS)})")
        values[key] = _checked(where, key, value)
    problem = Problem(**values)
    if problem.kind not in KINDS:
        raise ProblemError(f"{where}: key 'kind' must be one of {', '.join(KINDS)}, got {problem.kind!r}")
    if problem.kind == "quadratic":
        problem = replace(problem, data="")
    elif problem.data not in BUILT_IN_DATA:
        data = Path(problem.data)
        problem = replace(problem, data=str(data if data.is_absolute() else path.parent / data))
    return _with_computed_f_star(problem, where)


def _checked(where: str, key: str, value: Any) -> Any:
    """``value`` as the type of field ``key``, or ProblemError naming the key."""
    kind = _TYPES[key]
    if "tuple" in kind:
        if not isinstance(value, list) or not all(_is_number(v) for v in value) or (key == "lrs" and not value):
            raise ProblemError(f"{where}: key {key!r} must be a list of numbers")
        if key == "hidden" and not all(isinstance(v, int) and v > 0 for v in value):
            raise ProblemError(f"{where}: key 'hidden' must be a list of whole numbers > 0")
        if key == "lrs" and not all(math.isfinite(v) and v > 0 for v in value):
            raise ProblemError(f"{where}: key 'lrs' must hold numbers > 0")
        return tuple(value)
    checks = {"bool": lambda v: isinstance(v, bool), "int": lambda v: isinstance(v, int) and not isinstance(v, bool)
              and v >= (0 if key == "seed" else 1), "float": lambda v: _is_number(v) and math.isfinite(v) and
              (v >= 0 if key in ("weight_decay", "init_mu", "epsilon", "delta") else True)}
    for name, check in checks.items():
        if kind.startswith(name) and not check(value):
            raise ProblemError(f"{where}: key {key!r} must be {_WANTED[name]}, got {value!r}")
    if kind.startswith("str") and not isinstance(value, str):
        raise ProblemError(f"{where}: key {key!r} must be a text, got {value!r}")
    _check_range(where, key, value)
    return float(value) if kind.startswith("float") else value


def _check_range(where: str, key: str, value: Any) -> None:
    """The bounds of the keys that have them."""
    if key == "test_size" and not 0 < value < 1:
        raise ProblemError(f"{where}: key 'test_size' must be in (0, 1), got {value!r}")
    if key == "dimension" and value > MAX_DIMENSION:
        raise ProblemError(f"{where}: key 'dimension' must be at most {MAX_DIMENSION} (A is stored dense), got {value}")
    if key == "init_sigma" and not value > 0:
        raise ProblemError(f"{where}: key 'init_sigma' must be > 0, got {value!r}")
    if key == "condition" and not value >= 1:
        raise ProblemError(f"{where}: key 'condition' (L/μ) must be at least 1, got {value!r}")


_WANTED = {"bool": "true or false", "int": "a whole number (at least 1; seed at least 0)", "float": "a finite number"}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _with_computed_f_star(problem: Problem, where: str) -> Problem:
    if problem.kind == "quadratic":
        return replace(problem, f_star=Quadratic(problem.dimension, problem.condition, problem.seed).f_star)
    if problem.kind == "logistic":
        if problem.weight_decay <= 0:
            raise ProblemError(f"{where}: key 'weight_decay' must be > 0 for a logistic problem (else f* may not "
                               "be attained)")
        return problem  # f* is computed when the problem is run: the data are read then
    return problem


def with_options(problems: Sequence[Problem], iterations: int | None, lrs: Sequence[float] | None
                 ) -> list[Problem]:
    """The problems with the command's ``--iterations`` and ``--lr`` when given (they win over a problem's own)."""
    changes: dict[str, Any] = {}
    if iterations is not None:
        changes["iterations"] = iterations
    if lrs is not None:
        changes["lrs"] = tuple(lrs)
    return [replace(p, **changes) for p in problems]


__all__ = ["KINDS", "Problem", "ProblemError", "Quadratic", "Logistic", "suite", "read_suite", "newton_f_star",
           "convex_objective", "load_problem_data", "held_out", "with_options"]
