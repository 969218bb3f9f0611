"""The batched tensor interface shared by learned and real vector envs.

Learners that train "with tensors end to end" (the bundled MAPPO and QMIX) speak this
protocol. :class:`~latentworld.env.vector.LatentVectorEnv` (imagination) and
:class:`~latentworld.env.real_vector.RealVectorEnv` (real SMAX, vmapped) implement it, so
one learner runs unchanged in imagination and in the real env (the model-free baseline).

E = number of envs, N = agents, F = per-agent observation size, S = state size, A = actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor


@dataclass
class VecStep:
    """One batched step. Rows where ``done`` are auto-reset: ``obs``/``state``/``action_mask``/
    ``alive`` there already belong to the *new* episode's first step, and the terminal
    observation the episode ended on is in ``final_obs``/``final_state`` (for bootstrapping
    values at truncation). ``reward`` is the team reward received by this step (zeros after
    ``reset``)."""

    obs: Tensor  # [E, N, F] float32: what each agent acts on next
    state: Tensor  # [E, S] float32: centralized state for critics / mixers
    action_mask: Tensor  # [E, N, A] bool, never all False in a row
    alive: Tensor  # [E, N] bool
    reward: Tensor  # [E] float32 team reward of the step just taken
    terminated: Tensor  # [E] bool: the episode ended (win, loss, predicted end)
    truncated: Tensor  # [E] bool: cut at the episode limit / imagination horizon (not terminated)
    won: Tensor  # [E] bool: meaningful where terminated|truncated
    final_obs: Tensor  # [E, N, F]: the last observation of the finished episode where done, else = obs
    final_state: Tensor  # [E, S]
    info: dict = field(default_factory=dict)

    @property
    def done(self) -> Tensor:
        return self.terminated | self.truncated  # [E]


@runtime_checkable
class TensorVecEnv(Protocol):
    """E auto-resetting multi-agent envs with a fixed agent set, tensors in and out."""

    num_envs: int
    n_agents: int
    n_actions: int
    obs_dim: int  # F
    state_dim: int  # S
    device: torch.device

    def reset(self, seed: int | None = None) -> VecStep:
        """Start every env afresh; reward / terminated / truncated are zeros / False."""
        ...

    def step(self, actions: Tensor) -> VecStep:
        """``actions`` [E, N] int64 on ``device``; finished envs restart automatically."""
        ...
