"""MAPPO: PPO with a parameter-shared decentralized actor and a centralized critic.

Reads top to bottom: config → networks → the learner (rollout, GAE, PPO update) → save/load.
The actor sees only its own agent's observation (plus its agent id), so it can be deployed
decentralized; the critic sees every agent's observation and the state through one layer of
self-attention (observations are embedded first: in imagination they are ~1k floats each).

Truncation matters in imagination (horizons of ~15 steps): a truncated step bootstraps from
V(final_obs, final_state); a terminated one from 0.

E = envs, T = rollout steps, N = agents, F = obs size, S = state size, A = actions, H = hidden.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as fnn
from torch import Tensor, nn

from latentworld.env.protocol import TensorVecEnv

from .driver import DrivenLearner, Tally
from .policy import (
    check_env_dims,
    check_finite,
    masked_logits,
    sample_masked,
)


@dataclass
class MAPPOConfig:
    """MAPPO hyper-parameters; the defaults suit a few CPU cores and 32-256 envs."""

    hidden: int = 128
    """Width of the actor's and the critic's hidden layers (H)."""
    recurrent: bool = False
    """Give the actor a GRU over each agent's own history (else an MLP on the current obs)."""
    agent_id: bool = True
    """Append the agent's one-hot index to its observation (shared weights, distinct roles)."""
    critic_state: bool = True
    """Give the critic the state vector as an extra token. Turn off where the state only
    concatenates the agents' observations (imagination): the critic sees those anyway, and
    embedding an N·F state dominates the update's cost."""
    attn_heads: int = 4
    """Heads of the critic's self-attention over agents (must divide ``hidden``)."""
    lr: float = 5e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 5e-4
    """Adam learning rate of the critic."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE λ: 0 is one-step TD advantages, 1 is Monte-Carlo returns."""
    clip: float = 0.2
    """PPO ratio clipping ε."""
    entropy_coef: float = 0.01
    """Weight of the entropy bonus (masked actions excluded)."""
    max_grad_norm: float = 10.0
    """Gradient-norm clipping of each network."""
    rollout_len: int = 32
    """Steps collected per env before each update (T); E·T env steps per iteration."""
    epochs: int = 5
    """Passes over each rollout."""
    minibatches: int = 2
    """Minibatches per epoch; they split the envs, so recurrent sequences stay whole."""
    value_norm: bool = True
    """Train the critic on returns normalised by a running mean / std (MAPPO's ValueNorm)."""
    value_norm_beta: float = 0.99
    """Per-update decay of the return statistics (smaller adapts faster)."""
    dual_buffer: int = 0
    """GAWM's dual buffer for an on-policy learner: every PPO update also trains on the last K
    rollouts, with the log-probabilities, advantages and returns stored when they were played
    (the clipped ratio bounds how far the stale data move the policy). 0: the fresh rollout only."""
    seed: int = 0
    """Seeds the weights, action sampling and the env's reset in ``learn``."""


# ---- networks --------------------------------------------------------------------------------
class Actor(nn.Module):
    """Per-agent policy: [own obs, agent id] → action logits; weights shared by all agents."""

    def __init__(self, in_dim: int, hidden: int, n_actions: int, recurrent: bool):
        super().__init__()
        # LayerNorm first: imagined latent features and real observations differ in scale.
        self.body = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU())
        self.gru = nn.GRUCell(hidden, hidden) if recurrent else None
        self.head = nn.Linear(hidden, n_actions)
        nn.init.orthogonal_(self.head.weight, 0.01)  # near-uniform initial policy
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor, h: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """x [B, in_dim], h [B, H] or None → logits [B, A], next h."""
        z = self.body(x)
        if self.gru is not None:
            h = self.gru(z, h)
            z = h
        return self.head(z), h


class AttentionCritic(nn.Module):
    """Centralized V: every agent's obs token and a state token, one self-attention layer,
    one value per agent (all trained on the team return)."""

    def __init__(self, obs_dim: int, state_dim: int, n_agents: int, hidden: int, heads: int, use_state: bool):
        super().__init__()
        self.obs_embed = nn.Sequential(nn.LayerNorm(obs_dim), nn.Linear(obs_dim, hidden), nn.ReLU())
        self.state_embed = nn.Sequential(nn.LayerNorm(state_dim), nn.Linear(state_dim, hidden), nn.ReLU()
                                         ) if use_state else None
        self.no_state = nn.Parameter(torch.zeros(hidden))  # a learned summary token without a state
        self.agent_embed = nn.Parameter(torch.randn(n_agents, hidden) * 0.1)  # [N, H]
        self.attn = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, obs: Tensor, state: Tensor) -> Tensor:
        """obs [B, N, F], state [B, S] → values [B, N] (normalised units if value_norm)."""
        tokens = self.obs_embed(obs) + self.agent_embed  # [B, N, H]
        if self.state_embed is not None:
            s = self.state_embed(state).unsqueeze(1)  # [B, 1, H]
        else:
            s = self.no_state.expand(tokens.shape[0], 1, -1)  # [B, 1, H]
        seq = torch.cat([s, tokens], 1)  # [B, N+1, H]
        att, _ = self.attn(seq, seq, seq, need_weights=False)
        x = self.norm(seq + att)[:, 1:]  # [B, N, H]
        return self.head(torch.cat([x, s.expand_as(x)], -1)).squeeze(-1)


class ValueNorm(nn.Module):
    """Running (debiased EMA) mean / std of the return targets."""

    def __init__(self, beta: float):
        super().__init__()
        self.beta = beta
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("sq", torch.zeros(()))
        self.register_buffer("debias", torch.zeros(()))

    def update(self, x: Tensor) -> None:
        """Fold a batch of return targets into the running statistics."""
        b = self.beta
        self.mean.mul_(b).add_((1 - b) * x.mean())
        self.sq.mul_(b).add_((1 - b) * (x * x).mean())
        self.debias.mul_(b).add_(1 - b)

    def _stats(self) -> tuple[Tensor, Tensor]:
        d = self.debias.clamp(min=1e-5)
        mean = self.mean / d
        std = (self.sq / d - mean * mean).clamp(min=1e-4).sqrt()
        return mean, std

    def normalize(self, x: Tensor) -> Tensor:
        """Returns in normalised units: (x - mean) / std."""
        mean, std = self._stats()
        return (x - mean) / std

    def denormalize(self, x: Tensor) -> Tensor:
        """Normalised values back in return units."""
        mean, std = self._stats()
        return x * std + mean


# ---- the learner -----------------------------------------------------------------------------
class MAPPO(DrivenLearner):
    """MAPPO for ``TensorVecEnv`` envs; satisfies :class:`~latentworld.algos.policy.Policy`."""

    algo = "mappo"
    networks = ("actor", "critic", "value_norm")
    config_cls = MAPPOConfig

    def __init__(self, obs_dim: int, state_dim: int, n_agents: int, n_actions: int,
                 cfg: MAPPOConfig | None = None, device: str | torch.device = "cpu"):
        self.cfg = cfg = cfg or MAPPOConfig()
        if cfg.hidden % cfg.attn_heads:
            raise ValueError(f"hidden ({cfg.hidden}) must be divisible by attn_heads ({cfg.attn_heads})")
        self.dims = {"obs_dim": obs_dim, "state_dim": state_dim, "n_agents": n_agents, "n_actions": n_actions}
        self.obs_dim, self.state_dim, self.n_agents, self.n_actions = obs_dim, state_dim, n_agents, n_actions
        self.device = torch.device(device)
        in_dim = obs_dim + (n_agents if cfg.agent_id else 0)
        with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's RNG
            torch.manual_seed(cfg.seed)
            self.actor = Actor(in_dim, cfg.hidden, n_actions, cfg.recurrent).to(self.device)
            self.critic = AttentionCritic(obs_dim, state_dim, n_agents, cfg.hidden, cfg.attn_heads,
                                          cfg.critic_state).to(self.device)
        self.value_norm = ValueNorm(cfg.value_norm_beta).to(self.device)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, eps=1e-5)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr, eps=1e-5)
        self.gen = torch.Generator(self.device).manual_seed(cfg.seed)
        self._h: Tensor | None = None  # [E, N, H] actor memory used by act() when recurrent
        self._dual: deque[tuple] = deque(maxlen=max(cfg.dual_buffer, 1))  # the last K rollouts (dual buffer)
        self.env_steps = 0

    # ---- acting (decentralized) ----------------------------------------------------------------
    def _actor_input(self, obs: Tensor) -> Tensor:
        """obs [..., N, F] → [..., N, F (+N)] with each agent's one-hot id appended."""
        if not self.cfg.agent_id:
            return obs
        ids = torch.eye(self.n_agents, device=obs.device).expand(*obs.shape[:-1], self.n_agents)
        return torch.cat([obs, ids], -1)

    def _logits(self, obs: Tensor, h: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """obs [E, N, F], h [E, N, H] → logits [E, N, A], next h."""
        E, N, _ = obs.shape
        x = self._actor_input(obs).reshape(E * N, -1)
        logits, h = self.actor(x, None if h is None else h.reshape(E * N, -1))
        return logits.view(E, N, -1), None if h is None else h.view(E, N, -1)

    def _zero_hidden(self, E: int) -> Tensor | None:
        return torch.zeros(E, self.n_agents, self.cfg.hidden, device=self.device) if self.cfg.recurrent else None

    @torch.no_grad()
    def act(self, obs: Tensor, mask: Tensor, deterministic: bool = False) -> Tensor:
        """obs [E, N, F], mask [E, N, A] bool → actions [E, N] int64. Each agent's action
        depends on its own row only; recurrent memory persists until :meth:`reset`."""
        obs, mask = obs.to(self.device, torch.float32), mask.to(self.device, torch.bool)
        if self.cfg.recurrent and (self._h is None or self._h.shape[0] != obs.shape[0]):
            self._h = self._zero_hidden(obs.shape[0])
        logits, self._h = self._logits(obs, self._h)
        return sample_masked(logits, mask, deterministic, self.gen)

    @torch.no_grad()
    def action_probs(self, obs: Tensor, mask: Tensor) -> Tensor:
        """The policy's distribution [E, N, A] for obs [E, N, F], mask [E, N, A], from the
        current recurrent memory without advancing it."""
        obs, mask = obs.to(self.device, torch.float32), mask.to(self.device, torch.bool)
        h = self._h if self._h is not None and self._h.shape[0] == obs.shape[0] else self._zero_hidden(obs.shape[0])
        logits, _ = self._logits(obs, h)
        return torch.softmax(masked_logits(logits, mask), -1)

    def reset(self, done: Tensor | None = None) -> None:
        """Clear the recurrent memory of envs where ``done`` [E] (all if None)."""
        if self._h is None or done is None:
            self._h = None
        else:
            self._h = self._h * (~done.to(self.device, torch.bool)).view(-1, 1, 1)

    # ---- training ------------------------------------------------------------------------------
    def _iteration_len(self) -> int:
        return self.cfg.rollout_len

    def _fresh(self, env: TensorVecEnv, step: Any) -> tuple:
        return (self._zero_hidden(env.num_envs),)

    def _iteration(self, env: TensorVecEnv, it: int, step: Any, carry: tuple, tally: Tally) -> tuple[Any, tuple, dict]:
        """T steps of E envs with the current policy, then the PPO update on them."""
        cfg, dev = self.cfg, self.device
        E, N, T = env.num_envs, self.n_agents, cfg.rollout_len
        (h,) = carry
        obs, state, mask, alive = step.obs, step.state, step.action_mask, step.alive
        # ---- rollout: T steps of E envs --------------------------------------------------
        buf_obs = torch.empty(T, E, N, self.obs_dim, device=dev)  # [T, E, N, F]
        buf_state = torch.empty(T, E, self.state_dim, device=dev)  # [T, E, S]
        buf_mask = torch.empty(T, E, N, self.n_actions, dtype=torch.bool, device=dev)  # [T, E, N, A]
        buf_alive = torch.empty(T, E, N, dtype=torch.bool, device=dev)  # [T, E, N]
        buf_act = torch.empty(T, E, N, dtype=torch.long, device=dev)  # [T, E, N]
        buf_logp = torch.empty(T, E, N, device=dev)  # [T, E, N]
        buf_val = torch.empty(T, E, N, device=dev)  # [T, E, N] V(s_t), return units
        buf_next_val = torch.empty(T, E, N, device=dev)  # [T, E, N] bootstrap value after step t
        buf_rew = torch.empty(T, E, device=dev)  # [T, E]
        buf_done = torch.empty(T, E, dtype=torch.bool, device=dev)  # [T, E]
        buf_first = torch.empty(T, E, dtype=torch.bool, device=dev)  # [T, E] obs_t starts an episode
        h0 = None if h is None else h.clone()  # [E, N, H] actor memory at the rollout start
        first = torch.zeros(E, dtype=torch.bool, device=dev)  # h0 already holds any reset
        with torch.no_grad():
            value = self._value(obs, state)  # [E, N]
            for t in range(T):
                logits, h = self._logits(obs, h)
                check_finite(logits, "actor logits (observations?)", it)
                act = sample_masked(logits, mask, False, self.gen)  # [E, N]
                logp = torch.log_softmax(masked_logits(logits, mask), -1)
                buf_obs[t], buf_state[t], buf_mask[t], buf_alive[t] = obs, state, mask, alive
                buf_act[t], buf_val[t], buf_first[t] = act, value, first
                buf_logp[t] = logp.gather(-1, act.unsqueeze(-1)).squeeze(-1)
                step = env.step(act)
                done = step.done  # [E]
                obs, state, mask, alive = step.obs, step.state, step.action_mask, step.alive
                value = self._value(obs, state)
                nxt = value.clone()
                # Terminated: nothing follows. Truncated: the episode would have gone on,
                # so bootstrap from the value of the observation it was cut at.
                nxt[step.terminated] = 0.0
                if step.truncated.any():
                    tr = step.truncated
                    nxt[tr] = self._value(step.final_obs[tr], step.final_state[tr])
                buf_next_val[t], buf_rew[t], buf_done[t] = nxt, step.reward, done
                tally.add(step.reward, done, step.won)
                if h is not None and done.any():
                    h = h * (~done).view(E, 1, 1)
                first = done
        check_finite(buf_rew, "rewards", it)
        self.env_steps += E * T

        adv, targets, w = self._advantages(buf_rew, buf_next_val, buf_val, buf_done, buf_alive)

        # ---- PPO update over env minibatches --------------------------------------------------
        batch = (buf_obs, buf_state, buf_mask, buf_act, buf_logp, buf_first, h0, adv, targets, w)
        stats = self._update(it, *self._with_dual(batch))
        return step, (h,), stats

    def learn_episodes(self, obs: Tensor, state: Tensor, mask: Tensor, alive: Tensor, actions: Tensor,
                       rewards: Tensor, has_action: Tensor, terminated: Tensor) -> dict[str, float]:
        """One PPO update on whole episodes that this policy has just played, unchanged since
        (on-policy data from anywhere: the MABL loop's real episodes, with their real rewards).

        Rows as in an :class:`~latentworld.data.Episode` (row t: the obs seen, the action taken
        there, the reward that arrived on reaching it), padded to R rows: obs [B, R, N, F],
        state [B, R, S], mask [B, R, N, A] bool, alive [B, R, N] bool, actions [B, R, N],
        rewards [B, R] team reward, has_action [B, R] bool (False on each episode's last row
        and on padding), terminated [B] bool (otherwise the time limit cut the episode, and it
        bootstraps from the value of its last row). Returns the update's statistics.
        """
        cfg, dev = self.cfg, self.device
        B, R, N = actions.shape
        if R < 2 or not bool(has_action.any()):
            raise ValueError("learn_episodes needs episodes with at least one step")
        f32 = {"dtype": torch.float32, "device": dev}
        obs, state, rewards = obs.to(**f32), state.to(**f32), rewards.to(**f32)
        actions, has_action = actions.to(dev, torch.long), has_action.to(dev, torch.bool)
        alive = alive.to(dev, torch.bool)
        mask = mask.to(dev, torch.bool) | ~has_action[..., None, None]  # rows without an action: any (unused)
        terminated = terminated.to(dev, torch.bool)
        T = R - 1
        tm = lambda x: x[:, :T].transpose(0, 1).contiguous()  # noqa: E731  [B, R, ...] -> [T, B, ...]
        length = has_action.sum(1)  # [B] steps of each episode (its last row is row L)
        with torch.no_grad():
            val_all = self._value(obs.flatten(0, 1), state.flatten(0, 1)).view(B, R, N)  # [B, R, N]
            h0 = self._zero_hidden(B)
            first = torch.zeros(T, B, dtype=torch.bool, device=dev)  # [T, B]: episodes start at row 0 (h0)
            o, m, a = tm(obs), tm(mask), tm(actions)  # [T, B, N, F], [T, B, N, A], [T, B, N]
            if cfg.recurrent:
                h, steps = h0, []
                for t in range(T):
                    lg, h = self._logits(o[t], h)
                    steps.append(lg)
                logits = torch.stack(steps)  # [T, B, N, A]
            else:
                logits = self._logits(o.flatten(0, 1), None)[0].view(T, B, N, -1)  # [T, B, N, A]
            old_logp = torch.log_softmax(masked_logits(logits, m), -1).gather(-1, a.unsqueeze(-1)).squeeze(-1)
        t_idx = torch.arange(T, device=dev).unsqueeze(1)  # [T, 1]
        last_step = t_idx == (length - 1).unsqueeze(0)  # [T, B]: the step that ends the episode
        done = t_idx >= (length - 1).unsqueeze(0)  # [T, B]: the end, and the padding after it
        next_val = val_all[:, 1:].transpose(0, 1).clone()  # [T, B, N] V(row t+1)
        next_val[last_step & terminated.unsqueeze(0)] = 0.0
        next_val[t_idx >= length.unsqueeze(0)] = 0.0
        val = tm(val_all) * tm(has_action).unsqueeze(-1)  # [T, B, N]
        rew = rewards[:, 1:].transpose(0, 1) * tm(has_action)  # [T, B] reward for the step at row t
        live = tm(alive) & tm(has_action).unsqueeze(-1)  # [T, B, N]
        adv, targets, w = self._advantages(rew, next_val, val, done, live, tm(has_action))
        stats = self._update(-1, o, tm(state), m, a, old_logp, first, h0, adv, targets, w)
        self.env_steps += int(length.sum())
        return stats

    def _advantages(self, rew: Tensor, next_val: Tensor, val: Tensor, done: Tensor, alive: Tensor,
                    rows: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """GAE over a rollout: rew [T, E], next_val / val [T, E, N] (return units), done [T, E],
        alive [T, E, N], rows [T, E] (the rows that hold data; None: all) → normalised
        advantages [T, E, N], critic targets [T, E, N] (value norm units when on; its
        statistics are updated from the rows with data) and the loss weights [T, E, N]."""
        cfg = self.cfg
        T = rew.shape[0]
        adv = torch.zeros_like(val)  # [T, E, N]
        last = torch.zeros_like(val[0])  # [E, N]
        for t in reversed(range(T)):
            not_done = (~done[t]).float().unsqueeze(-1)  # [E, 1]
            delta = rew[t].unsqueeze(-1) + cfg.gamma * next_val[t] - val[t]
            last = delta + cfg.gamma * cfg.gae_lambda * not_done * last
            adv[t] = last
        returns = adv + val  # [T, E, N]
        w = alive.float()  # [T, E, N] dead agents have only the no-op: nothing to learn
        w_sum = w.sum().clamp(min=1.0)
        a_mean = (adv * w).sum() / w_sum
        a_std = (((adv - a_mean) ** 2 * w).sum() / w_sum).sqrt()
        adv = (adv - a_mean) / (a_std + 1e-8)
        if cfg.value_norm:
            self.value_norm.update(returns if rows is None else returns[rows])
            return adv, self.value_norm.normalize(returns), w
        return adv, returns, w

    def _with_dual(self, batch: tuple) -> tuple:
        """The fresh rollout joined (along the env axis) with the last ``dual_buffer`` ones, which
        keep their returns in return units and are re-normalised with today's statistics."""
        if not self.cfg.dual_buffer:
            return batch
        norm = self.cfg.value_norm
        *head, h0, adv, targets, w = batch
        stored = (*head, h0, adv, self.value_norm.denormalize(targets) if norm else targets, w)
        parts = [*self._dual, stored]
        self._dual.append(stored)
        if any(p[0].shape[0] != stored[0].shape[0] for p in parts):  # another rollout length: fresh only
            parts = [stored]
        cat = [torch.cat([p[i] for p in parts], 1) for i in range(len(head))]  # [T, E', ...]
        h = None if h0 is None else torch.cat([p[len(head)] for p in parts], 0)  # [E', N, H]
        adv_all, ret_all, w_all = (torch.cat([p[i] for p in parts], 1) for i in range(len(head) + 1, len(head) + 4))
        return (*cat, h, adv_all, self.value_norm.normalize(ret_all) if norm else ret_all, w_all)

    def _value(self, obs: Tensor, state: Tensor) -> Tensor:
        """V in return units: obs [B, N, F], state [B, S] → [B, N]."""
        v = self.critic(obs, state)
        return self.value_norm.denormalize(v) if self.cfg.value_norm else v

    def _update(self, it: int, obs: Tensor, state: Tensor, mask: Tensor, act: Tensor, old_logp: Tensor,
                first: Tensor, h0: Tensor | None, adv: Tensor, targets: Tensor, w: Tensor) -> dict[str, float]:
        cfg = self.cfg
        T, E, N = act.shape
        sums = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "approx_kl": 0.0, "clip_frac": 0.0}
        n = 0
        for _ in range(cfg.epochs):
            for idx in torch.randperm(E, generator=self.gen, device=self.device).chunk(cfg.minibatches):
                B = idx.numel()
                # actor: re-run over the sequence so a GRU sees the same history as in the rollout
                if cfg.recurrent:
                    h = h0[idx]
                    steps = []
                    for t in range(T):
                        h = h * (~first[t, idx]).view(B, 1, 1)
                        lg, h = self._logits(obs[t, idx], h)
                        steps.append(lg)
                    logits = torch.stack(steps)  # [T, B, N, A]
                else:
                    logits, _ = self._logits(obs[:, idx].reshape(T * B, N, -1), None)
                    logits = logits.view(T, B, N, -1)  # [T, B, N, A]
                logp_all = torch.log_softmax(masked_logits(logits, mask[:, idx]), -1)  # [T, B, N, A]
                logp = logp_all.gather(-1, act[:, idx].unsqueeze(-1)).squeeze(-1)  # [T, B, N]
                entropy = -(logp_all.exp() * logp_all).sum(-1)  # [T, B, N]
                wb = w[:, idx]
                wsum = wb.sum().clamp(min=1.0)
                log_ratio = logp - old_logp[:, idx]
                ratio = log_ratio.exp()
                a = adv[:, idx]
                pg = -torch.min(ratio * a, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * a)
                policy_loss = (pg * wb).sum() / wsum
                ent = (entropy * wb).sum() / wsum
                actor_loss = policy_loss - cfg.entropy_coef * ent
                v = self.critic(obs[:, idx].reshape(T * B, N, -1), state[:, idx].reshape(T * B, -1))
                value_loss = fnn.mse_loss(v.view(T, B, N), targets[:, idx])
                check_finite(actor_loss + value_loss, "loss", it)
                self.actor_opt.zero_grad(set_to_none=True)
                actor_loss.backward()
                nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.max_grad_norm)
                self.actor_opt.step()
                self.critic_opt.zero_grad(set_to_none=True)
                value_loss.backward()
                nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.max_grad_norm)
                self.critic_opt.step()
                with torch.no_grad():
                    sums["policy_loss"] += policy_loss.item()
                    sums["value_loss"] += value_loss.item()
                    sums["entropy"] += ent.item()
                    sums["approx_kl"] += (((ratio - 1) - log_ratio) * wb).sum().item() / wsum.item()
                    sums["clip_frac"] += (((ratio - 1).abs() > cfg.clip).float() * wb).sum().item() / wsum.item()
                n += 1
        return {k: v / n for k, v in sums.items()}

    def _check_env(self, env: TensorVecEnv) -> None:
        check_env_dims(self.dims, env)
