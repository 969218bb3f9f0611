"""Counter-based random numbers for the learned envs: noise as a pure function of (key, step).

A ``torch.Generator`` hands out numbers in call order, so a batch of E envs drawing from one
generator cannot reproduce E single envs. Here every number is a hash of the env's episode
key, the step index and the element's position, computed with int64 tensor ops (on cpu or
cuda, batched over envs). Env e of a vector env and a single env with the same key therefore
see bit-identical noise, whatever else is in the batch.

The hash is Chris Wellons' ``lowbias32`` variant with multipliers below 2**31, so every
product of a 32-bit value stays below 2**63 and never overflows int64.
"""

from __future__ import annotations

import torch
from torch import Tensor

M32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9  # 2**32 / golden ratio
START_TAG = 0x5EED5  # step slot used for drawing the start state (steps never reach it)
OUTCOME_TAG = 0x0C0E5  # folded into the episode key for the draw of each step's outcome


def mix32(x: Tensor) -> Tensor:
    """A bijective 32-bit mix of int64 values in [0, 2**32): torch tensors here, and the very
    same source compiled for the single env's kernels (:mod:`.backends.jit_kernels`)."""
    x = x & M32
    x = x ^ (x >> 16)
    x = (x * 0x21F0AAAD) & M32
    x = x ^ (x >> 15)
    x = (x * 0x735A2D97) & M32
    return x ^ (x >> 15)


def combine(h: Tensor, v: Tensor | int) -> Tensor:
    """Hash ``v`` into the running hash ``h`` (boost's hash_combine shape, then a mix)."""
    return mix32(h ^ ((v + GOLDEN + (h << 6) + (h >> 2)) & M32))


def seed_to_int(seed: int) -> int:
    """Fold any Python int (negative, > 64 bits) into [0, 2**32)."""
    s = int(seed) & ((1 << 64) - 1)
    return (s ^ (s >> 32)) & M32


def episode_keys(seeds: Tensor, episodes: Tensor) -> Tensor:
    """Key of each env's current episode: [E] int64 from seeds [E] and episode counters [E]."""
    return combine(mix32(seeds), episodes)


def uniform(keys: Tensor, step: Tensor | int, shape: tuple[int, ...]) -> Tensor:
    """Uniforms in (0, 1), float32, [E, *shape], a function of (keys [E], step) only."""
    base = combine(keys, step)  # [E]
    n = 1
    for s in shape:
        n *= s
    idx = (torch.arange(n, device=keys.device, dtype=torch.int64) * GOLDEN) & M32  # [n]
    h = mix32(base[:, None] ^ idx)  # [E, n]
    u = ((h >> 8).to(torch.float32) + 0.5) * (1.0 / (1 << 24))  # exact in float32, never 0 or 1
    return u.view(keys.shape[0], *shape)


def outcome_uniform(keys: Tensor, step: Tensor | int) -> Tensor:
    """One uniform per env [E] for the step's outcome (continue / win / end), drawn apart from
    the latent draws of the same step."""
    return uniform(combine(keys, OUTCOME_TAG), step, (1,))[:, 0]


def randint(keys: Tensor, high: int) -> Tensor:
    """One integer in [0, high) per key: [E] int64 (used to pick start states)."""
    return combine(keys, START_TAG) % high
