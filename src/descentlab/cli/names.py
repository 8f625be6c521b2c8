"""The names the command line's ``--help`` offers.

This module imports nothing but the standard library, so ``descentlab --help`` builds its text without
loading NumPy. The optimisers' names and labels are their classes' (``name``, ``label``, known to
:mod:`descentlab.optim.registry`); METHODS is their light copy for the help text, and
``tests/test_first_hour.py`` checks that it matches the built-in classes and the activations.
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
    "adagrad": "AdaGrad, Duchi, Hazan & Singer",
    "rmsprop": "RMSProp, Tieleman & Hinton",
    "adamw": "Adam with decoupled weight decay, Loshchilov & Hutter",
    "lbfgs": "limited-memory BFGS, Armijo line search",
    "polyak": "steepest descent, Polyak's step",
}

ACTIVATION_NAMES: tuple[str, ...] = ("softplus", "relu", "tanh", "sigmoid", "identity")

INIT_NAMES: tuple[str, ...] = ("normal", "glorot", "he", "lecun")  # core/network.py INIT_SCHEMES
