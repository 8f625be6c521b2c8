"""descentlab: small feed-forward networks with exact, hand-derived gradients, and an honest comparison of
first-order optimisers (steepest descent, Nesterov's method, …).

The public API is re-exported here; see docs/architecture.md for where each piece lives. Each name is
imported on first use (PEP 562), so ``descentlab --help`` and other light commands start without loading
NumPy or matplotlib; ``import descentlab as dl; dl.fit`` works as with eager imports.
"""

# Nothing is imported here (not even __future__; typing, with re and enum, took most of this module's import
# time), for the command line has no Ctrl-C handler until descentlab/__main__.py has run. Type checkers take
# the block below as true.
TYPE_CHECKING = False

__version__ = "0.1.0"
"""The installed version of descentlab (also ``descentlab --version`` and every model file's metadata)."""

_EXPORTS: dict[str, tuple[str, ...]] = {
    "core.activations": ("ACTIVATIONS", "Activation", "get_activation", "sigmoid", "softplus"),
    "data.dataset": ("DataError", "Dataset", "Standardizer", "load_csv", "load_iris", "train_test_split"),
    "experiments.compare": ("compare",),
    "experiments.config": ("CompareConfig", "SweepConfig"),
    "experiments.results": ("Comparison", "Sweep"),
    "experiments.sweeprun": ("sweep",),
    "reporting.write": ("write_run", "write_sweep"),
    "reporting.benchmark_report": ("benchmark",),
    "benchmarking.problems": ("Problem", "suite"),
    "core.gradcheck": ("GradcheckReport", "gradcheck"),
    "formats.model_io": ("ModelFileError", "export_onnx", "load_model", "save_model"),
    "core.network": ("MLP", "lipschitz_bound"),
    "core.objective": ("Evaluation", "Objective", "Want"),
    "optim.optimizers": ("GD", "NAG", "Adam", "ArmijoGD", "Momentum", "RestartedNAG", "SutskeverNAG", "nag_momentum",
                         "AdaGrad", "RMSProp", "AdamW", "LBFGS", "Polyak", "parse_optimizer", "register_optimizer"),
    "core.params": ("Params",),
    "training.fit": ("fit",),
    "training.results": ("FitResult", "History"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

if TYPE_CHECKING:  # what static checkers and IDEs see: the same names, imported eagerly
    from .benchmarking.problems import Problem, suite
    from .core.activations import ACTIVATIONS, Activation, get_activation, sigmoid, softplus
    from .core.gradcheck import GradcheckReport, gradcheck
    from .core.network import MLP, lipschitz_bound
    from .core.objective import Evaluation, Objective, Want
    from .core.params import Params
    from .data.dataset import DataError, Dataset, Standardizer, load_csv, load_iris, train_test_split
    from .estimator import DescentClassifier
    from .experiments.compare import compare
    from .experiments.config import CompareConfig, SweepConfig
    from .experiments.results import Comparison, Sweep
    from .experiments.sweeprun import sweep
    from .formats.model_io import ModelFileError, export_onnx, load_model, save_model
    from .optim.optimizers import (
        GD,
        LBFGS,
        NAG,
        AdaGrad,
        Adam,
        AdamW,
        ArmijoGD,
        Momentum,
        Polyak,
        RestartedNAG,
        RMSProp,
        SutskeverNAG,
        nag_momentum,
        parse_optimizer,
        register_optimizer,
    )
    from .reporting.benchmark_report import benchmark
    from .reporting.write import write_run, write_sweep
    from .training.fit import fit
    from .training.results import FitResult, History


def __getattr__(name: str) -> object:
    from importlib import import_module

    module = _MODULE_OF.get(name)
    if module is not None:
        value = getattr(import_module(f".{module}", __name__), name)
        globals()[name] = value  # the next access is a plain attribute
        return value
    if name == "DescentClassifier":  # needs scikit-learn, an optional extra
        try:
            from .estimator import DescentClassifier
        except ImportError as error:
            raise ImportError(
                "descentlab.DescentClassifier needs scikit-learn: pip install scikit-learn "
                f"(or, in a clone of descentlab: pip install -e '.[sklearn]') ({error})"
            ) from error
        return DescentClassifier
    raise AttributeError(f"module 'descentlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF, "DescentClassifier"])


__all__ = [
    "__version__",
    "Activation",
    "ACTIVATIONS",
    "AdaGrad",
    "Adam",
    "AdamW",
    "ArmijoGD",
    "benchmark",
    "compare",
    "CompareConfig",
    "Comparison",
    "DataError",
    "Evaluation",
    "Dataset",
    "DescentClassifier",
    "export_onnx",
    "fit",
    "FitResult",
    "GD",
    "get_activation",
    "gradcheck",
    "GradcheckReport",
    "History",
    "LBFGS",
    "lipschitz_bound",
    "load_csv",
    "load_iris",
    "load_model",
    "MLP",
    "ModelFileError",
    "Momentum",
    "NAG",
    "nag_momentum",
    "Objective",
    "Want",
    "Params",
    "parse_optimizer",
    "Polyak",
    "Problem",
    "register_optimizer",
    "RestartedNAG",
    "RMSProp",
    "save_model",
    "sigmoid",
    "softplus",
    "Standardizer",
    "suite",
    "SutskeverNAG",
    "sweep",
    "Sweep",
    "SweepConfig",
    "train_test_split",
    "write_run",
    "write_sweep",
]
