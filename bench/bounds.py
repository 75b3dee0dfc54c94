"""Declared value ranges for config fields, and the one checker that enforces them.

A field states its range where it is declared::

    @dataclass
    class Config:
        temperature: float = bounded(0.1, gt=0)
        videos: int = bounded(2, ge=2, why="TCC cycles between videos")
        crop_min: float = bounded(0.5, gt=0, le=1)
        rules: ClassVar = (Rule(lambda c: c.hidden % c.heads == 0,
                                "{where}.heads={heads} must divide {where}.hidden={hidden}; ..."),)

``check_config(cfg, "method")`` (run by ``bench.config.build`` on every config it builds)
checks, in order: every float (and every float in a tuple) is finite, every bounded field
(each item of a tuple) lies in its range, then the class's cross-field ``rules``. The first
problem raises ConfigError (or the rule's own error class) with one line: the key, the
value (long values cut short, see ``shown``), the allowed range and the default.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.errors import BenchError, ConfigError

MAX_SEED = 2**32 - 1
"""numpy's legacy seeding (np.random.seed) and torch.manual_seed both accept [0, 2**32 - 1]."""

SHOWN_CHARACTERS = 60


def shown(value: Any, limit: int = SHOWN_CHARACTERS) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters with the full length
    named, so a 100 kB value cannot flood the terminal."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


@dataclass(frozen=True)
class Bounds:
    """An interval; None = unbounded on that side. ``why`` explains a non-obvious limit."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    why: str = ""

    def contains(self, value: float) -> bool:
        return ((self.gt is None or value > self.gt) and (self.ge is None or value >= self.ge)
                and (self.lt is None or value < self.lt) and (self.le is None or value <= self.le))

    def describe(self) -> str:
        """'> 0', '>= 2', 'in (0, 1]', '<= 4294967295' ..."""
        low = ("(", self.gt) if self.gt is not None else ("[", self.ge) if self.ge is not None else None
        high = (")", self.lt) if self.lt is not None else ("]", self.le) if self.le is not None else None
        if low and high:
            return f"in {low[0]}{_number(low[1])}, {_number(high[1])}{high[0]}"
        if low:
            return f"{'>' if low[0] == '(' else '>='} {_number(low[1])}"
        if high:
            return f"{'<' if high[0] == ')' else '<='} {_number(high[1])}"
        return "any value"


def _number(value: float) -> str:
    """Integers in full (4294967295, not 4.29e+09), other numbers in short form."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


SEED_BOUNDS = Bounds(ge=0, le=MAX_SEED, why="numpy's seed range")


def bounded(default: Any = dataclasses.MISSING, *, gt: float | None = None, ge: float | None = None,
            lt: float | None = None, le: float | None = None, why: str = "",
            factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field with a declared range (for a tuple field: the range of each item)."""
    bounds = Bounds(gt=gt, ge=ge, lt=lt, le=le, why=why)
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"bounds": bounds})
    return dataclasses.field(default=default, metadata={"bounds": bounds})


@dataclass(frozen=True)
class Rule:
    """A check across fields: ``test(cfg)`` must hold, else ``message`` is raised.

    ``message`` is a format string over ``where`` and the config's fields (values as
    ``shown`` gives them), or a callable ``(cfg, where) -> str`` for messages that compute
    something (a close-match hint).
    """

    test: Callable[[Any], bool]
    message: str | Callable[[Any, str], str]
    error: type[BenchError] = ConfigError

    def check(self, cfg: Any, where: str) -> None:
        if self.test(cfg):
            return
        if callable(self.message):
            raise self.error(self.message(cfg, where))
        values = {f.name: _plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
        raise self.error(self.message.format(where=where, **values))


def _plain(value: Any) -> str:
    """Numbers and tuples as written in YAML (``[1, 2]``), strings cut short by ``shown``."""
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, str):
        return shown(value)
    return str(value)


def check_value(key: str, value: Any, bounds: Bounds | None, default: Any = dataclasses.MISSING) -> None:
    """Raise ConfigError when ``value`` (a number, or each number of a tuple) is not finite or
    lies outside ``bounds``. The message names ``key``, the range and the default."""
    if isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            check_value(f"{key}[{i}]", item, bounds, default)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}={value} is not a finite number; set a finite value"
                          + _default_hint(default))
    if bounds is not None and not bounds.contains(value):
        why = f" ({bounds.why})" if bounds.why else ""
        raise ConfigError(f"{key}={shown(value)} must be {bounds.describe()}{why}; "
                          f"set a value {bounds.describe()}" + _default_hint(default))


def _default_hint(default: Any) -> str:
    if default is dataclasses.MISSING:
        return ""
    return f" (default {_plain(default)})"


def _field_default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def declared_bounds(cls: type, name: str) -> Bounds | None:
    """The bounds of field ``name``, declared on ``cls`` or the nearest base class that has
    them (a subclass that only changes a default keeps its base's range)."""
    for klass in cls.__mro__:
        field = getattr(klass, "__dataclass_fields__", {}).get(name)
        if field is not None and "bounds" in field.metadata:
            return field.metadata["bounds"]
    return None


def check_config(cfg: Any, where: str) -> None:
    """Check every field of dataclass ``cfg`` against its declared bounds, then its rules."""
    for field in dataclasses.fields(cfg):
        check_value(f"{where}.{field.name}", getattr(cfg, field.name), declared_bounds(type(cfg), field.name),
                    _field_default(field))
    for rule in getattr(cfg, "rules", ()):
        rule.check(cfg, where)
