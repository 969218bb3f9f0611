"""Value decomposition (QMIX / VDN / QPLEX) with recurrent, parameter-shared agent Q-networks.

Reads top to bottom: config → agent network → the learner (collect chunks, masked ε-greedy,
TD targets through a mixer, target networks) → save/load.

Acting keeps the recurrent memory inside the learner (like a PettingZoo policy would): call
``act(obs, mask)`` once per step and ``reset(done)`` where episodes ended. Targets: a
truncated step bootstraps from the final observation (``VecStep.final_obs``, with the
env's ``info["final_action_mask"]`` when it provides one); a terminated step from 0.

E = envs, L = chunk length, B = batch of chunks, N = agents, F = obs size, S = state size,
A = actions, H = hidden.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as fnn
from torch import Tensor, nn

from latentworld.env.protocol import TensorVecEnv

from .driver import DrivenLearner, Tally
from .mixers import MIXERS, make_mixer
from .policy import (
    MASKED,
    check_env_dims,
    check_finite,
    sample_masked,
)
from .replay import FIELDS, ChunkReplay


@dataclass
class QMixConfig:
    """Hyper-parameters of the value-decomposition learner (defaults: a few CPU cores, 32-256 envs)."""

    mixer: str = "qmix"
    """How agent utilities combine into Q_tot: "vdn" (sum), "qmix" (monotonic hypernetwork
    mixing), "qplex" (duplex dueling)."""
    hidden: int = 64
    """Width of the agent network's MLP and GRU (H)."""
    mixer_embed: int = 32
    """Width of the mixing network (QMIX) / attention embedding (QPLEX)."""
    hyper_hidden: int = 64
    """Hidden width of QMIX's weight hypernetworks."""
    qplex_heads: int = 4
    """Attention heads that produce QPLEX's advantage weights λ."""
    agent_id: bool = True
    """Feed each agent its one-hot index (shared weights, distinct roles)."""
    lr: float = 5e-4
    """Adam learning rate of agent network and mixer."""
    gamma: float = 0.99
    """Discount factor."""
    td_lambda: float = 0.0
    """λ of Q(λ) targets inside a chunk; 0 gives one-step TD targets."""
    double_q: bool = True
    """Pick the next greedy action with the online network, evaluate it with the target."""
    eps_start: float = 1.0
    """Exploration ε at the start (masked ε-greedy: random among available actions)."""
    eps_end: float = 0.05
    """Exploration ε after annealing."""
    eps_anneal_steps: int = 50_000
    """Env steps over which ε falls linearly from ``eps_start`` to ``eps_end``."""
    buffer_size: int = 100_000
    """Replay capacity in env steps (stored as chunks of ``chunk_len``)."""
    chunk_len: int = 20
    """Steps per stored sequence chunk (L); each env contributes one chunk per iteration."""
    batch_size: int = 32
    """Chunks per gradient step."""
    steps_per_update: int = 40
    """Env steps collected per gradient step (after each iteration of E·L steps, E·L / this
    many updates). Smaller is more sample-efficient and slower; raise it in imagination,
    where steps are cheap."""
    learning_starts: int = 2_000
    """Env steps collected before the first gradient step."""
    target_update_interval: int = 200
    """Gradient steps between copies of the online networks into the targets."""
    max_grad_norm: float = 10.0
    """Gradient-norm clipping."""
    seed: int = 0
    """Seeds the weights, exploration, replay sampling and the env's reset in ``learn``."""


class AgentQNet(nn.Module):
    """Per-agent Q: [obs, previous action one-hot, agent id] → MLP → GRUCell → Q [A]."""

    def __init__(self, in_dim: int, hidden: int, n_actions: int):
        super().__init__()
        self.embed = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.ReLU())
        self.gru = nn.GRUCell(hidden, hidden)
        self.head = nn.Linear(hidden, n_actions)

    def forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """x [B, in_dim], h [B, H] → q [B, A], next h [B, H]."""
        h = self.gru(self.embed(x), h)
        return self.head(h), h


class QLearner(DrivenLearner):
    """QMIX / VDN / QPLEX for ``TensorVecEnv`` envs; satisfies :class:`~latentworld.algos.policy.Policy`."""

    algo = "qmix"
    networks = ("qnet", "mixer")
    config_cls = QMixConfig

    def __init__(self, obs_dim: int, state_dim: int, n_agents: int, n_actions: int,
                 cfg: QMixConfig | None = None, device: str | torch.device = "cpu"):
        self.cfg = cfg = cfg or QMixConfig()
        if cfg.mixer not in MIXERS:
            raise ValueError(f"unknown mixer {cfg.mixer!r}; choose one of {MIXERS}")
        self.dims = {"obs_dim": obs_dim, "state_dim": state_dim, "n_agents": n_agents, "n_actions": n_actions}
        self.obs_dim, self.state_dim, self.n_agents, self.n_actions = obs_dim, state_dim, n_agents, n_actions
        self.device = torch.device(device)
        in_dim = obs_dim + n_actions + (n_agents if cfg.agent_id else 0)
        with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's RNG
            torch.manual_seed(cfg.seed)
            self.qnet = AgentQNet(in_dim, cfg.hidden, n_actions).to(self.device)
            self.mixer = make_mixer(cfg.mixer, n_agents, n_actions, state_dim, cfg.mixer_embed,
                                    cfg.hyper_hidden, cfg.qplex_heads).to(self.device)
        self.target_qnet, self.target_mixer = copy.deepcopy(self.qnet), copy.deepcopy(self.mixer)
        params = list(self.qnet.parameters()) + list(self.mixer.parameters())
        self.opt = torch.optim.Adam(params, lr=cfg.lr)
        self.gen = torch.Generator(self.device).manual_seed(cfg.seed)
        self.epsilon = cfg.eps_end  # act() outside learn() explores this much unless deterministic
        self.env_steps = 0
        self.updates = 0
        self._h: Tensor | None = None  # [E, N, H] memory used by act()
        self._prev: Tensor | None = None  # [E, N] previous actions, -1 at an episode start
        self.replay: ChunkReplay | None = None  # created by the first learn()

    # ---- acting -------------------------------------------------------------------------------
    def _input(self, obs: Tensor, prev: Tensor) -> Tensor:
        """obs [..., N, F], prev [..., N] (-1 = none) → network input [..., N, in_dim]."""
        parts = [obs, fnn.one_hot(prev.clamp(min=0), self.n_actions).float() * (prev >= 0).unsqueeze(-1)]
        if self.cfg.agent_id:
            parts.append(torch.eye(self.n_agents, device=obs.device).expand(*obs.shape[:-1], self.n_agents))
        return torch.cat(parts, -1)

    def _q(self, net: AgentQNet, obs: Tensor, prev: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """One step for a batch of teams: obs [B, N, F], prev [B, N], h [B, N, H] → q [B, N, A], h."""
        B, N, _ = obs.shape
        q, h = net(self._input(obs, prev).reshape(B * N, -1), h.reshape(B * N, -1))
        return q.view(B, N, -1), h.view(B, N, -1)

    def _explore(self, q: Tensor, mask: Tensor, eps: float) -> Tensor:
        """Masked ε-greedy: q [E, N, A] → actions [E, N], never an unavailable action."""
        greedy = sample_masked(q, mask, deterministic=True)
        if eps <= 0:
            return greedy
        random = sample_masked(torch.zeros_like(q), mask, deterministic=False, generator=self.gen)
        pick = torch.rand(greedy.shape, generator=self.gen, device=q.device) < eps
        return torch.where(pick, random, greedy)

    @torch.no_grad()
    def act(self, obs: Tensor, mask: Tensor, deterministic: bool = False) -> Tensor:
        """obs [E, N, F], mask [E, N, A] bool → actions [E, N] (greedy if ``deterministic``,
        else ε-greedy with ``self.epsilon``). Memory persists until :meth:`reset`."""
        obs, mask = obs.to(self.device, torch.float32), mask.to(self.device, torch.bool)
        E = obs.shape[0]
        if self._h is None or self._h.shape[0] != E:
            self.reset()
            self._h = torch.zeros(E, self.n_agents, self.cfg.hidden, device=self.device)
            self._prev = torch.full((E, self.n_agents), -1, dtype=torch.long, device=self.device)
        q, self._h = self._q(self.qnet, obs, self._prev, self._h)
        self._prev = self._explore(q, mask, 0.0 if deterministic else self.epsilon)
        return self._prev.clone()

    def reset(self, done: Tensor | None = None) -> None:
        """Clear the memory of envs where ``done`` [E] (all if None)."""
        if self._h is None or done is None:
            self._h = self._prev = None
            return
        done = done.to(self.device, torch.bool)
        self._h = self._h * (~done).view(-1, 1, 1)
        self._prev = self._prev.masked_fill(done.view(-1, 1), -1)

    # ---- training -----------------------------------------------------------------------------
    def _iteration_len(self) -> int:
        return self.cfg.chunk_len

    def _desc(self) -> str:
        return self.cfg.mixer.upper()

    def _postfix(self, record: dict[str, Any]) -> dict[str, str]:
        return {"eps": f"{self.epsilon:.2f}"}

    def _prepare(self, env: TensorVecEnv) -> None:
        if self.replay is None:  # kept across learn() calls, so training in chunks loses no data
            L = self.cfg.chunk_len
            self.replay = ChunkReplay(max(1, self.cfg.buffer_size // L), L, self.n_agents, self.obs_dim,
                                      self.state_dim, self.n_actions, self.cfg.hidden, self.device)

    def _fresh(self, env: TensorVecEnv, step: Any) -> tuple:
        E, N, dev = env.num_envs, self.n_agents, self.device
        h = torch.zeros(E, N, self.cfg.hidden, device=dev)  # [E, N, H]
        prev = torch.full((E, N), -1, dtype=torch.long, device=dev)  # [E, N]
        first = torch.ones(E, dtype=torch.bool, device=dev)  # [E]
        return h, prev, first

    def _iteration(self, env: TensorVecEnv, it: int, step: Any, carry: tuple, tally: Tally) -> tuple[Any, tuple, dict]:
        """One chunk of L steps of E envs (epsilon-greedy) into the replay, then TD updates."""
        cfg, dev = self.cfg, self.device
        E, L = env.num_envs, cfg.chunk_len
        h, prev, first = carry
        chunk: dict[str, list[Tensor]] = {k: [] for k in FIELDS}  # each: L tensors [E, ...]
        h0 = h.clone()
        with torch.no_grad():
            for _ in range(L):
                frac = min(1.0, self.env_steps / max(1, cfg.eps_anneal_steps))
                self.epsilon = cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)
                q, h = self._q(self.qnet, step.obs, prev, h)
                check_finite(q, "Q-values (observations?)", it)
                act = self._explore(q, step.action_mask, self.epsilon)  # [E, N]
                nxt = env.step(act)
                done = nxt.done
                final_mask = nxt.info.get("final_action_mask")
                if final_mask is None:  # env without it: all actions at the cut (max over all)
                    final_mask = torch.ones_like(nxt.action_mask)
                d3 = done.view(E, 1, 1)
                for k, v in (("obs", step.obs), ("state", step.state), ("mask", step.action_mask),
                             ("prev_action", prev),
                             ("action", act), ("reward", nxt.reward), ("terminated", nxt.terminated),
                             ("done", done), ("first", first),
                             ("next_obs", torch.where(d3, nxt.final_obs, nxt.obs)),
                             ("next_state", torch.where(done.view(E, 1), nxt.final_state, nxt.state)),
                             ("next_mask", torch.where(d3, final_mask.to(dev), nxt.action_mask))):
                    chunk[k].append(v)
                self.env_steps += E
                tally.add(nxt.reward, done, nxt.won)
                h = h * (~done).view(E, 1, 1)
                prev = act.masked_fill(done.view(E, 1), -1)
                first, step = done, nxt
        self.replay.add({k: torch.stack(v) for k, v in chunk.items()}, h0)
        losses = []
        if self.env_steps >= cfg.learning_starts:
            for _ in range(max(1, round(E * L / cfg.steps_per_update))):
                losses.append(self._train_step(self.replay, it))
        stats = {"td_loss": sum(losses) / len(losses) if losses else float("nan"),
                 "epsilon": self.epsilon, "updates": self.updates}
        return step, (h, prev, first), stats

    def _unroll(self, net: AgentQNet, b: dict[str, Tensor], h0: Tensor) -> tuple[Tensor, Tensor]:
        """Run ``net`` along chunks: → q [B, L, N, A] and the memory after each step [B, L, N, H]."""
        h, qs, hs = h0, [], []
        for t in range(b["obs"].shape[1]):
            h = h * (~b["first"][:, t]).view(-1, 1, 1)
            q, h = self._q(net, b["obs"][:, t], b["prev_action"][:, t], h)
            qs.append(q)
            hs.append(h)
        return torch.stack(qs, 1), torch.stack(hs, 1)

    def _next_q(self, net: AgentQNet, b: dict[str, Tensor], hs: Tensor) -> Tensor:
        """Q at the observation after each step, from the memory of that step's episode:
        one extra GRU step per (chunk, t), so final observations of cut episodes are handled
        like any other next observation. → [B, L, N, A]."""
        B, L, N, _ = b["next_obs"].shape
        q, _ = self._q(net, b["next_obs"].reshape(B * L, N, -1), b["action"].reshape(B * L, N),
                       hs.reshape(B * L, N, -1))
        return q.view(B, L, N, -1)

    def _mix(self, mixer: nn.Module, q: Tensor, v: Tensor, state: Tensor, actions: Tensor) -> Tensor:
        """Apply a mixer over [B, L, ...] inputs → Q_tot [B, L]."""
        B, L, N = q.shape
        out = mixer(q.reshape(B * L, N), v.reshape(B * L, N), state.reshape(B * L, -1), actions.reshape(B * L, N))
        return out.view(B, L)

    def _train_step(self, replay: ChunkReplay, it: int) -> float:
        cfg = self.cfg
        b, h0 = replay.sample(cfg.batch_size, self.gen)
        q_all, hs = self._unroll(self.qnet, b, h0)  # [B, L, N, A], [B, L, N, H]
        act = b["action"]  # [B, L, N]
        q_taken = q_all.gather(-1, act.unsqueeze(-1)).squeeze(-1)  # [B, L, N]
        v_greedy = q_all.masked_fill(~b["mask"], MASKED).max(-1).values  # [B, L, N] (QPLEX's V_i)
        q_tot = self._mix(self.mixer, q_taken, v_greedy, b["state"], act)  # [B, L]
        with torch.no_grad():
            _, hs_tgt = self._unroll(self.target_qnet, b, h0)
            q_next_tgt = self._next_q(self.target_qnet, b, hs_tgt).masked_fill(~b["next_mask"], MASKED)
            if cfg.double_q:
                q_next_online = self._next_q(self.qnet, b, hs).masked_fill(~b["next_mask"], MASKED)
                a_next = q_next_online.argmax(-1)  # [B, L, N]
            else:
                a_next = q_next_tgt.argmax(-1)
            q_next = q_next_tgt.gather(-1, a_next.unsqueeze(-1)).squeeze(-1)  # [B, L, N]
            v_next = q_next_tgt.max(-1).values  # [B, L, N]
            tot_next = self._mix(self.target_mixer, q_next, v_next, b["next_state"], a_next)  # [B, L]
            targets = self._targets(b, tot_next)  # [B, L]
        loss = fnn.mse_loss(q_tot, targets)
        check_finite(loss, "TD loss", it)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(list(self.qnet.parameters()) + list(self.mixer.parameters()), cfg.max_grad_norm)
        self.opt.step()
        self.updates += 1
        if self.updates % cfg.target_update_interval == 0:
            self.target_qnet.load_state_dict(self.qnet.state_dict())
            self.target_mixer.load_state_dict(self.mixer.state_dict())
        return loss.item()

    def _targets(self, b: dict[str, Tensor], tot_next: Tensor) -> Tensor:
        """Q(λ) targets along each chunk (λ = 0: one-step TD). Episode ends cut the λ-trace."""
        cfg = self.cfg
        r, cont = b["reward"], (~b["terminated"]).float()  # [B, L]
        lam = torch.where(b["done"], 0.0, cfg.td_lambda)  # [B, L] no trace across an episode end
        out = torch.empty_like(r)
        g = tot_next[:, -1]
        for t in reversed(range(r.shape[1])):
            mix = tot_next[:, t] if t == r.shape[1] - 1 else (1 - lam[:, t]) * tot_next[:, t] + lam[:, t] * g
            g = r[:, t] + cfg.gamma * cont[:, t] * mix
            out[:, t] = g
        return out

    def _check_env(self, env: TensorVecEnv) -> None:
        check_env_dims(self.dims, env)

    # ---- save / load (SavedLearner) -----------------------------------------------------------
    def _saved_extra(self) -> dict[str, Any]:
        return {"env_steps": self.env_steps, "epsilon": self.epsilon}

    def _restore(self, meta: dict[str, Any]) -> None:
        self.target_qnet.load_state_dict(self.qnet.state_dict())
        self.target_mixer.load_state_dict(self.mixer.state_dict())
        self.env_steps, self.epsilon = int(meta.get("env_steps", 0)), float(meta.get("epsilon", self.cfg.eps_end))
