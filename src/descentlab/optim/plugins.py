"""Optimisers from outside descentlab: a plugin file or module (``--plugin FILE.py|MODULE``) and the installed
packages that declare the entry-point group ``descentlab.optimizers`` (docs/optimizers.md).

A plugin is imported once per process; every optimiser class it defines (a dataclass with ``name``, ``label``,
``init`` and ``step``) is registered, as are those it registers itself. An entry point ``NAME = module:Class``
is loaded when a spec names ``NAME`` and nothing else does. A task sent to another process (a Dask worker)
carries the plugins by file path or module name, and the other registered classes by pickling
(:func:`with_registered`), so the worker knows what this process knows.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, is_dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .registry import BUILT_IN, OptimizerClass, known_classes, register_optimizer

ENTRY_POINTS = "descentlab.optimizers"
_LOADED: list[str] = []  # the plugins loaded here, as file paths (absolute) or module names, in order
_FROM_PLUGINS: set[type] = set()


class PluginError(ValueError):
    """A plugin or entry point that cannot give an optimiser (the message is one line)."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def _import(source: str) -> tuple[str, ModuleType]:
    """The plugin's key (an absolute file path or the module name) and its module, imported."""
    path = Path(source)
    if source.endswith(".py") or path.is_file():
        if not path.is_file():
            raise PluginError(f"plugin {source}: no such file")
        name = "descentlab_plugin_" + re.sub(r"\W", "_", path.stem)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
        return str(path.resolve()), module
    return source, importlib.import_module(source)


def _is_optimizer(value: object) -> bool:
    return isinstance(value, type) and is_dataclass(value) and all(
        hasattr(value, attribute) for attribute in ("name", "label", "init", "step"))


def load_plugin(source: str) -> None:
    """Import the plugin ``source`` (``FILE.py`` or an importable module name) and register its optimisers.

    Raises
    ------
    PluginError
        in one line, when it cannot be imported (its error's first line), defines no optimiser, or takes the
        name of a built-in one.
    """
    resolved = str(Path(source).resolve()) if source.endswith(".py") else source
    if resolved in _LOADED:
        return
    before = set(known_classes())
    try:
        key, module = _import(source)
    except PluginError:
        raise
    except (Exception, SystemExit) as error:  # the plugin's own code may raise anything
        raise PluginError(f"plugin {source} cannot be imported: {_first_line(error)}") from None
    for value in list(vars(module).values()):
        if _is_optimizer(value) and value.__module__ == module.__name__:
            try:
                register_optimizer(value)
            except ValueError as error:
                raise PluginError(f"plugin {source}: {error}") from None
    new = set(known_classes()) - before
    if not new:
        raise PluginError(f"plugin {source} defines no optimiser (a dataclass with name, label, init(x0) and "
                          f"step(state, oracle); docs/optimizers.md)")
    _LOADED.append(key)
    _FROM_PLUGINS.update(new)


def from_entry_point(name: str) -> bool:
    """Register the optimiser an installed package declares as ``name`` in the group ``descentlab.optimizers``;
    whether there was one."""
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINTS, name=name):
        package = point.dist.name if point.dist is not None else point.value
        try:
            cls = point.load()
        except (Exception, SystemExit) as error:
            raise PluginError(f"optimiser {name!r} of package {package} cannot be imported: "
                              f"{_first_line(error)}") from None
        if getattr(cls, "name", None) != name:
            raise PluginError(f"optimiser {name!r} of package {package}: the entry point names {point.value}, "
                              f"whose name is {getattr(cls, 'name', None)!r}")
        try:
            register_optimizer(cls)
        except ValueError as error:
            raise PluginError(f"optimiser {name!r} of package {package}: {error}") from None
        return True
    return False


# -- other processes -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WithRegistered:
    """``function`` wrapped to run in another process (a Dask worker) that knows the optimisers known here: it
    loads ``plugins`` (by path or module name) and registers ``classes`` (shipped by pickling) first."""

    function: Callable[..., Any]
    plugins: tuple[str, ...]
    classes: tuple[OptimizerClass, ...]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for source in self.plugins:
            load_plugin(source)
        for cls in self.classes:
            register_optimizer(cls)
        return self.function(*args, **kwargs)


def with_registered(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as a task for another process: unchanged when nothing was loaded or registered, else
    :class:`WithRegistered`."""
    classes = tuple(cls for cls in known_classes() if cls not in BUILT_IN and cls not in _FROM_PLUGINS)
    return WithRegistered(function, tuple(_LOADED), classes) if classes or _LOADED else function
