"""A replay buffer of fixed-length sequence chunks for recurrent value learners.

Vector envs never stop, so data arrives as E parallel streams; every ``L`` steps each stream
becomes one chunk. A chunk may cross episode boundaries: ``first[t]`` marks steps whose
observation starts a new episode (the Q-network's memory is cleared there) and ``h0`` holds
the acting network's memory at the chunk start (R2D2's "stored state"), so chunks that begin
mid-episode do not start from a blank memory.

Memory: about 2·capacity·L·N·F·4 bytes for the observations (current and next).
C = chunks, L = chunk length, N = agents, F = obs size, S = state size, A = actions, H = hidden.
"""

from __future__ import annotations

import torch
from torch import Tensor

FIELDS = {
    # name: (trailing shape given dims, dtype)
    "obs": (("N", "F"), torch.float32),  # [C, L, N, F] observation acted on at t
    "state": (("S",), torch.float32),  # [C, L, S]
    "mask": (("N", "A"), torch.bool),  # [C, L, N, A] available actions at t
    "prev_action": (("N",), torch.long),  # [C, L, N] action before t, -1 at an episode start
    "action": (("N",), torch.long),  # [C, L, N]
    "reward": ((), torch.float32),  # [C, L] team reward
    "terminated": ((), torch.bool),  # [C, L] nothing follows step t
    "done": ((), torch.bool),  # [C, L] terminated or truncated
    "first": ((), torch.bool),  # [C, L] obs at t starts an episode
    "next_obs": (("N", "F"), torch.float32),  # [C, L, N, F] obs after step t (final obs where done)
    "next_state": (("S",), torch.float32),  # [C, L, S]
    "next_mask": (("N", "A"), torch.bool),  # [C, L, N, A] available actions after step t
}


class ChunkReplay:
    """Ring buffer of ``capacity`` chunks of ``chunk_len`` steps, tensors on ``device``."""

    def __init__(self, capacity: int, chunk_len: int, n_agents: int, obs_dim: int, state_dim: int,
                 n_actions: int, hidden: int, device: torch.device):
        dims = {"N": n_agents, "F": obs_dim, "S": state_dim, "A": n_actions}
        self.capacity, self.chunk_len, self.device = capacity, chunk_len, device
        self.data = {k: torch.zeros((capacity, chunk_len, *(dims[d] for d in shape)), dtype=dt, device=device)
                     for k, (shape, dt) in FIELDS.items()}
        self.h0 = torch.zeros(capacity, n_agents, hidden, device=device)  # [C, N, H]
        self.size = 0
        self._next = 0

    def add(self, chunk: dict[str, Tensor], h0: Tensor) -> None:
        """Add E chunks: ``chunk[name]`` is [L, E, ...] (time first, as collected), ``h0`` [E, N, H]."""
        E = h0.shape[0]
        idx = (self._next + torch.arange(E, device=self.device)) % self.capacity  # [E]
        for k, v in chunk.items():
            self.data[k][idx] = v.transpose(0, 1).to(self.data[k].dtype)  # [E, L, ...]
        self.h0[idx] = h0
        self._next = (self._next + E) % self.capacity
        self.size = min(self.size + E, self.capacity)

    def sample(self, batch: int, generator: torch.Generator) -> tuple[dict[str, Tensor], Tensor]:
        """``batch`` chunks uniformly at random: ({name: [B, L, ...]}, h0 [B, N, H])."""
        if self.size == 0:
            raise RuntimeError("sample() from an empty replay buffer")
        idx = torch.randint(self.size, (batch,), generator=generator, device=self.device)  # [B]
        return {k: v[idx] for k, v in self.data.items()}, self.h0[idx]
