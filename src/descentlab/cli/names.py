"""The names (and the one default) the command line offers, and what each optimiser is.

A method's command-line spec (``gd``, ``momentum:mu=0.8``, ``gd-armijo:lr=1``) is its one name everywhere:
terminal table, figure legends, report.md, file names. The description only stands beside it.

This module imports nothing but the standard library, so ``descentlab --help`` builds its text without
loading NumPy (``tests/test_names.py`` checks that these lists match the optimisers and activations).
"""

from __future__ import annotations

METHODS: dict[str, str] = {
    "gd": "steepest descent",
    "nag": "accelerated gradient, Nesterov 1983",
    "nag-restart": "NAG with gradient restart",
    "momentum": "heavy-ball momentum",
    "sutskever": "Sutskever form of NAG, constant momentum",
    "adam": "adaptive moments, Kingma & Ba",
    "gd-armijo": "steepest descent, Armijo line search",
}

ACTIVATION_NAMES: tuple[str, ...] = ("softplus", "relu", "tanh", "sigmoid", "identity")

# models per sweep cell (experiments/cells.py): see bench/RESULTS.md for the overhead at this size
DEFAULT_CELL_SIZE = 64


def describe(spec: str) -> str:
    """What the method named by ``spec`` (``NAME[:KEY=VALUE…]``) is, e.g. ``"heavy-ball momentum"``."""
    return METHODS.get(spec.partition(":")[0].strip(), "")


def label(spec: str) -> str:
    """The name with its description beside it, for legends and reports: ``"momentum:mu=0.8 (heavy-ball
    momentum)"``."""
    description = describe(spec)
    return f"{spec} ({description})" if description else spec
