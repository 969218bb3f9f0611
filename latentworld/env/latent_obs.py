"""Deploying a policy trained in imagination: real envs that observe through the world model.

A policy trained on ``make(env_id, obs="latent")`` acts on agent features [h^a, z^a]. In
the real env each agent computes its own features with the agent-level posterior
``q(z^a | o^i, h^a)`` and recurrence ``h^a = GRU(h^a, [z^a, a^i])`` -- from its *own*
observation and its *own* previous action only (MABL's decentralized execution), so the
policy needs nothing from other agents. :class:`LatentObservation` does this for one
ParallelEnv, :class:`LatentObservationVec` for a batched :class:`TensorVecEnv`.

Latents are the posterior mode by default (``deterministic=True``: reproducible deployment);
with ``deterministic=False`` they are sampled with a torch.Generator seeded from ``seed``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from pettingzoo import ParallelEnv
from torch import Tensor

from latentworld.model import WorldModel

from .protocol import TensorVecEnv, VecStep
from .source import ModelLike, load_source


class _AgentEncoder:
    """Per-agent latent state of B x N agents, advanced row by row (rows never mix)."""

    def __init__(self, model: WorldModel, deterministic: bool, seed: int | None):
        model.check_decentralized()
        self.model, self.sample = model, not deterministic
        dev = model.agent_ids.device
        self.gen = torch.Generator(device=dev)
        self.gen.manual_seed(seed if seed is not None else int(np.random.SeedSequence().entropy) & 0xFFFFFFFF)
        self.h: Tensor | None = None  # [B, N, deter]
        self.z: Tensor | None = None  # [B, N, Z]

    @torch.inference_mode()
    def start(self, obs: Tensor) -> Tensor:
        """Fresh episodes: obs [B, N, D] -> features [B, N, F]."""
        c = self.model.cfg
        self.h = obs.new_zeros(*obs.shape[:-1], c.deter)  # [B, N, deter]
        self.z = obs.new_zeros(*obs.shape[:-1], c.latent_size)  # [B, N, Z]
        return self.advance(obs, None)

    @torch.inference_mode()
    def advance(self, obs: Tensor, prev_actions: Tensor | None) -> Tensor:
        """obs [B, N, D] and each agent's own previous action [B, N] -> features [B, N, F]."""
        self.h, self.z, _ = self.model.observe_agent(self.h, self.z, obs, prev_actions, self.sample, self.gen)
        return torch.cat([self.h, self.z], -1)


class LatentObservation(ParallelEnv):
    """A real ParallelEnv whose observations are the agent features the learned env serves."""

    metadata = {"name": "latentworld_latent_obs_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, real_env: ParallelEnv, model: ModelLike, *, deterministic: bool = True,
                 seed: int | None = None, device: str | torch.device = "cpu"):
        spec = getattr(real_env, "env_spec", None)
        src = load_source(model, spec.env_id if spec is not None else None, device=device)
        self.env, self.model = real_env, src.model
        mspec = self.model.spec
        if list(real_env.possible_agents) != list(mspec.agents):
            raise ValueError(f"the real env's agents {real_env.possible_agents} are not the model's {list(mspec.agents)}")
        self.possible_agents = list(mspec.agents)
        self.render_mode = None
        self.state_space = getattr(real_env, "state_space", None)
        self._noop = mspec.noop_action
        self._enc = _AgentEncoder(self.model, deterministic, seed)
        self._dev = self.model.agent_ids.device

    @property
    def agents(self) -> list[str]:
        return self.env.agents

    @property
    def env_spec(self):
        return self.model.spec

    @cache  # noqa: B019 - one space object per agent, as PettingZoo expects
    def _space(self) -> spaces.Box:
        return spaces.Box(-np.inf, np.inf, (self.model.cfg.feature_size,), np.float32)

    def observation_space(self, agent: str) -> spaces.Box:
        return self._space()

    def action_space(self, agent: str) -> spaces.Space:
        return self.env.action_space(agent)

    def _obs_tensor(self, obs: dict[str, Any]) -> Tensor:
        D = self.model.spec.obs_dim
        rows = [np.asarray(obs[a], np.float32) if a in obs else np.zeros(D, np.float32) for a in self.possible_agents]
        return torch.from_numpy(np.stack(rows)).to(self._dev).unsqueeze(0)  # [1, N, D]

    def _features(self, feats: Tensor) -> dict[str, np.ndarray]:
        f = feats[0].cpu().numpy()  # [N, F]
        return {a: f[i].copy() for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._features(self._enc.start(self._obs_tensor(obs))), infos

    def step(self, actions: dict[str, Any]):
        obs, rew, term, trunc, infos = self.env.step(actions)
        # The action each agent actually executed: masked choices became the no-op.
        own = [self._noop if infos.get(a, {}).get("invalid_action") else int(np.asarray(actions.get(a, self._noop)))
               for a in self.possible_agents]
        prev = torch.tensor([own], dtype=torch.int64, device=self._dev)  # [1, N]
        return self._features(self._enc.advance(self._obs_tensor(obs), prev)), rew, term, trunc, infos

    def state(self) -> np.ndarray:
        return self.env.state()

    def render(self):
        return self.env.render()

    def close(self):
        self.env.close()


class LatentObservationVec:
    """A :class:`TensorVecEnv` over a real one, serving agent features; the state passes through."""

    def __init__(self, real_vec_env: TensorVecEnv, model: ModelLike, *, deterministic: bool = True,
                 seed: int | None = None):
        self.env = real_vec_env
        self.model = load_source(model, device=real_vec_env.device).model
        if self.model.spec.n_agents != real_vec_env.n_agents or self.model.spec.obs_dim != real_vec_env.obs_dim:
            raise ValueError(
                f"the model expects {self.model.spec.n_agents} agents with obs size {self.model.spec.obs_dim}; "
                f"the real env has {real_vec_env.n_agents} with {real_vec_env.obs_dim}")
        self.num_envs, self.n_agents = real_vec_env.num_envs, real_vec_env.n_agents
        self.n_actions, self.state_dim = real_vec_env.n_actions, real_vec_env.state_dim
        self.obs_dim = self.model.cfg.feature_size
        self.device = real_vec_env.device
        self._noop = self.model.spec.noop_action
        self._enc = _AgentEncoder(self.model, deterministic, seed)
        self._mask: Tensor | None = None  # [E, N, A] of the last step

    def reset(self, seed: int | None = None) -> VecStep:
        """Reset the real envs and encode each agent's first observation."""
        out = self.env.reset(seed=seed)
        self._mask = out.action_mask  # [E, N, A]
        feats = self._enc.start(out.obs)  # [E, N, F]
        return _with_obs(out, feats, feats)

    def step(self, actions: Tensor) -> VecStep:
        """Step the real envs and encode each agent's new observation from its own history."""
        acts = torch.as_tensor(actions, device=self.device).long()
        # The executed action: masked choices become the no-op (as the real envs do).
        if self._mask is None:
            raise RuntimeError("step() called before reset(); call reset() first")
        ok = self._mask.gather(-1, acts.clamp(0, self.n_actions - 1).unsqueeze(-1)).squeeze(-1)
        acts = torch.where(ok, acts, self._noop)  # [E, N]
        out = self.env.step(actions)
        self._mask = out.action_mask
        final = self._enc.advance(out.final_obs, acts)  # [E, N, F]: continues each episode
        feats = final
        if bool(out.done.any()):
            h, z = self._enc.h, self._enc.z
            fresh = self._enc.start(out.obs)  # [E, N, F] features of the new episodes' first rows
            d = out.done[:, None, None]
            self._enc.h, self._enc.z = torch.where(d, self._enc.h, h), torch.where(d, self._enc.z, z)
            feats = torch.where(d, fresh, final)
        return _with_obs(out, feats, final)

    def close(self) -> None:
        """Close the wrapped env."""
        close = getattr(self.env, "close", None)
        if close:
            close()


def _with_obs(out: VecStep, obs: Tensor, final_obs: Tensor) -> VecStep:
    return VecStep(obs, out.state, out.action_mask, out.alive, out.reward, out.terminated, out.truncated,
                   out.won, final_obs, out.final_state, out.info)
