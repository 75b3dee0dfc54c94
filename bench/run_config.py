"""Resolve a run's config from plugin defaults, dataset defaults, a variant, a YAML file
and ``--set`` overrides, strictly, into typed objects plus one plain dict.

The encoder is the one the run names (``--encoder``, ``encoder.name``), else the method's
paper encoder for the dataset (``Method.paper_encoders``, with its overrides), else
``cnn_transformer``.

The plain dict (``ResolvedConfig.as_dict``) is what a run record stores and what its id
hashes::

    seed: 0
    method:   {name: scl, variant: null, <SCL.Config fields>}
    dataset:  {name: synthetic, <Synthetic.Config fields>}
    encoder:  {name: cnn_transformer, <encoder Config fields>}
    trainer:  {<TrainerConfig fields>}
    protocol: {name: bench, <ProtocolConfig fields>}
    method_per_action: {<action>: <method Config fields>}   (per_action datasets only)

A per_action dataset (PennAction's papers: one model per action) resolves one method config
per action that its facts give overrides for: per-dataset defaults, then the action's
overrides, then the variant, the file and ``--set`` (the user still wins). A record's
``method_per_action`` (``values=``) is taken as already resolved.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.bounds import MAX_SEED, SEED_BOUNDS, check_value, shown
from bench.config import build, load_yaml, merge, parse_overrides, to_dict
from bench.dataset import is_per_action
from bench.errors import ConfigError, UnknownNameError
from bench.protocol.config import ProtocolConfig
from bench.protocol.evaluate import resolve_protocol
from bench.registry import DATASETS, ENCODERS, METHODS, unknown_name_message
from bench.train import TrainerConfig

SECTIONS = ("method", "dataset", "encoder", "trainer", "protocol")
DEFAULT_ENCODER = "cnn_transformer"


@dataclass
class ResolvedConfig:
    seed: int
    method_name: str
    variant: str | None
    method: Any
    dataset_name: str
    dataset: Any
    encoder_name: str
    encoder: Any
    trainer: TrainerConfig
    protocol: ProtocolConfig
    action_methods: dict[str, Any] = field(default_factory=dict)
    """Per action, the method config of a per_action dataset where its facts give overrides."""

    @property
    def per_action(self) -> bool:
        return is_per_action(self.dataset)

    def method_for(self, action: str | None) -> Any:
        return self.action_methods.get(action, self.method) if action else self.method

    def as_dict(self) -> dict[str, Any]:
        out = {
            "seed": self.seed,
            "method": {"name": self.method_name, "variant": self.variant, **to_dict(self.method)},
            "dataset": {"name": self.dataset_name, **to_dict(self.dataset)},
            "encoder": {"name": self.encoder_name, **to_dict(self.encoder)},
            "trainer": to_dict(self.trainer),
            "protocol": to_dict(self.protocol),
        }
        if self.action_methods:
            out["method_per_action"] = {action: to_dict(cfg) for action, cfg in sorted(self.action_methods.items())}
        return out


def _section(user: dict[str, Any], name: str) -> dict[str, Any]:
    value = user.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"config section '{name}' must be a mapping of keys, got {value!r}")
    return dict(value)


def _one_name(kind: str, argument: str | None, configured: Any, flag: str) -> str | None:
    """The name given by a command-line argument or by the config (file or --set), which
    must agree when both give one."""
    if argument is not None and configured is not None and configured != argument:
        raise ConfigError(f"{flag} {argument} but the config sets {kind}={shown(configured)}; "
                          f"drop one of them or make them agree")
    return argument if argument is not None else configured


def _configured_name(section: dict[str, Any], key: str, where: str) -> str | None:
    value = section.pop(key, None)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}.{key}={shown(value)} has the wrong type; expected a name (text)")
    return value


def resolve_seed(user: dict[str, Any], seed: int | None) -> int:
    """The run's seed from ``seed:`` in the config (file or --set seed=N) or ``--seed``
    (they must agree), default 0, checked against numpy's range."""
    value = _one_name("seed", seed, user.get("seed"), "--seed")
    value = 0 if value is None else value
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"seed={shown(value)} has the wrong type; expected an integer in [0, {MAX_SEED}]")
    check_value("seed", value, SEED_BOUNDS, 0)
    return value


def resolve(method: str | None = None, dataset: str | None = None, encoder: str | None = None,
            variant: str | None = None, protocol: str | None = None, seed: int | None = None,
            config_file: str | None = None, overrides: list[str] | None = None,
            values: dict[str, Any] | None = None) -> ResolvedConfig:
    """Resolve every section. A name (or the seed) given both as an argument and in the file
    or overrides (``--set method.name=tcc``) must agree: a conflict is an error, never a
    silent override. ``values`` (a run record's resolved config, say) is the layer below the file."""
    user = merge(values or {}, load_yaml(config_file) if config_file else {})
    user = merge(user, parse_overrides(overrides or []))
    recorded_per_action = user.pop("method_per_action", None)   # a record's resolved per-action configs
    unknown = [key for key in user if key not in (*SECTIONS, "seed")]
    if unknown:
        raise ConfigError(unknown_name_message("config section", unknown[0], [*SECTIONS, "seed"]))
    sections = {name: _section(user, name) for name in SECTIONS}

    def name(section: str, key: str, argument: str | None, flag: str) -> str | None:
        return _one_name(f"{section}.{key}", argument, _configured_name(sections[section], key, section), flag)

    method_name = name("method", "name", method, "--method") or "scl"
    variant = name("method", "variant", variant, "--variant")
    dataset_name = name("dataset", "name", dataset, "--dataset") or "synthetic"
    encoder_name = name("encoder", "name", encoder, "--encoder")
    protocol_name = name("protocol", "name", protocol, "--protocol") or "bench"

    method_cls = METHODS.get(method_name)
    encoder_values: dict[str, Any] = {}
    if encoder_name is None:  # the method's paper encoder for this dataset, else the harness's
        encoder_values = dict(method_cls.paper_encoders.get(dataset_name, {"name": DEFAULT_ENCODER}))
        encoder_name = encoder_values.pop("name")
    dataset_cls = DATASETS.get(dataset_name)
    encoder_cls = ENCODERS.get(encoder_name)
    if variant is not None and variant not in method_cls.variants:
        raise UnknownNameError(unknown_name_message(f"variant of {method_name}", variant,
                                                    list(method_cls.variants)))

    dataset_defaults = method_cls.per_dataset_defaults.get(dataset_name, {})
    method_on_top = merge(method_cls.variants.get(variant, {}) if variant else {}, sections["method"])
    dataset_cfg = build(dataset_cls.Config, sections["dataset"], "dataset")
    if not is_per_action(dataset_cfg):
        action_methods = {}
    elif recorded_per_action is not None:
        if not isinstance(recorded_per_action, dict) or not all(isinstance(v, dict) for v in recorded_per_action.values()):
            raise ConfigError("method_per_action must map each action to its method config, as a run record's does")
        action_methods = {action: build(method_cls.Config, cfg, "method") for action, cfg in recorded_per_action.items()}
    else:
        action_methods = {action: build(method_cls.Config, merge(merge(dataset_defaults, overrides), method_on_top), "method")
                          for action, overrides in dataset_cls.method_action_defaults.get(method_name, {}).items()}
    trainer_values = merge(dataset_cls.trainer_defaults, sections["trainer"])
    return ResolvedConfig(
        seed=resolve_seed(user, seed),
        method_name=method_name,
        variant=variant,
        method=build(method_cls.Config, merge(dataset_defaults, method_on_top), "method"),
        dataset_name=dataset_name,
        dataset=dataset_cfg,
        encoder_name=encoder_name,
        encoder=build(encoder_cls.Config, merge(encoder_values, sections["encoder"]), "encoder"),
        trainer=build(TrainerConfig, trainer_values, "trainer"),
        protocol=resolve_protocol({**dataset_cls.protocol_defaults, **dataset_cls.preset_defaults.get(protocol_name, {}),
                                   **sections["protocol"], "name": protocol_name}),
        action_methods=action_methods,
    )
