"""LatentVectorEnv: E learned envs stepped as one batch of tensors (the fast path).

Implements :class:`~latentworld.env.protocol.TensorVecEnv` on cpu or cuda with the same
semantics as :class:`~latentworld.env.parallel.LatentParallelEnv` (both run
:class:`~latentworld.env.core.LatentCore`):

- seeding rule: ``reset(seed=s)`` gives env e the seed ``s + e``; an auto-reset moves env e
  to its seed's next episode. So env e reproduces ``LatentParallelEnv`` reset with
  ``seed=s + e`` and then reset without a seed after each episode, step for step;
- ``reward`` [E] is the team reward (mean of the per-agent predictions over agents);
- ``state`` [E, N*Fg] is every agent's global features [h^g, z^g], flattened;
- ``won``: the model's drawn outcome was a win (world models with ``outcome``; always False
  for older checkpoints, which do not predict wins);
- ``info["uncertainty"]`` [E, N]: the model's uncertainty about each agent's step (its
  ensemble's disagreement; zeros after ``reset`` and for checkpoints without an ensemble);
  ``uncertainty_penalty`` subtracts it (mean over agents, times the penalty) from the reward;
- masked actions are replaced by the no-op, flagged in ``info["invalid"]`` [E, N] and
  counted in ``info["invalid_actions"]`` [E]
  (or raise a ValueError with ``invalid_action="raise"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from latentworld.model import ModelState

from . import noise
from .core import CoreStep, LatentCore, LatentEnvConfig, env_config
from .protocol import VecStep
from .source import ModelLike, load_source


class LatentVectorEnv:
    """E auto-resetting imagined episodes; tensors in and out on ``device``."""

    def __init__(self, model: ModelLike, num_envs: int, *, env_id: str | None = None,
                 config: LatentEnvConfig | None = None, device: str | torch.device = "cpu",
                 seed: int | None = None, **options: Any):
        """``options``: fields of :class:`~latentworld.env.core.LatentEnvConfig` (``obs``,
        ``horizon``, ...), set on ``config``."""
        if isinstance(num_envs, bool) or int(num_envs) < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        cfg = env_config(config, **options)
        self.core = LatentCore(load_source(model, env_id, start=cfg.start, device=device), cfg)
        self.config = cfg
        self.spec = self.core.spec
        self.num_envs = int(num_envs)
        self.n_agents = self.spec.n_agents
        self.n_actions = self.spec.n_actions
        self.obs_dim = self.core.obs_dim
        self.state_dim = self.n_agents * self.core.global_dim
        self.device = self.core.device
        self._default_seed = seed
        self._state = None  # ModelState [E, N, ...]
        self._mask: Tensor | None = None  # [E, N, A] bool
        self._doubt_limit: float | None = None
        self.reset_counts()

    @property
    def model(self):
        return self.core.model

    def set_starts(self, starts: ModelState) -> None:
        """Start every later episode from these posterior states ([K, N, ...], for example
        :func:`latentworld.model.encode_history_starts` of fresh real data) instead of the
        checkpoint's bank. Episodes under way go on; call :meth:`reset` to restart them."""
        self.core.set_starts(starts)

    def set_uncertainty_penalty(self, weight: float) -> None:
        """Change ``uncertainty_penalty`` from the next step on (for example as the model trains:
        ``LoopConfig.relative_penalty`` re-measures it every round)."""
        self.core.set_uncertainty_penalty(weight)

    def set_doubt_limit(self, limit: float | Sequence[float] | None) -> None:
        """Truncate an episode at the step whose doubt (``info["uncertainty"]`` averaged over the
        agents the model holds alive) exceeds ``limit``: one number for every step, or one per
        step of the episode (the last repeats beyond its end), as
        :func:`latentworld.model.trust.score_model` measures them. A learner bootstraps from
        its value there instead of trusting what the model imagines beyond. None: only the
        horizon truncates."""
        if limit is None:
            self._doubt_limit = None
            return
        lim = torch.as_tensor(limit, dtype=torch.float32, device=self.device).reshape(-1)  # [L]
        if lim.numel() == 0 or not bool((lim >= 0).all()):  # also refuses NaN
            raise ValueError(f"doubt limits must be >= 0 (one, or one per step) or None, got {limit!r}")
        if not len(self.model.ens):
            raise ValueError("a doubt limit needs a world model with a disagreement ensemble "
                             "(WorldModelConfig.ensemble >= 2); this one has none")
        self._doubt_limit = lim

    def reset_counts(self) -> None:
        """Zero the counters that :meth:`counts` reports."""
        self._counts: dict[str, Any] = {"steps": 0, "episodes": 0, "episode_steps": 0, "cut_by_doubt": 0,
                                        "cut_at_step": {}}

    def counts(self) -> dict[str, Any]:
        """Since :meth:`reset_counts`: env ``steps`` taken, ``episodes`` ended (their steps in
        ``episode_steps``), how many of them the doubt limit cut (``cut_by_doubt``) and at which
        step of the episode (``cut_at_step``: {step index from 0: episodes cut there})."""
        return {**self._counts, "cut_at_step": dict(self._counts["cut_at_step"])}

    def reset(self, seed: int | None = None) -> VecStep:
        """Start every env afresh: env e gets seed ``seed + e`` and its episode 0. Without a seed,
        every env moves to its seed's next episode (the constructor's seed, or a random one, the
        first time), as ``LatentParallelEnv.reset()`` does."""
        E, dev = self.num_envs, self.device
        if seed is None and self._state is not None:
            self._episodes += 1
        else:
            if seed is None:
                seed = self._default_seed if self._default_seed is not None else (
                    int(np.random.SeedSequence().entropy) & 0xFFFFFFFF)
            base = noise.seed_to_int(seed)
            self._seeds = (torch.arange(E, device=dev, dtype=torch.int64) + base) & 0xFFFFFFFF  # [E]
            self._episodes = torch.zeros(E, dtype=torch.int64, device=dev)  # [E]
        self._keys = noise.episode_keys(self._seeds, self._episodes)  # [E]
        self._t = torch.zeros(E, dtype=torch.int64, device=dev)  # [E]
        with torch.inference_mode():
            out = self.core.start(self._keys)
        self._state, self._mask = out.state, out.mask
        obs, state = out.obs, out.global_features.flatten(1)
        zeros = torch.zeros(E, dtype=torch.bool, device=dev)
        info = {"invalid_actions": torch.zeros(E, dtype=torch.int64, device=dev),
                "invalid": torch.zeros(E, self.n_agents, dtype=torch.bool, device=dev),
                "uncertainty": out.uncertainty}  # [E], [E, N], [E, N]
        return VecStep(obs, state, out.mask, self.core.alive(out.mask), torch.zeros(E, device=dev),
                       zeros, zeros, zeros, obs, state, info)

    def step(self, actions: Tensor) -> VecStep:
        """``actions`` [E, N] integers on any device; done envs restart with new start states."""
        if self._state is None:
            raise RuntimeError("step() called before reset(); call reset() first")
        acts = self._check(actions)
        core = self.core
        with torch.inference_mode():
            ok = self._mask.gather(-1, acts.unsqueeze(-1)).squeeze(-1)  # [E, N]
            invalid = ~ok
            if self.config.invalid_action == "raise" and bool(invalid.any()):
                e, n = (int(i) for i in invalid.nonzero()[0])
                allowed = self._mask[e, n].nonzero().flatten().tolist()
                raise ValueError(f"action {int(acts[e, n])} of agent {self.spec.agents[n]!r} in env {e} is "
                                 f"not available (masked); available actions: {allowed}")
            acts = torch.where(invalid, self.spec.noop_action, acts)
            out = core.step(self._state, acts, self._keys, self._t)
            if not bool(torch.isfinite(out.obs).all() & torch.isfinite(out.reward).all()):
                bad = (~torch.isfinite(out.obs).flatten(1).all(1)).nonzero().flatten().tolist()
                raise FloatingPointError(
                    f"the world model produced NaN/inf in envs {bad[:10]} at their steps "
                    f"{self._t[bad[:10]].add(1).tolist()}; the checkpoint may be corrupted or diverged")
            self._t += 1
            if self._doubt_limit is not None:
                lim = self._doubt_limit[(self._t - 1).clamp(max=self._doubt_limit.numel() - 1)]  # [E]
                alive = core.alive(out.mask).float()  # [E, N]
                doubt = (out.uncertainty * alive).sum(-1) / alive.sum(-1).clamp(min=1)  # [E]
                cut = (doubt > lim) & ~out.terminated & ~out.truncated  # [E]
                out.truncated = out.truncated | cut
                self._counts["cut_by_doubt"] += int(cut.sum())
                cuts = self._counts["cut_at_step"]
                for k in self._t[cut].tolist():
                    cuts[k - 1] = cuts.get(k - 1, 0) + 1
            final_obs, final_state = out.obs, out.global_features.flatten(1)  # [E, N, F], [E, N*Fg]
            done = out.terminated | out.truncated  # [E]
            self._counts["steps"] += self.num_envs
            self._counts["episodes"] += int(done.sum())
            self._counts["episode_steps"] += int(self._t[done].sum())
            nxt = self._auto_reset(out, done)
        reward = out.reward.mean(-1)  # [E] team reward
        won = out.won & out.terminated if out.won is not None else torch.zeros_like(done)  # [E]
        info = {"invalid_actions": invalid.sum(-1), "invalid": invalid,  # [E], [E, N]
                "final_action_mask": out.mask,  # [E, N, A] masks of the step just reached (before reset)
                "uncertainty": out.uncertainty}  # [E, N] model uncertainty of this step (before reset)
        return VecStep(nxt.obs, nxt.global_features.flatten(1), nxt.mask, core.alive(nxt.mask), reward,
                       out.terminated, out.truncated, won, final_obs, final_state, info)

    def _auto_reset(self, out: CoreStep, done: Tensor) -> CoreStep:
        """Replace done rows by the first step of their seed's next episode."""
        if not bool(done.any()):
            self._state, self._mask = out.state, out.mask
            return out
        self._episodes += done.long()
        self._keys = torch.where(done, noise.episode_keys(self._seeds, self._episodes), self._keys)
        self._t = torch.where(done, 0, self._t)
        new = self.core.start(self._keys)  # [E]: a bank lookup, cheap for all rows
        d3 = done[:, None, None]
        res = CoreStep(
            out.state.where(done, new.state), torch.where(d3, new.obs, out.obs),
            torch.where(d3, new.global_features, out.global_features), torch.where(d3, new.mask, out.mask),
            out.reward, out.terminated, out.truncated, out.uncertainty,
        )
        self._state, self._mask = res.state, res.mask
        return res

    # ---- model-based use: snapshots, chosen start states, planning ------------------------------
    def get_state(self) -> dict:
        """A snapshot of every env (model states [E, N, ...], masks, step counters, episode keys):
        :meth:`set_state` returns the envs to it, so a planner can try steps and come back."""
        if self._state is None:
            raise RuntimeError("get_state() before reset(); call reset() first")
        return {"model_state": self._state.map(torch.clone), "mask": self._mask.clone(), "t": self._t.clone(),
                "keys": self._keys.clone(), "seeds": self._seeds.clone(), "episodes": self._episodes.clone()}

    def set_state(self, snapshot: dict) -> None:
        """Restore a :meth:`get_state` snapshot (the same number of envs)."""
        st = snapshot["model_state"]
        if st.h_a.shape[0] != self.num_envs:
            raise ValueError(f"the snapshot holds {st.h_a.shape[0]} envs, this env has {self.num_envs}")
        self._state, self._mask = st.map(torch.clone), snapshot["mask"].clone()
        for k in ("t", "keys", "seeds", "episodes"):
            setattr(self, f"_{k}", snapshot[k].clone())

    def reset_to(self, states: ModelState, seed: int | None = None) -> VecStep:
        """Start env e's next episode from ``states`` [E, N, ...] (for example the posterior
        states of real observations and their histories, from ``WorldModel.observe``):
        branch imagined rollouts from real data. ``seed`` as in :meth:`reset`."""
        if states.h_a.dim() != 3 or states.h_a.shape[:2] != (self.num_envs, self.n_agents):
            raise ValueError(f"states must be [{self.num_envs}, {self.n_agents}, ...], got {tuple(states.h_a.shape)}")
        self.reset(seed=seed)
        core, m = self.core, self.core.model
        with torch.inference_mode():
            st = states.detach().to(self.device)
            obs, mask = core.observe(st), m.avail_mask(m.predict_heads(st, obs=False)["avail_probs"])
        self._state, self._mask = st, mask
        E, dev = self.num_envs, self.device
        zeros = torch.zeros(E, dtype=torch.bool, device=dev)
        state = st.global_features().flatten(1)
        info = {"invalid_actions": torch.zeros(E, dtype=torch.int64, device=dev),
                "invalid": torch.zeros(E, self.n_agents, dtype=torch.bool, device=dev),
                "uncertainty": torch.zeros(E, self.n_agents, device=dev)}
        return VecStep(obs, state, mask, core.alive(mask), torch.zeros(E, device=dev), zeros, zeros, zeros,
                       obs, state, info)

    def plan(self, actions: Tensor, env_index: int = 0, *, gamma: float = 0.99, seed: int = 0):
        """Score K joint action sequences [K, H, N] from env ``env_index``'s current state without
        stepping it: :func:`latentworld.env.planning.score_action_sequences` (returns [K] etc.)."""
        from .planning import score_action_sequences

        if self._state is None:
            raise RuntimeError("plan() before reset(); call reset() first")
        start = self._state.index(env_index)  # [N, ...]
        return score_action_sequences(self.core, start, actions, gamma=gamma, seed=seed)

    def _check(self, actions: Tensor) -> Tensor:
        acts = torch.as_tensor(actions, device=self.device)
        shape = (self.num_envs, self.n_agents)
        if tuple(acts.shape) != shape:
            raise ValueError(f"actions must have shape (num_envs, n_agents) = {shape}, got {tuple(acts.shape)}")
        if acts.is_floating_point() or acts.is_complex() or acts.dtype == torch.bool:
            raise ValueError(f"actions must be integers in [0, {self.n_actions - 1}], got dtype {acts.dtype}")
        acts = acts.long()
        bad = (acts < 0) | (acts >= self.n_actions)  # [E, N]
        if bool(bad.any()):
            e, n = (int(i) for i in bad.nonzero()[0])
            raise ValueError(f"action {int(acts[e, n])} of agent {self.spec.agents[n]!r} in env {e} is out of "
                             f"range: valid actions are 0..{self.n_actions - 1}")
        return acts

    def close(self) -> None:
        """Nothing to release: the model belongs to the caller."""
        pass
