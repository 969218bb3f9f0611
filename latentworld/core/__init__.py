"""The bottom layer every other part builds on: the env spec and the ParallelEnv base that
the real adapters and the learned env share. It imports nothing else of latentworld."""

from latentworld.core.env_base import (
    INVALID_ACTION_MODES,
    ArrayStep,
    DiscreteParallelEnv,
    check_action,
    safe_mask,
)
from latentworld.core.spec import EnvSpec

__all__ = ["EnvSpec", "ArrayStep", "DiscreteParallelEnv", "INVALID_ACTION_MODES", "check_action", "safe_mask"]
