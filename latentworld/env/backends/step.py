"""What every step backend produces: one batched step (or reset) of E learned envs."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from latentworld.model import ModelState


@dataclass
class CoreStep:
    """What one batched step (or reset) produces."""

    state: ModelState  # [E, N, ...]
    obs: Tensor  # [E, N, F]
    global_features: Tensor  # [E, N, Fg]
    mask: Tensor  # [E, N, A] bool, never all False
    reward: Tensor  # [E, N] predicted per-agent reward (zeros on reset)
    terminated: Tensor  # [E] bool
    truncated: Tensor  # [E] bool
    uncertainty: Tensor | None = None  # [E, N] ensemble disagreement of the step (zeros on reset)
    won: Tensor | None = None  # [E] bool: the step ended the episode with a win (None: never predicted)
