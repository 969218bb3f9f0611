"""The bundled learners: one table from a name to its learner class and config.

The loop, the policy loader and the CLI all read this table, so a learner added here is
known everywhere. Classes are imported when asked for, so listing names stays cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class LearnerEntry:
    """Where a learner lives and how its name configures it."""

    module: str  # inside latentworld.algos
    learner: str  # class name; its ``algo`` attribute is what a saved policy.json names
    config: str  # config dataclass name, in ``module`` or as "other_module.Name"
    preset: dict[str, Any] = field(default_factory=dict)  # config fields the name fixes (the mixer)
    doc: str = ""


LEARNERS: dict[str, LearnerEntry] = {
    "mappo": LearnerEntry("mappo", "MAPPO", "MAPPOConfig", doc="MAPPO: recurrent actor, attention critic"),
    "qmix": LearnerEntry("qmix", "QLearner", "QMixConfig", {"mixer": "qmix"}, "QMIX value decomposition"),
    "vdn": LearnerEntry("qmix", "QLearner", "QMixConfig", {"mixer": "vdn"}, "VDN: a sum of agent Q-values"),
    "qplex": LearnerEntry("qmix", "QLearner", "QMixConfig", {"mixer": "qplex"}, "QPLEX duplex dueling mixer"),
    "mfq": LearnerEntry("meanfield", "MFQ", "MFConfig", doc="mean-field Q-learning (many agents)"),
    "mfac": LearnerEntry("mfac", "MFAC", "meanfield.MFConfig", doc="mean-field actor-critic (many agents)"),
}
ALGOS = tuple(LEARNERS)
"""Names of the bundled learners: mappo; value decomposition (qmix, vdn, qplex: the mixer of
QLearner); mean-field (mfq, mfac)."""


def _entry(algo: str) -> LearnerEntry:
    if algo not in LEARNERS:
        raise ValueError(f"unknown algo {algo!r}; choose one of {ALGOS}")
    return LEARNERS[algo]


def learner_class(algo: str) -> type:
    """The learner class behind ``algo``."""
    e = _entry(algo)
    return getattr(importlib.import_module(f"latentworld.algos.{e.module}"), e.learner)


def config_class(algo: str) -> type:
    """The config dataclass of ``algo``'s learner."""
    e = _entry(algo)
    module, _, name = e.config.rpartition(".")
    return getattr(importlib.import_module(f"latentworld.algos.{module or e.module}"), name)


def make_learner(algo: str, obs_dim: int, state_dim: int, n_agents: int, n_actions: int, *,
                 device: str = "cpu", **config: Any) -> Any:
    """A fresh ``algo`` learner for these sizes; ``config`` sets fields of its config dataclass
    (an unknown field is an error naming the valid ones)."""
    cfg_cls, cls = config_class(algo), learner_class(algo)
    names = {f.name for f in fields(cfg_cls)}
    unknown = sorted(set(config) - names)
    if unknown:
        raise TypeError(f"{cfg_cls.__name__} has no field(s) {unknown}; its fields: {sorted(names)}")
    cfg = cfg_cls(**{**config, **_entry(algo).preset})
    return cls(obs_dim, state_dim, n_agents, n_actions, cfg, device=device)


def saved_learner_class(saved_algo: str) -> type | None:
    """The learner class a saved ``policy.json`` names (its class's ``algo``), or None."""
    for name in LEARNERS:
        cls = learner_class(name)
        if cls.algo == saved_algo:
            return cls
    return None
