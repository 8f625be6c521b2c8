"""Experiments: several optimisers trained from one initial point (:func:`compare`)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from ..core.engines import NUMBA_ENGINES, choose_engine
from ..core.network import MLP
from ..core.params import Params
from ..data.dataset import Dataset, Standardizer, load_iris, train_test_split
from ..optim.optimizers import Optimizer, parse_optimizer
from ..optim.state import state_to_arrays
from ..training.fit import fit
from ..training.results import FitResult, History
from .config import CompareConfig
from .results import Comparison


def optimizers_from_config(config: CompareConfig) -> list[tuple[str, Optimizer[Any]]]:
    """The optimisers named in ``config.optimizers``, each with its spec (as :func:`parse_optimizer` reads it),
    which names it in results and files."""
    return [(spec.strip(), parse_optimizer(spec, lr=config.lr)) for spec in config.optimizers]


def _named(optimizers: Sequence[Optimizer[Any]] | Mapping[str, Optimizer[Any]]) -> list[tuple[str, Optimizer[Any]]]:
    """Optimisers with the names of their results: a mapping's keys, else each class's ``name``."""
    if isinstance(optimizers, Mapping):
        return list(optimizers.items())
    return [(type(optimizer).name, optimizer) for optimizer in optimizers]


def network_for(data: Dataset, config: CompareConfig) -> MLP:
    """The network the configuration describes for this data: input and output widths from the data."""
    return MLP([data.n_features, *config.hidden, data.n_classes], activation=config.activation)


class Problem(NamedTuple):
    """What a run trains on, made once by :func:`prepare`."""

    train: Dataset
    test: Dataset
    standardizer: Standardizer | None
    net: MLP
    initial: Params


def prepare(data: Dataset, config: CompareConfig) -> Problem:
    """Split (stratified, seeded), optionally standardise with training statistics, build the network and
    draw its initial parameters: everything a run does before the first step."""
    train, test = train_test_split(data, test_size=config.test_size, seed=config.seed)
    standardizer = None
    if config.standardize:
        standardizer = Standardizer.fit(train.X)
        train, test = standardizer.apply(train), standardizer.apply(test)
    net = network_for(data, config)
    initial = net.init(seed=config.seed, mu=config.init_mu, sigma=config.init_sigma, scheme=config.init)
    return Problem(train, test, standardizer, net, initial)


def compare(
    data: Dataset | None = None,
    config: CompareConfig | None = None,
    optimizers: Sequence[Optimizer[Any]] | Mapping[str, Optimizer[Any]] | None = None,
    callback: Callable[[str, int, History], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: dict[str, FitResult] | None = None,
    problem: Problem | None = None,
) -> Comparison:
    """Train one network with several optimisers from the same initial parameters.

    Parameters
    ----------
    data : Dataset, default the embedded Iris
    config : CompareConfig, default the assignment's setting (lr 0.01, 4 → 16 softplus → 3, 350 iterations)
    optimizers : default: those named in ``config.optimizers`` (GD and NAG at ``config.lr``), each named by its
        spec; a mapping names them by its keys, a sequence by each class's ``name``; names must be unique
    callback : callable(method, k, history), called after each recorded iteration
    should_stop : callable() -> bool, asked after each iteration; True interrupts the method being trained
        (its result is ``interrupted``) and leaves the later ones out (``Comparison.pending``)
    resume : results of an interrupted comparison with this configuration (see
        :func:`~descentlab.experiments.checkpoint.resume`): finished methods are kept, an interrupted one
        continues where it stopped, the rest run
    problem : what :func:`prepare` made of ``data`` and ``config``, when the caller has it already
    """
    config = config or CompareConfig()
    data = data if data is not None else load_iris()
    named = _named(optimizers) if optimizers is not None else optimizers_from_config(config)
    names = [name for name, _ in named]
    if len(set(names)) != len(names):
        raise ValueError(f"every method needs its own name, got {names}")
    train, test, standardizer, net, initial = problem or prepare(data, config)
    for method, optimizer in named:
        _check_checkpointable(method, optimizer, initial)
    results: dict[str, FitResult] = {}
    pending: list[str] = []
    config = dataclasses.replace(config, engine=choose_engine(config.engine, config.iterations))  # as it ran
    engine_load = load_engine(net, train, initial, config) if config.engine in NUMBA_ENGINES else None
    start = time.perf_counter()
    for method, optimizer in named:
        earlier = (resume or {}).get(method)
        if any(r.interrupted for r in results.values()):  # stopped: the rest waits for --resume
            pending.append(method)
            continue
        if earlier is not None and not earlier.interrupted:
            results[method] = dataclasses.replace(earlier, optimizer=optimizer)
            continue

        def progress(k: int, history: History, name: str = method) -> None:
            if callback is not None:
                callback(name, k, history)

        results[method] = fit(
            net, initial, train, optimizer, iterations=config.iterations, test=test, callback=progress,
            weight_decay=config.weight_decay, batch_size=config.batch_size, seed=config.seed, engine=config.engine,
            should_stop=should_stop, resume=earlier,
        )
    return Comparison(config, net, initial, train, test, results, standardizer, time.perf_counter() - start,
                      engine_load_seconds=engine_load, pending=pending)


def _check_checkpointable(method: str, optimizer: Optimizer[Any], initial: Params) -> None:
    """Refuse, before any training, an optimiser whose state an interrupted run could not save (a user's class:
    the built-in ones always can), rather than losing the run when it is interrupted."""
    state = optimizer.init(initial.flat[None])
    if not (dataclasses.is_dataclass(state) and hasattr(state, "x")):
        raise ValueError(f"{method}: the optimiser's state must be a dataclass with the iterate x, got "
                         f"{type(state).__name__}")
    try:
        state_to_arrays(state)
    except TypeError as error:
        raise ValueError(f"{method}: {error}; a state's fields are arrays, numbers or None, so that an "
                         f"interrupted run can be saved and resumed") from None


def load_engine(net: MLP, train: Dataset, initial: Params, config: CompareConfig) -> float:
    """Compile the compiled engine's kernels (or load them from numba's cache) with one evaluation of each kind
    the training will make, and return the seconds that took: a one-time cost per process, reported as such
    instead of inflating the first method's time."""
    from ..core.objective import Objective, Want

    started = time.perf_counter()
    for rows in (slice(None), slice(0, 1)):  # the whole set, and a small (mini-)batch, which may take the fused path
        objective = Objective(net, train.X[rows], train.y[rows], config.weight_decay, engine=config.engine)
        objective.evaluate(initial.flat[None], Want.GRADIENT | Want.CORRECT)
        objective.evaluate(initial.flat[None])
    return time.perf_counter() - started
