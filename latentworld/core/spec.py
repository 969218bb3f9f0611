"""EnvSpec: the shapes and names every part of latentworld agrees on for one environment."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class EnvSpec:
    """Static description of a multi-agent environment with discrete actions.

    Every agent shares one flat observation space and one action space
    (parameter sharing is the norm in cooperative MARL).
    """

    env_id: str
    """Registry id, e.g. ``"smax-3m"``."""
    agents: tuple[str, ...]
    """Fixed agent names, in the order used for the N axis of every array."""
    obs_dim: int
    """Length of one agent's flat observation vector."""
    state_dim: int
    """Length of the global state vector returned by ``env.state()``."""
    n_actions: int
    """Number of discrete actions per agent."""
    episode_limit: int
    """Maximum number of steps in one episode (truncation after this many)."""
    noop_action: int = 0
    """Action a dead agent takes; also used when a masked action is replaced."""
    has_wins: bool = False
    """Whether episodes end in a win/loss (reported as ``infos[agent]["won"]``)."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Free-form, JSON-serialisable details (map name, preset parameters...)."""

    @property
    def n_agents(self) -> int:
        return len(self.agents)

    def to_dict(self) -> dict[str, Any]:
        """The spec as a JSON-ready dict."""
        d = asdict(self)
        d["agents"] = list(self.agents)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnvSpec:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"EnvSpec has no fields {sorted(unknown)}; known fields: {sorted(known)}")
        d = dict(d)
        d["agents"] = tuple(d["agents"])
        return cls(**d)

    def to_json(self) -> str:
        """The spec as canonical JSON (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def shape_mismatch(self, other: EnvSpec) -> list[str]:
        """Names of the shape-defining fields that differ between two specs."""
        keys = ("env_id", "agents", "obs_dim", "state_dim", "n_actions")
        return [k for k in keys if getattr(self, k) != getattr(other, k)]
