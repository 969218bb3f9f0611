"""Load a saved policy directory as the learner its ``policy.json`` names."""

from __future__ import annotations

import os

import torch

from .policy import Policy, PolicyCheckpointError, read_policy
from .registry import LEARNERS, saved_learner_class


def load_policy(path: str | os.PathLike, device: str | torch.device = "cpu") -> Policy:
    """Load a saved MAPPO, QMIX-family, MF-Q or MF-AC policy, whichever ``policy.json`` names."""
    meta, _ = read_policy(path)
    cls = saved_learner_class(meta["algo"])
    if cls is None:
        raise PolicyCheckpointError(f"{path}: unknown algo {meta['algo']!r}; known: {sorted(LEARNERS)}")
    return cls.load(path, device=device)
