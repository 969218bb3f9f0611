"""Reference learners that train on any :class:`~latentworld.env.protocol.TensorVecEnv`:
the real env (:class:`~latentworld.env.real_vector.RealVectorEnv`) or imagination."""

from latentworld.adapters.smax import smax_ally_block

from .loader import load_policy
from .mappo import MAPPO, MAPPOConfig
from .meanfield import MFQ, MFConfig, mean_action
from .mfac import MFAC
from .mixers import MIXERS, QMixMixer, QPlexMixer, VDNMixer
from .policy import Policy, PolicyCheckpointError, evaluate_policy
from .qmix import QLearner, QMixConfig
from .registry import ALGOS, LEARNERS, make_learner

__all__ = [
    "ALGOS", "LEARNERS", "make_learner", "MAPPO", "MFAC", "MFQ", "MIXERS", "MAPPOConfig", "MFConfig", "Policy", "PolicyCheckpointError", "QLearner",
    "QMixConfig", "QMixMixer", "QPlexMixer", "VDNMixer", "evaluate_policy", "load_policy", "mean_action",
    "smax_ally_block",
]
