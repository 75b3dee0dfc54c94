"""Name -> class registries for methods, datasets and encoders.

A plugin is a class with a ``Config`` dataclass, registered with a decorator::

    @register_method("scl")
    class SCL(Method): ...

Dropping a module into ``methods/`` or ``datasets/`` is enough: ``load_plugins`` imports
every module of those packages before a name is looked up.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
import threading
from collections.abc import Callable
from typing import TypeVar

from bench.bounds import SHOWN_CHARACTERS, shown
from bench.errors import UnknownNameError

T = TypeVar("T")

PLUGIN_PACKAGES = ("methods", "datasets", "bench.encoders")
_loaded = False
_loading = threading.RLock()


def load_plugins() -> None:
    """Import every module of the plugin packages once, so their decorators run. Thread-safe:
    a second thread waits until the first has imported them all."""
    global _loaded
    with _loading:
        if _loaded:
            return
        for package_name in PLUGIN_PACKAGES:
            package = importlib.import_module(package_name)
            for module in pkgutil.iter_modules(package.__path__):
                if not module.name.startswith("_"):
                    importlib.import_module(f"{package_name}.{module.name}")
        _loaded = True


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    """One line: the unknown name, a close match if there is one, and the known names."""
    text = str(name)
    close = difflib.get_close_matches(text, known, n=1, cutoff=0.5) if len(text) <= SHOWN_CHARACTERS else []
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {kind} {shown(text)}{hint}; known: {', '.join(sorted(known))}"


class Registry:
    """A named collection of plugin classes of one kind."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, type] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorator(cls: type[T]) -> type[T]:
            if name in self._items and self._items[name] is not cls:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            cls.name = name  # type: ignore[attr-defined]
            self._items[name] = cls
            return cls

        return decorator

    def get(self, name: str) -> type:
        load_plugins()
        if name not in self._items:
            raise UnknownNameError(unknown_name_message(self.kind, name, self.names()))
        return self._items[name]

    def names(self) -> list[str]:
        load_plugins()
        return sorted(self._items)


METHODS = Registry("method")
DATASETS = Registry("dataset")
ENCODERS = Registry("encoder")

register_method = METHODS.register
register_dataset = DATASETS.register
register_encoder = ENCODERS.register
