"""descentlab: small feed-forward networks with exact, hand-derived gradients, and an honest comparison of
first-order optimisers (steepest descent, Nesterov's method, …).

The public API is re-exported here; see docs/architecture.md for where each piece lives.
"""

__version__ = "0.1.0"

from .activations import ACTIVATIONS, Activation, get_activation, sigmoid, softplus
from .data import DataError, Dataset, Standardizer, load_csv, load_iris, train_test_split
from .experiments import CompareConfig, Comparison, compare, write_run
from .gradcheck import GradcheckReport, gradcheck
from .model_io import ModelFileError, export_onnx, load_model, save_model
from .network import MLP, Objective, lipschitz_bound
from .optimizers import GD, NAG, Adam, Momentum, SutskeverNAG, nag_momentum, parse_optimizer
from .params import Params
from .train import FitResult, History, fit


def __getattr__(name: str):  # DescentClassifier needs scikit-learn, an optional extra: import it on first use
    if name == "DescentClassifier":
        try:
            from .estimator import DescentClassifier
        except ImportError as error:
            raise ImportError(
                f"descentlab.DescentClassifier needs scikit-learn: pip install 'descentlab[sklearn]' ({error})"
            ) from error
        return DescentClassifier
    raise AttributeError(f"module 'descentlab' has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS",
    "DescentClassifier",
    "Adam",
    "Momentum",
    "SutskeverNAG",
    "lipschitz_bound",
    "parse_optimizer",
    "Activation",
    "CompareConfig",
    "Comparison",
    "DataError",
    "Dataset",
    "FitResult",
    "GD",
    "History",
    "MLP",
    "ModelFileError",
    "NAG",
    "Objective",
    "Params",
    "Standardizer",
    "__version__",
    "compare",
    "export_onnx",
    "fit",
    "get_activation",
    "gradcheck",
    "GradcheckReport",
    "load_csv",
    "load_iris",
    "load_model",
    "nag_momentum",
    "save_model",
    "sigmoid",
    "softplus",
    "train_test_split",
    "write_run",
]
