"""Episode datasets on disk, the collector that writes them and the sequence sampler."""

from .collector import CollectStats, collect, random_policy, spec_from_env
from .dataset import DatasetError, Episode, EpisodeDataset
from .sampler import SequenceSampler

__all__ = [
    "CollectStats", "DatasetError", "Episode", "EpisodeDataset", "SequenceSampler",
    "collect", "random_policy", "spec_from_env",
]
