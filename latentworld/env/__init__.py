"""Learned environments: the world model as a PettingZoo ParallelEnv, a batched tensor env,
a Gymnasium VectorEnv view, a SMAC-style object, and the real-env latent-observation wrapper."""

from .core import LatentEnvConfig
from .factory import make, make_vec
from .gym_vector import LatentGymVectorEnv
from .latent_obs import LatentObservation, LatentObservationVec
from .parallel import LatentParallelEnv
from .protocol import TensorVecEnv, VecStep
from .smac_compat import LatentSMACEnv
from .vector import LatentVectorEnv

__all__ = [
    "LatentEnvConfig", "LatentGymVectorEnv", "LatentObservation", "LatentObservationVec",
    "LatentParallelEnv", "LatentSMACEnv", "LatentVectorEnv", "TensorVecEnv", "VecStep", "make", "make_vec",
]
