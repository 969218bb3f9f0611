"""latentworld: a trained multi-agent world model as a drop-in PettingZoo environment."""

from latentworld._version import __version__
from latentworld.registry import MissingDependencyError, list_envs, make_real, register, unregister
from latentworld.spec import EnvSpec

__all__ = [
    "EnvSpec", "MissingDependencyError", "__version__", "list_envs", "make_real", "register", "unregister",
]
