"""The optimisers' public names in one place: the classes (one module per family: :mod:`.gd`, :mod:`.nag`,
:mod:`.momentum`, :mod:`.adam`, :mod:`.scaled`, :mod:`.lbfgs`), their protocols (:mod:`.base`), the registry
that knows them by name (:mod:`.registry`) and the grammar of their specs (:mod:`.spec`)."""

from __future__ import annotations

from .adam import Adam, AdamState, AdamW
from .base import Optimizer, Oracle, State, hyper, hyper_parameters
from .gd import GD, ArmijoGD, ArmijoGDState, GDState, Polyak
from .lbfgs import LBFGS, LBFGSState
from .momentum import Momentum, MomentumState, SutskeverNAG, SutskeverState
from .nag import NAG, NAGState, RestartedNAG, RestartedNAGState, nag_momentum, next_t
from .registry import describe, label, optimizer_class, optimizer_names, register_optimizer
from .scaled import AdaGrad, RMSProp, ScaledState
from .spec import parse_optimizer

__all__ = [
    "AdaGrad", "Adam", "AdamState", "AdamW", "ArmijoGD", "ArmijoGDState", "GD", "GDState", "LBFGS", "LBFGSState",
    "Momentum", "MomentumState", "NAG", "NAGState", "Optimizer", "Oracle", "Polyak", "RMSProp", "RestartedNAG",
    "RestartedNAGState", "ScaledState", "State", "SutskeverNAG", "SutskeverState", "describe", "hyper",
    "hyper_parameters", "label", "nag_momentum", "next_t", "optimizer_class", "optimizer_names", "parse_optimizer",
    "register_optimizer",
]
