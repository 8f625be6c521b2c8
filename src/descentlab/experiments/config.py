"""What decides an experiment: the configurations of a comparison, a sweep and a tuned sweep, with the defaults
(the assignment's setting) that the library and the command line share. Standard library only: the command line
reads these defaults for ``--help`` without loading NumPy."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.engines import DEFAULT_ENGINE

ONE_METHOD = "nag"  # the method of a single training run (descentlab train, DescentClassifier)
DEFAULT_CELL_SIZE = 64  # models per sweep cell (experiments/cells.py); bench/RESULTS.md: the overhead at this size


@dataclass(frozen=True)
class CompareConfig:
    """Everything that decides a comparison; the defaults are the assignment's setting (and the command line's)."""

    hidden: tuple[int, ...] = (16,)
    activation: str = "softplus"
    seed: int = 0
    test_size: float = 0.25
    init: str = "normal"  # core/network.py's INIT_SCHEMES; "normal" is N(init_mu, init_sigma²)
    init_mu: float = 0.0
    init_sigma: float = 1.0
    lr: float = 0.01
    iterations: int = 350
    standardize: bool = False
    weight_decay: float = 0.0
    optimizers: tuple[str, ...] = ("gd", "nag")
    x_axis: str = "iterations"
    batch_size: int | None = None
    data: str = "iris (embedded)"
    target: str | None = None
    engine: str = DEFAULT_ENGINE


@dataclass(frozen=True)
class SweepConfig:
    """A grid of optimisers × learning rates × initial seeds, all on one split of one data set.

    ``base`` supplies everything else (network, split seed, initialisation, iterations, data); model
    ``(lr, seed)`` starts from ``net.init(seed)``, the same point for every optimiser.
    """

    base: CompareConfig = field(default_factory=CompareConfig)
    optimizers: tuple[str, ...] = ("gd", "nag")
    lrs: tuple[float, ...] = (0.005, 0.01, 0.02)
    seeds: int = 10


@dataclass(frozen=True)
class TuneConfig:
    """A tuned comparison: ``methods`` (specs, list values allowed) over the ``lrs`` grid, R = ``repetitions``."""

    base: CompareConfig = field(default_factory=CompareConfig)
    methods: tuple[str, ...] = ("gd", "nag")
    lrs: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
    repetitions: int = 10
    validation_size: float = 0.2
    split_seed: int = 0  # the held-out test rows are drawn once, from this seed
