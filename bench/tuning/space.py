"""The search space of a study: one trainer space shared by every method, plus the method's
own ``search_space`` (bench/method.py).

Equal budget needs an identical trainer space for every method: Adam's learning rate and
weight decay, log-uniform over ranges that hold every paper default (lr 1e-4, weight decay
1e-5) and the synthetic dataset's lr 1e-3. Trainer parameters are named ``trainer.<field>``,
a method's by its Config field, so ``trial.params`` maps back to config sections.
"""
from __future__ import annotations

from typing import Any

from bench.errors import ConfigError
from bench.registry import METHODS
from bench.run_config import ResolvedConfig

TRAINER_PREFIX = "trainer."


def trainer_space(trial: Any) -> dict[str, Any]:
    """The shared trainer space: {TrainerConfig field: suggestion}."""
    return {
        "lr": trial.suggest_float(TRAINER_PREFIX + "lr", 1e-4, 3e-3, log=True),
        "weight_decay": trial.suggest_float(TRAINER_PREFIX + "weight_decay", 1e-6, 1e-3, log=True),
    }


class PinnedTrial:
    """A trial that answers the suggestions named in ``pinned`` with their pinned value instead
    of searching them: a variant's defining fields (LAC's ``t0.6`` sets smoothing=0.6) stay
    what the variant says while the rest of its space is tuned."""

    def __init__(self, trial: Any, pinned: dict[str, Any]):
        self.trial = trial
        self.pinned = pinned

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.pinned[name] if name in self.pinned else self.trial.suggest_float(name, *args, **kwargs)

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.pinned[name] if name in self.pinned else self.trial.suggest_int(name, *args, **kwargs)

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self.pinned[name] if name in self.pinned else self.trial.suggest_categorical(name, choices)


def suggest(trial: Any, method: str, variant: str | None = None) -> dict[str, dict[str, Any]]:
    """One trial's config values, {"method": {...}, "trainer": {...}}, the fields the variant
    sets pinned to its values; with an ``optuna.trial.FixedTrial(params)`` it rebuilds a
    finished trial's config from its params."""
    method_cls = METHODS.get(method)
    pinned = PinnedTrial(trial, dict(method_cls.variants.get(variant, {})) if variant else {})
    return {"method": method_cls.search_space(pinned), "trainer": trainer_space(trial)}


def check_tunable(method: str) -> None:
    """A method that does not train (the untrained encoder) has nothing to tune."""
    if not METHODS.get(method).trainable:
        raise ConfigError(f"method '{method}' does not train, so it has nothing to tune; "
                          "`bench suite --tuned` runs it with its defaults")


class SpaceRecorder:
    """A stand-in trial that records every suggestion's distribution instead of sampling:
    {name: {"kind", "low", "high", "log"} or {"kind": "categorical", "choices"}}. A study stores
    this description, so a rerun with another space is caught before it mixes trials."""

    def __init__(self) -> None:
        self.space: dict[str, dict[str, Any]] = {}

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        self.space[name] = {"kind": "float", "low": low, "high": high, "log": log, "step": step}
        return low

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.space[name] = {"kind": "int", "low": low, "high": high, "log": log, "step": step}
        return low

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        self.space[name] = {"kind": "categorical", "choices": list(choices)}
        return list(choices)[0]


def describe_space(method: str, variant: str | None = None) -> dict[str, dict[str, Any]]:
    """Every searched parameter of a study of ``method`` (and ``variant``) and its distribution."""
    recorder = SpaceRecorder()
    suggest(recorder, method, variant)
    return recorder.space


def parameter_defaults(resolved: ResolvedConfig, space: dict[str, Any]) -> dict[str, Any]:
    """Each searched parameter's value in the untuned config (the paper defaults, or the
    dataset's where it sets one): what TUNING.md sets the best values beside."""
    out = {}
    for name in space:
        section, field = ("trainer", name[len(TRAINER_PREFIX):]) if name.startswith(TRAINER_PREFIX) else ("method", name)
        out[name] = getattr(resolved.trainer if section == "trainer" else resolved.method, field)
    return out


def tuned_keys(values: dict[str, Any]) -> list[str]:
    """'section.field' of every value of nested config ``values`` (top-level scalars such as the seed are not fields)."""
    return [f"{section}.{field}" for section, fields in values.items() if isinstance(fields, dict) for field in fields]
