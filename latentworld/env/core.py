"""The semantics of the learned environment, batched over E envs; shared by every front end.

:class:`LatentParallelEnv` runs it with E = 1 and :class:`LatentVectorEnv` with E envs, so
both compute the same thing by construction. Randomness is counter-based
(:mod:`latentworld.env.noise`): an episode is a pure function of (seed, episode index,
actions), which is what lets env e of a vector env seeded ``s`` reproduce a single env
seeded ``s + e`` step for step, auto-resets included.

Shapes: E envs, N agents, F features (obs size served), A actions, K bank rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor

from latentworld.core.env_base import INVALID_ACTION_MODES
from latentworld.model import ModelState, WorldModel

from . import noise
from .backends import CoreStep, batched_step
from .source import START_KINDS, ModelSource

OBS_KINDS = ("latent", "decoded")
HookFn = Callable[[Tensor, Tensor, Tensor, Tensor], Any]  # (obs, actions, next_obs, model's value) -> tensor


@dataclass
class LatentEnvConfig:
    """Options shared by the single and the vector learned env."""

    obs: str = "latent"
    """``"latent"``: agent features [h^a, z^a]; ``"decoded"``: the obs head's prediction in
    the real env's observation space (a policy trained on it runs in the real env)."""
    horizon: int | None = None
    """Imagination horizon: truncate after this many steps (None: the env's episode limit)."""
    start: str = "initial"
    """``"initial"``: start from encoded real first rows; ``"any"``: from random real rows."""
    deterministic: bool = False
    """Use latent modes instead of samples (then the seed only picks the start state)."""
    invalid_action: str = "noop"
    """Masked actions: ``"noop"`` replaces them by the no-op (flagged), ``"raise"`` errors."""
    uncertainty_penalty: float = 0.0
    """Subtract this times the step's model uncertainty (the ensemble's disagreement, mean
    over agents) from every agent's reward: imagined steps the model is unsure of pay less,
    so a learner is not drawn to the model's errors. 0: the reward is the model's own. The
    uncertainty itself is always served (``info["uncertainty"]``)."""
    reward_fn: HookFn | None = None
    """Replaces the model's reward (mbrl-lib's hook): ``reward_fn(obs, actions, next_obs,
    reward)`` with the served observations before and after the step [E, N, F], the actions
    taken [E, N] (masked ones already replaced) and the model's reward [E, N] → per-agent
    [E, N] or team [E] rewards. The uncertainty penalty applies after it."""
    termination_fn: HookFn | None = None
    """Replaces the model's termination: ``termination_fn(obs, actions, next_obs, terminated)``
    with the model's own [E] bool → [E] bool. The horizon still truncates."""

    def __post_init__(self) -> None:
        if self.obs not in OBS_KINDS:
            raise ValueError(f"obs must be one of {OBS_KINDS}, got {self.obs!r}")
        if self.start not in START_KINDS:
            raise ValueError(f"start must be one of {START_KINDS}, got {self.start!r}")
        if self.invalid_action not in INVALID_ACTION_MODES:
            raise ValueError(f"invalid_action must be one of {INVALID_ACTION_MODES}, got {self.invalid_action!r}")
        if not self.uncertainty_penalty >= 0:  # also refuses NaN
            raise ValueError(f"uncertainty_penalty must be >= 0, got {self.uncertainty_penalty!r}")
        for name in ("reward_fn", "termination_fn"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise TypeError(f"{name} must be a callable (obs, actions, next_obs, model's value) -> tensor, "
                                f"got {type(getattr(self, name)).__name__}")
        if self.horizon is not None and (isinstance(self.horizon, bool) or int(self.horizon) < 1):
            raise ValueError(f"horizon must be a positive int or None, got {self.horizon!r}")


def env_config(config: LatentEnvConfig | None = None, **options: Any) -> LatentEnvConfig:
    """``config`` (default: all defaults) with ``options`` (fields of :class:`LatentEnvConfig`)
    set: what ``make``, ``make_vec`` and both env classes take their learned-env options from."""
    names = [f.name for f in fields(LatentEnvConfig)]
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise TypeError(f"unknown learned-env option(s) {unknown}: the options are the fields of "
                        f"LatentEnvConfig: {names}")
    if config is not None and not isinstance(config, LatentEnvConfig):
        raise TypeError(f"config must be a LatentEnvConfig, got {type(config).__name__}")
    return replace(config, **options) if config is not None else LatentEnvConfig(**options)


class LatentCore:
    """Start-state drawing, the imagined step and its observations, for E envs at once."""

    def __init__(self, source: ModelSource, cfg: LatentEnvConfig):
        self.model: WorldModel = source.model
        self.cfg = cfg
        self.spec = self.model.spec
        m, spec = self.model, self.spec
        self.device = m.agent_ids.device
        self.limit = min(int(cfg.horizon or spec.episode_limit), spec.episode_limit)
        self.noise_shape = (2, spec.n_agents, m.cfg.stoch)  # (global/agent draw, N, stoch)
        self.obs_dim = m.cfg.feature_size if cfg.obs == "latent" else spec.obs_dim
        self.global_dim = m.cfg.feature_size
        self._step = batched_step(m)
        self.set_uncertainty_penalty(cfg.uncertainty_penalty)
        self.set_starts(source.starts if source.starts is not None else m.initial(1))

    def set_uncertainty_penalty(self, weight: float) -> None:
        """Set ``cfg.uncertainty_penalty`` (at construction, or later as the model trains)."""
        weight = float(weight)
        if not weight >= 0:  # also refuses NaN
            raise ValueError(f"uncertainty_penalty must be >= 0, got {weight!r}")
        if weight > 0 and not len(self.model.ens):
            raise ValueError("uncertainty_penalty needs a world model with a disagreement ensemble; this "
                             "checkpoint has none (WorldModelConfig.ensemble = 0): retrain it with ensemble >= 2 "
                             "or leave uncertainty_penalty at 0")
        self.cfg.uncertainty_penalty = weight

    def set_starts(self, starts: ModelState) -> None:
        """Replace the start-state bank ([K, N, ...] posterior states; episodes start at a row
        picked by their key). Call it again after the model's weights changed."""
        if starts.h_a.dim() != 3 or starts.h_a.shape[0] < 1 or starts.h_a.shape[1] != self.spec.n_agents:
            raise ValueError(f"start states must be shaped [K, {self.spec.n_agents}, ...] with K >= 1, "
                             f"got {tuple(starts.h_a.shape)}")
        m = self.model
        with torch.inference_mode():
            # Everything about a start row is fixed: compute it once for the whole bank.
            self.bank = starts.detach().to(self.device)  # [K, N, ...]
            self.bank_obs = self.observe(self.bank)  # [K, N, F]
            self.bank_global = self.bank.global_features()  # [K, N, Fg]
            self.bank_mask = m.avail_mask(m.predict_heads(self.bank, obs=False)["avail_probs"])  # [K, N, A]
        self.check_finite(self.bank_obs, "the start-state bank")

    @property
    def bank_size(self) -> int:
        return self.bank.h_a.shape[0]

    def observe(self, state: ModelState) -> Tensor:
        """Observations served to the agents: [E, N, F] float32."""
        feats = state.agent_features()  # [E, N, deter + Z]
        return feats if self.cfg.obs == "latent" else self.model.obs_head(feats)

    def start(self, keys: Tensor) -> CoreStep:
        """First step of the episodes with keys [E]: a bank row picked by each key."""
        idx = noise.randint(keys, self.bank_size)  # [E]
        E = keys.shape[0]
        zeros = torch.zeros(E, dtype=torch.bool, device=self.device)
        return CoreStep(
            self.bank.index(idx), self.bank_obs[idx], self.bank_global[idx], self.bank_mask[idx],
            torch.zeros(E, self.spec.n_agents, device=self.device), zeros, zeros.clone(),
            torch.zeros(E, self.spec.n_agents, device=self.device),
        )

    def step(self, state: ModelState, actions: Tensor, keys: Tensor, t: Tensor) -> CoreStep:
        """Advance E envs with valid actions [E, N] (int64); ``t`` [E] = steps taken so far."""
        m = self.model
        u = None if self.cfg.deterministic else noise.uniform(keys, t, self.noise_shape)  # [E, 2, N, stoch]
        cfg = self.cfg
        prev_obs = self.observe(state) if cfg.reward_fn or cfg.termination_fn else None  # [E, N, F]
        nxt, fa, fg, reward, cont, mask, win = self._step(state, actions, not cfg.deterministic, u)
        obs = fa if cfg.obs == "latent" else m.obs_head(fa)  # [E, N, F]
        won = None
        if m.outcome:  # the outcome drawn (or its most likely value), the bonus paid for a drawn win
            terminated, won = self._outcome(cont, win, keys, t)  # [E], [E]
            reward = reward + m.win_bonus * (won.float() - win)[:, None]  # [E, N]
        else:
            terminated = cont < 0.5  # [E]
        if cfg.reward_fn is not None:
            reward = self._hook_reward(cfg.reward_fn(prev_obs, actions, obs, reward), reward)
        if cfg.termination_fn is not None:
            terminated = self._hook_terminated(cfg.termination_fn(prev_obs, actions, obs, terminated), terminated)
            won = None if won is None else won & terminated
        truncated = (t + 1 >= self.limit) & ~terminated  # [E]
        unc = m.disagreement(nxt)  # [E, N]
        if self.cfg.uncertainty_penalty:
            reward = reward - self.cfg.uncertainty_penalty * unc.mean(-1, keepdim=True)  # [E, N]
        return CoreStep(nxt, obs, fg, mask, reward, terminated, truncated, unc, won)

    def _outcome(self, cont: Tensor, win: Tensor, keys: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """(terminated, won) [E] from P(continue), P(win) [E]: drawn with the step's own uniform,
        or the most likely outcome when deterministic."""
        if self.cfg.deterministic:
            end = cont < 0.5
            return end, end & (win >= 1 - cont - win)
        v = noise.outcome_uniform(keys, t)  # [E]
        end = v >= cont
        return end, end & (v < cont + win)

    @staticmethod
    def _hook_reward(out: Any, model_reward: Tensor) -> Tensor:
        """reward_fn's result as [E, N] float on the model's device."""
        E, N = model_reward.shape
        r = torch.as_tensor(out, dtype=model_reward.dtype, device=model_reward.device)
        if r.shape == (E,):
            r = r.unsqueeze(-1).expand(E, N)
        if r.shape != (E, N):
            raise ValueError(f"reward_fn must return per-agent rewards [{E}, {N}] or team rewards [{E}], "
                             f"got shape {tuple(r.shape)}")
        return r

    @staticmethod
    def _hook_terminated(out: Any, model_terminated: Tensor) -> Tensor:
        """termination_fn's result as [E] bool."""
        d = torch.as_tensor(out, device=model_terminated.device)
        if d.shape != model_terminated.shape:
            raise ValueError(f"termination_fn must return one flag per env, shape {tuple(model_terminated.shape)}, "
                             f"got shape {tuple(d.shape)}")
        return d.bool()

    def alive(self, mask: Tensor) -> Tensor:
        """SMAC-style death: an agent whose only available action is the no-op is dead. [E, N]."""
        return ~(mask[..., self.spec.noop_action] & (mask.sum(-1) == 1))

    @staticmethod
    def check_finite(x: Tensor, where: str) -> None:
        if not bool(torch.isfinite(x).all()):
            raise FloatingPointError(
                f"the world model produced NaN/inf in {where}; the checkpoint may be corrupted "
                f"or diverged (check its training losses), or the actions drove it far off its data"
            )
