"""Wrappers around real envs (re-exported here so users find them by the usual name)."""

from latentworld.env.latent_obs import LatentObservation, LatentObservationVec

__all__ = ["LatentObservation", "LatentObservationVec"]
