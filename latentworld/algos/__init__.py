"""Reference learners that train on any :class:`~latentworld.env.protocol.TensorVecEnv`:
the real env (:class:`~latentworld.env.real_vector.RealVectorEnv`) or imagination."""

from .mappo import MAPPO, MAPPOConfig
from .mixers import MIXERS, QMixMixer, QPlexMixer, VDNMixer
from .policy import Policy, PolicyCheckpointError, evaluate_policy, load_policy
from .qmix import QLearner, QMixConfig

__all__ = [
    "MAPPO", "MIXERS", "MAPPOConfig", "Policy", "PolicyCheckpointError", "QLearner", "QMixConfig",
    "QMixMixer", "QPlexMixer", "VDNMixer", "evaluate_policy", "load_policy",
]
