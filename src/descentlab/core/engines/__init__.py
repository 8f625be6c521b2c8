"""Engines: interchangeable ways of computing the same loss and gradient (see :mod:`.base` for the protocol).

``reference`` is the derivation written out; ``numpy`` the buffered NumPy kernel; ``compiled`` numba kernels
for small networks (optional dependency); ``simd`` the compiled engine with softplus's exp and log1p as
polynomials the compiler vectorises (within 2 ulp, not bit for bit; 2-3x faster where NumPy's are scalar
libm calls). ``auto``, the default, picks ``compiled`` when numba is installed and the run is long enough to
pay for loading it, else ``numpy``. This module imports only the standard library, so
the command line can name the engines without loading NumPy.
"""

from __future__ import annotations

import importlib.util
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import EngineFactory

ENGINES = ("auto", "numpy", "compiled", "simd", "reference")
NUMBA_ENGINES = ("compiled", "simd")  # the engines that need numba
DEFAULT_ENGINE = "auto"
# Iterations × models from which "auto" takes the compiled engine: loading numba and its cached kernels costs
# 0.3-0.7 s of CPU per process and the kernels save about 10 µs per model-iteration on the assignment's network,
# so they pay for themselves from 30 000-70 000 model-iterations on (docs/performance.md).
AUTO_COMPILED_FROM = 50_000


def compiled_available() -> bool:
    """Whether the optional compiled engine (numba) can be used."""
    return importlib.util.find_spec("numba") is not None


def engine_problem(engine: str) -> str | None:
    """Why ``engine`` cannot run here (no such engine, numba missing, or its kernel cache cannot be written), or None
    when it can."""
    if engine not in ENGINES:
        return f"there is no engine {engine!r} (one of {', '.join(ENGINES)})"
    if engine not in NUMBA_ENGINES:
        return None
    if not compiled_available():
        return (f"the {engine} engine needs numba: pip install numba (in a clone of descentlab: "
                "pip install -e '.[fast]')")
    from .cache import numba_cache_problem

    problem = numba_cache_problem()
    return None if problem is None else f"{problem}; set NUMBA_CACHE_DIR to a writable folder"


def choose_engine(engine: str, evaluations: int = 0) -> str:
    """The engine that ``engine`` names, with ``"auto"`` resolved for a run of about ``evaluations`` model
    evaluations (iterations × models): ``"compiled"`` from ``AUTO_COMPILED_FROM`` on when numba is installed."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine != "auto":
        return engine
    if evaluations < AUTO_COMPILED_FROM or not compiled_available():
        return "numpy"
    from .cache import numba_cache_problem

    return "numpy" if numba_cache_problem() is not None else "compiled"  # a kernel cache it cannot write: no gain


def engine_factory(engine: str) -> EngineFactory:
    """The class of the engine ``engine`` names (``"auto"``, not told how long the run is, is NumPy's)."""
    name = choose_engine(engine)
    if name in NUMBA_ENGINES:
        from .compiled import CompiledEngine

        return CompiledEngine if name == "compiled" else partial(CompiledEngine, simd=True)
    if name == "reference":
        from .reference import ReferenceEngine

        return ReferenceEngine
    from .fused import FusedEngine

    return FusedEngine
