"""Mean-field MARL (Yang et al. 2018): MF-Q, and the parts MF-AC (``mfac.py``) shares with it.

Agent j's Q-function takes its own action and the **mean action of its neighbours**,
Q(o^j, a^j, ā^j), where ā^j averages the neighbours' one-hot actions: however many agents
there are, each one sees a single "virtual mean agent", so the network's input does not
grow with N. Parameters are shared by all agents (plus a one-hot agent id).

- **Who counts in ā.** Neighbours are the other agents that take part in the step: alive
  (``VecStep.alive``) and with a real choice (more than one available action; SMAX's dead
  units can only stop). An agent with no such neighbour gets ā = 0. Masked actions are
  never chosen, so they never appear in ā. By default every ally is a neighbour; with
  ``neighbours = k`` only the k nearest visible allies, from positions in the observation
  (``ally_block``: SMAX's layout, see :func:`latentworld.adapters.smax.smax_ally_block`).
- **Acting.** ā^j is computed from the neighbours' actions of the *previous* step (zero at
  an episode start), as in the paper; MF-Q samples from the Boltzmann distribution
  softmax(Q / temperature) over available actions (greedy when deterministic).
- **Learning.** Transitions store the *concurrent* mean action ā_t of the actions taken at
  t. Loss (y − Q(o_t, a_t, ā_t))² with y = r + γ v(o_{t+1}), v = Σ_a π(a | o', ā_t) Q⁻(o', a, ā_t)
  (Q⁻: the soft-updated target network, τ); the bootstrap stops where the episode
  terminated or the agent died. Only agents alive at t contribute to the loss.

Reads top to bottom: config → mean action and neighbours → network → replay → the shared
learner (collection, updates, save/load) → MF-Q. E = envs, N = agents, F = obs size,
A = actions, H = hidden, B = batch of env steps, C = replay capacity in env steps.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as fnn
from torch import Tensor, nn

from latentworld.env.protocol import TensorVecEnv

from .driver import DrivenLearner, Tally
from .policy import (
    check_finite,
    masked_logits,
    sample_masked,
)


@dataclass
class MFConfig:
    """Hyper-parameters of the mean-field learners (MF-Q and MF-AC); defaults for a CPU and 32-256 envs."""

    hidden: int = 64
    """Width of the Q-network's (and MF-AC's actor's) two hidden layers (H)."""
    agent_id: bool = True
    """Feed each agent its one-hot index (shared weights, distinct roles)."""
    neighbours: int = 0
    """0: every other participating ally is a neighbour; k > 0: the k nearest visible ones
    (needs ``ally_block``)."""
    ally_block: int = 0
    """For ``neighbours > 0``: the length of one unit's block in the observation, whose first
    N−1 blocks describe the other allies in index order as [health, x, y, ...] relative to
    the agent, all zero when unseen (SMAX: :func:`latentworld.adapters.smax.smax_ally_block`). 0: no positions."""
    lr: float = 5e-4
    """Adam learning rate of the Q-network (the critic in MF-AC)."""
    actor_lr: float = 5e-4
    """MF-AC: Adam learning rate of the actor."""
    entropy_coef: float = 0.01
    """MF-AC: weight of the actor's entropy bonus (masked actions excluded)."""
    gamma: float = 0.99
    """Discount factor."""
    temp_start: float = 0.1
    """MF-Q: Boltzmann temperature at the start (softmax(Q / temperature) over available actions).
    It is on the scale of Q: the defaults suit returns of order 1 (SMAX's are at most ~2), whose
    Q-gaps between actions are small; a temperature much above them makes the policy random."""
    temp_end: float = 0.01
    """MF-Q: temperature after annealing; the targets' π uses the current temperature too."""
    temp_anneal_steps: int = 20_000
    """MF-Q: env steps over which the temperature falls linearly from start to end."""
    tau: float = 0.01
    """Soft target update: Q⁻ ← (1 − τ) Q⁻ + τ Q after every gradient step."""
    buffer_size: int = 100_000
    """Replay capacity in env steps (each holds all N agents' transitions)."""
    batch_size: int = 64
    """Env steps per gradient step (B·N agent transitions)."""
    rollout_len: int = 8
    """Steps each env takes between two rounds of updates (E·rollout_len env steps per iteration)."""
    steps_per_update: int = 16
    """Env steps collected per gradient step. Smaller is more sample-efficient and slower;
    raise it in imagination, where steps are cheap."""
    learning_starts: int = 1_000
    """Env steps collected before the first gradient step."""
    max_grad_norm: float = 10.0
    """Gradient-norm clipping."""
    seed: int = 0
    """Seeds the weights, exploration, replay sampling and the env's reset in ``learn``."""

    def __post_init__(self) -> None:
        for name in ("hidden", "batch_size", "rollout_len", "steps_per_update", "buffer_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"MFConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.neighbours < 0:
            raise ValueError(f"MFConfig.neighbours must be >= 0 (0: all allies), got {self.neighbours}")
        if self.neighbours > 0 and self.ally_block < 3:
            raise ValueError("MFConfig.neighbours > 0 picks the nearest allies from their positions in the "
                             "observation: set ally_block (SMAX: latentworld.algos.smax_ally_block(spec)), "
                             "or neighbours=0 for all allies")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"MFConfig.tau must be in (0, 1], got {self.tau}")
        if self.temp_end <= 0 or self.temp_start <= 0:
            raise ValueError("MFConfig temperatures must be > 0 (deterministic acting is act(..., deterministic=True))")


def participants(mask: Tensor, alive: Tensor | None = None) -> Tensor:
    """Agents that count in their neighbours' ā: mask [E, N, A] (and alive [E, N]) → [E, N] bool."""
    part = mask.sum(-1) > 1  # [E, N] a real choice (SMAX's dead units can only stop)
    return part if alive is None else part & alive.to(torch.bool)


def nearest_allies(obs: Tensor, k: int, block: int) -> Tensor:
    """The k nearest visible allies of each agent: obs [E, N, F] → neighbour matrix [E, N, N] bool
    (row j: agent j's neighbours). Ally blocks of agent j skip j itself (SMAX's order)."""
    E, N, _ = obs.shape
    blocks = obs[..., : (N - 1) * block].reshape(E, N, N - 1, block)  # [E, N, N-1, U]
    dist = blocks[..., 1:3].norm(dim=-1)  # [E, N, N-1] relative positions
    dist = dist.masked_fill(blocks[..., 0] <= 0, math.inf)  # unseen or dead: health 0
    idx = torch.arange(N - 1, device=obs.device)
    other = idx.view(1, N - 1) + (idx.view(1, N - 1) >= torch.arange(N, device=obs.device).view(N, 1)).long()
    full = torch.full((E, N, N), math.inf, device=obs.device)  # [E, N, N] distance j → agent index
    full.scatter_(2, other.expand(E, N, N - 1), dist)
    kk = min(k, N - 1)
    near = full.topk(kk, dim=-1, largest=False)  # [E, N, kk]
    out = torch.zeros(E, N, N, dtype=torch.bool, device=obs.device)
    out.scatter_(2, near.indices, torch.isfinite(near.values))
    return out


def mean_action(actions: Tensor, part: Tensor, n_actions: int, neighbours: Tensor | None = None) -> Tensor:
    """ā: actions [E, N] (−1 = none), participants [E, N], optional neighbour matrix [E, N, N]
    → [E, N, A], each row the mean one-hot action of that agent's participating neighbours
    (zeros where it has none)."""
    E, N = actions.shape
    valid = part & (actions >= 0)  # [E, N]
    onehot = fnn.one_hot(actions.clamp(min=0), n_actions).float() * valid.unsqueeze(-1)  # [E, N, A]
    w = valid.unsqueeze(1) & ~torch.eye(N, dtype=torch.bool, device=actions.device)  # [E, N(j), N(k)]
    if neighbours is not None:
        w = w & neighbours
    w = w.float()
    return (w @ onehot) / w.sum(-1, keepdim=True).clamp(min=1.0)  # [E, N, A]


class MFNet(nn.Module):
    """Shared MLP: [obs, own previous action, agent id, (ā)] → one value per action [A]."""

    def __init__(self, in_dim: int, hidden: int, n_actions: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_actions))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class TransitionReplay:
    """Ring buffer of up to ``capacity`` env steps, every agent's transition of a step together.

    Storage grows by doubling as steps arrive (a 100k-step buffer of 25 agents with 384 latent
    features would be ~7.7 GB if allocated up front); memory ≈ steps · N · (2F + 2A + 8) · 4 bytes.
    """

    def __init__(self, capacity: int, n_agents: int, obs_dim: int, n_actions: int, device: torch.device):
        N, F, A = n_agents, obs_dim, n_actions
        self.shapes = {"obs": ((N, F), torch.float32), "prev": ((N,), torch.long), "mask": ((N, A), torch.bool),
                       "abar": ((N, A), torch.float32), "action": ((N,), torch.long), "alive": ((N,), torch.bool),
                       "reward": ((), torch.float32), "cont": ((N,), torch.bool), "next_obs": ((N, F), torch.float32),
                       "next_mask": ((N, A), torch.bool)}
        self.capacity, self.size, self._next, self.device = capacity, 0, 0, device
        self.data = self._alloc(min(capacity, 1024))

    def _alloc(self, n: int) -> dict[str, Tensor]:
        return {k: torch.zeros((n, *s), dtype=dt, device=self.device) for k, (s, dt) in self.shapes.items()}

    def _grow(self, need: int) -> None:
        """Before the first wrap-around: enlarge the storage to hold ``need`` steps (doubling)."""
        have = self.data["reward"].shape[0]
        if need <= have or have == self.capacity:
            return
        new = self._alloc(min(self.capacity, max(need, 2 * have)))
        for k, v in self.data.items():
            new[k][: self.size] = v[: self.size]
        self.data = new

    def add(self, batch: dict[str, Tensor]) -> None:
        """Add E env steps: ``batch[name]`` is [E, ...]."""
        E = batch["reward"].shape[0]
        self._grow(self.size + E)
        cap = self.data["reward"].shape[0]  # = capacity once full, so the ring wraps only then
        idx = (self._next + torch.arange(E, device=self.device)) % cap  # [E]
        for k, v in batch.items():
            self.data[k][idx] = v.to(self.data[k].dtype)
        self._next = (self._next + E) % cap if cap == self.capacity else self._next + E  # wraps only when full
        self.size = min(self.size + E, cap)

    def sample(self, batch: int, generator: torch.Generator, recent: int | None = None) -> dict[str, Tensor]:
        """``batch`` env steps at random: from everything, or from the ``recent`` last added."""
        n = self.size if recent is None else min(recent, self.size)
        back = torch.randint(n, (batch,), generator=generator, device=self.device)  # [B] steps back
        idx = (self._next - 1 - back) % self.data["reward"].shape[0]
        return {k: v[idx] for k, v in self.data.items()}


class MeanFieldLearner(DrivenLearner):
    """What MF-Q and MF-AC share: the mean-field critic, collection, replay, save/load."""

    algo = ""
    networks: tuple[str, ...] = ("qnet",)
    config_cls = MFConfig

    def __init__(self, obs_dim: int, state_dim: int, n_agents: int, n_actions: int,
                 cfg: MFConfig | None = None, device: str | torch.device = "cpu"):
        self.cfg = cfg = cfg or MFConfig()
        self.dims = {"obs_dim": obs_dim, "state_dim": state_dim, "n_agents": n_agents, "n_actions": n_actions}
        self.obs_dim, self.n_agents, self.n_actions = obs_dim, n_agents, n_actions
        if cfg.neighbours > 0 and (n_agents - 1) * cfg.ally_block > obs_dim:
            raise ValueError(f"ally_block {cfg.ally_block} x {n_agents - 1} allies exceeds obs_dim {obs_dim}")
        self.device = torch.device(device)
        self.base_dim = obs_dim + n_actions + (n_agents if cfg.agent_id else 0)
        with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's RNG
            torch.manual_seed(cfg.seed)
            self.qnet = MFNet(self.base_dim + n_actions, cfg.hidden, n_actions).to(self.device)
            self._build_extra()
        self.target_qnet = copy.deepcopy(self.qnet)
        self.q_opt = torch.optim.Adam(self.qnet.parameters(), lr=cfg.lr)
        self.gen = torch.Generator(self.device).manual_seed(cfg.seed)
        self.temperature = cfg.temp_end  # act() outside learn() samples at this temperature
        self.env_steps = 0
        self.updates = 0
        self._owed = 0.0  # fractional gradient steps carried between env steps
        self._last_E = 1  # envs of the latest learn() call
        self._prev: Tensor | None = None  # [E, N] previous actions, -1 at an episode start
        self.replay: TransitionReplay | None = None  # created by the first learn()

    def _build_extra(self) -> None:
        """Networks beyond the critic (MF-AC's actor), built under the seeded RNG."""

    # ---- inputs -------------------------------------------------------------------------------
    def _base(self, obs: Tensor, prev: Tensor) -> Tensor:
        """obs [..., N, F], own previous action [..., N] (−1 = none) → [..., N, base_dim]."""
        parts = [obs, fnn.one_hot(prev.clamp(min=0), self.n_actions).float() * (prev >= 0).unsqueeze(-1)]
        if self.cfg.agent_id:
            parts.append(torch.eye(self.n_agents, device=obs.device).expand(*obs.shape[:-1], self.n_agents))
        return torch.cat(parts, -1)

    def _neighbours(self, obs: Tensor) -> Tensor | None:
        cfg = self.cfg
        return nearest_allies(obs, cfg.neighbours, cfg.ally_block) if cfg.neighbours > 0 else None

    def _q(self, net: MFNet, base: Tensor, abar: Tensor) -> Tensor:
        """Q over own actions: base [..., N, base_dim], ā [..., N, A] → [..., N, A]."""
        return net(torch.cat([base, abar], -1))

    # ---- acting -------------------------------------------------------------------------------
    def _behaviour(self, obs: Tensor, prev: Tensor, mask: Tensor, part: Tensor, deterministic: bool) -> Tensor:
        """Actions [E, N] for obs [E, N, F]; ``prev`` holds every agent's previous action."""
        raise NotImplementedError

    @torch.no_grad()
    def act(self, obs: Tensor, mask: Tensor, deterministic: bool = False, alive: Tensor | None = None) -> Tensor:
        """obs [E, N, F], mask [E, N, A] bool (, alive [E, N]) → actions [E, N], never masked.
        Remembers this step's actions (the next step's ā) until :meth:`reset`."""
        obs, mask = obs.to(self.device, torch.float32), mask.to(self.device, torch.bool)
        if self._prev is None or self._prev.shape[0] != obs.shape[0]:
            self._prev = torch.full(obs.shape[:2], -1, dtype=torch.long, device=self.device)
        part = participants(mask, None if alive is None else alive.to(self.device))
        self._prev = self._behaviour(obs, self._prev, mask, part, deterministic)
        return self._prev.clone()

    def reset(self, done: Tensor | None = None) -> None:
        """Forget the previous actions of envs where ``done`` [E] (all if None)."""
        if self._prev is None or done is None:
            self._prev = None
            return
        self._prev = self._prev.masked_fill(done.to(self.device, torch.bool).view(-1, 1), -1)

    # ---- training -----------------------------------------------------------------------------
    def _iteration_len(self) -> int:
        return self.cfg.rollout_len

    def _prepare(self, env: TensorVecEnv) -> None:
        self._last_E = env.num_envs
        if self.replay is None:
            self.replay = TransitionReplay(max(1, self.cfg.buffer_size), self.n_agents, self.obs_dim,
                                           self.n_actions, self.device)

    def _fresh(self, env: TensorVecEnv, step: Any) -> tuple:
        return (torch.full((env.num_envs, self.n_agents), -1, dtype=torch.long, device=self.device),)  # [E, N]

    def _iteration(self, env: TensorVecEnv, it: int, step: Any, carry: tuple, tally: Tally) -> tuple[Any, tuple, dict]:
        """rollout_len steps of E envs into the replay, with updates as they fall due."""
        cfg, dev = self.cfg, self.device
        E, T = env.num_envs, cfg.rollout_len
        (prev,) = carry
        losses = []
        for _ in range(T):
            self._anneal()
            with torch.no_grad():
                part = participants(step.action_mask, step.alive)  # [E, N]
                act = self._behaviour(step.obs, prev, step.action_mask, part, deterministic=False)
                nxt = env.step(act)
                done = nxt.done
                final_mask = nxt.info.get("final_action_mask")
                if final_mask is None:  # env without it: all actions at the cut
                    final_mask = torch.ones_like(nxt.action_mask)
                next_alive = torch.where(done.view(E, 1), True, nxt.alive.to(torch.bool))  # [E, N]
                self.replay.add({
                    "obs": step.obs, "prev": prev, "mask": step.action_mask, "action": act, "alive": step.alive,
                    "abar": mean_action(act, part, self.n_actions, self._neighbours(step.obs)),
                    "reward": nxt.reward, "cont": next_alive & ~nxt.terminated.view(E, 1),
                    "next_obs": torch.where(done.view(E, 1, 1), nxt.final_obs, nxt.obs),
                    "next_mask": torch.where(done.view(E, 1, 1), final_mask.to(dev), nxt.action_mask),
                })
            self.env_steps += E
            tally.add(nxt.reward, done, nxt.won)
            prev = act.masked_fill(done.view(E, 1), -1)
            step = nxt
            if self.env_steps >= cfg.learning_starts:
                for _ in range(self._updates_due(E)):
                    losses.append(self._train_step(it))
        stats = {"td_loss": sum(losses) / len(losses) if losses else float("nan"),
                 "temperature": self.temperature, "updates": self.updates}
        return step, (prev,), stats

    @property
    def _rollout_steps(self) -> int:
        """Env steps of the latest rollout (MF-AC's actor learns on these, on-policy)."""
        return self._last_E * self.cfg.rollout_len

    def _anneal(self) -> None:
        cfg = self.cfg
        frac = min(1.0, self.env_steps / max(1, cfg.temp_anneal_steps))
        self.temperature = cfg.temp_start + frac * (cfg.temp_end - cfg.temp_start)

    def _updates_due(self, E: int) -> int:
        """Gradient steps owed after E more env steps (carries the fraction across steps)."""
        self._owed += E / self.cfg.steps_per_update
        n = int(self._owed)
        self._owed -= n
        return n

    def _next_policy(self, next_base: Tensor, abar: Tensor, next_mask: Tensor) -> Tensor:
        """π(a | o', ā) [B, N, A] used in the bootstrap value."""
        raise NotImplementedError

    def _critic_loss(self, b: dict[str, Tensor], base: Tensor, it: int) -> Tensor:
        cfg = self.cfg
        q = self._q(self.qnet, base, b["abar"]).gather(-1, b["action"].unsqueeze(-1)).squeeze(-1)  # [B, N]
        with torch.no_grad():
            next_base = self._base(b["next_obs"], b["action"])
            pi = self._next_policy(next_base, b["abar"], b["next_mask"])  # [B, N, A]
            q_next = self._q(self.target_qnet, next_base, b["abar"]).masked_fill(~b["next_mask"], 0.0)
            v_next = (pi * q_next).sum(-1)  # [B, N]
            y = b["reward"].unsqueeze(-1) + cfg.gamma * b["cont"].float() * v_next  # [B, N]
        w = b["alive"].float()
        loss = ((q - y) ** 2 * w).sum() / w.sum().clamp(min=1.0)
        check_finite(loss, "TD loss", it)
        return loss

    def _train_step(self, it: int) -> float:
        cfg = self.cfg
        b = self.replay.sample(cfg.batch_size, self.gen)
        base = self._base(b["obs"], b["prev"])  # [B, N, base_dim]
        loss = self._critic_loss(b, base, it)
        self.q_opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.qnet.parameters(), cfg.max_grad_norm)
        self.q_opt.step()
        self._after_critic(it)
        with torch.no_grad():
            for p, tp in zip(self.qnet.parameters(), self.target_qnet.parameters()):
                tp.lerp_(p, cfg.tau)
        self.updates += 1
        return loss.item()

    def _after_critic(self, it: int) -> None:
        """MF-AC's actor update; nothing for MF-Q."""

    # ---- save / load (SavedLearner) -----------------------------------------------------------
    def _saved_extra(self) -> dict[str, Any]:
        return {"env_steps": self.env_steps, "temperature": self.temperature}

    def _restore(self, meta: dict[str, Any]) -> None:
        self.target_qnet.load_state_dict(self.qnet.state_dict())
        self.env_steps = int(meta.get("env_steps", 0))
        self.temperature = float(meta.get("temperature", self.cfg.temp_end))


class MFQ(MeanFieldLearner):
    """Mean-field Q-learning; satisfies :class:`~latentworld.algos.policy.Policy`. Acting reads
    the neighbours' previous actions (tracked inside the learner, like a recurrent memory)."""

    algo = "mfq"

    def _behaviour(self, obs: Tensor, prev: Tensor, mask: Tensor, part: Tensor, deterministic: bool) -> Tensor:
        abar = mean_action(prev, part, self.n_actions, self._neighbours(obs))  # [E, N, A] from the last step
        q = self._q(self.qnet, self._base(obs, prev), abar)  # [E, N, A]
        return sample_masked(q / self.temperature, mask, deterministic, generator=self.gen)

    def _next_policy(self, next_base: Tensor, abar: Tensor, next_mask: Tensor) -> Tensor:
        q = self._q(self.qnet, next_base, abar)
        return torch.softmax(masked_logits(q / self.temperature, next_mask), -1)

