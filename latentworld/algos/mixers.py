"""Value-decomposition mixers: per-agent utilities Q_i → team value Q_tot.

All take the same inputs so the learner can swap them: ``q`` [B, N] the chosen actions'
utilities, ``v`` [B, N] each agent's greedy (max available) utility, ``state`` [B, S] and
``actions`` [B, N]. VDN and QMIX ignore ``v`` and ``actions``; QPLEX needs them.

Each is monotonic in every Q_i (∂Q_tot/∂Q_i ≥ 0), so the agents' greedy actions are also
greedy for Q_tot and decentralized execution is consistent with centralized training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as fnn
from torch import Tensor, nn

MIXERS = ("vdn", "qmix", "qplex")


class VDNMixer(nn.Module):
    """Q_tot = Σ_i Q_i."""

    def forward(self, q: Tensor, v: Tensor, state: Tensor, actions: Tensor) -> Tensor:
        return q.sum(-1)  # [B]


class QMixMixer(nn.Module):
    """Two-layer mixing network whose weights are generated from the state by hypernetworks;
    the weights pass through abs() so Q_tot is monotonic in each Q_i."""

    def __init__(self, n_agents: int, state_dim: int, embed: int = 32, hyper_hidden: int = 64):
        super().__init__()
        self.n_agents, self.embed = n_agents, embed
        # States hold raw coordinates (~30 in SMAX): unnormalised, they blow up the mixing weights.
        self.state_norm = nn.LayerNorm(state_dim)
        self.hyper_w1 = nn.Sequential(nn.Linear(state_dim, hyper_hidden), nn.ReLU(),
                                      nn.Linear(hyper_hidden, n_agents * embed))
        self.hyper_b1 = nn.Linear(state_dim, embed)
        self.hyper_w2 = nn.Sequential(nn.Linear(state_dim, hyper_hidden), nn.ReLU(), nn.Linear(hyper_hidden, embed))
        self.hyper_b2 = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, 1))

    def forward(self, q: Tensor, v: Tensor, state: Tensor, actions: Tensor) -> Tensor:
        B, state = q.shape[0], self.state_norm(state)
        w1 = self.hyper_w1(state).abs().view(B, self.n_agents, self.embed)  # [B, N, embed] ≥ 0
        b1 = self.hyper_b1(state).unsqueeze(1)  # [B, 1, embed]
        hidden = fnn.elu(torch.bmm(q.unsqueeze(1), w1) + b1)  # [B, 1, embed]; elu is increasing
        w2 = self.hyper_w2(state).abs().unsqueeze(-1)  # [B, embed, 1] ≥ 0
        return (torch.bmm(hidden, w2).view(B) + self.hyper_b2(state).view(B))  # [B]


class QPlexMixer(nn.Module):
    """QPLEX's duplex dueling: Q_tot = Σ_i V_i' + Σ_i λ_i(s, a) A_i' where the per-agent
    V/A are transformed with state-conditioned weights w_i(s) > 0 and the advantage weights
    λ_i ≥ 0 come from multi-head attention between the state and each agent's action."""

    def __init__(self, n_agents: int, n_actions: int, state_dim: int, embed: int = 32, heads: int = 4):
        super().__init__()
        self.n_agents, self.n_actions, self.heads, self.embed = n_agents, n_actions, heads, embed
        self.state_norm = nn.LayerNorm(state_dim)  # see QMixMixer
        self.hyper_w = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, n_agents))
        self.hyper_b = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, n_agents))
        self.query = nn.Linear(state_dim, heads * embed)  # state → one query per head
        self.key = nn.Linear(n_actions + n_agents, heads * embed)  # (own action, agent id) → keys
        self.head_scale = nn.Linear(state_dim, heads)  # |·| ≥ 0: how much each head counts

    def advantage_weights(self, state: Tensor, actions: Tensor) -> Tensor:
        """λ [B, N] ≥ 0 for the joint action ``actions`` [B, N] in ``state`` [B, S]."""
        B, N, H, D = state.shape[0], self.n_agents, self.heads, self.embed
        state = self.state_norm(state)
        ids = torch.eye(N, device=state.device).expand(B, N, N)
        keys = self.key(torch.cat([fnn.one_hot(actions, self.n_actions).float(), ids], -1))
        keys = keys.view(B, N, H, D)  # [B, N, heads, D]
        query = self.query(state).view(B, 1, H, D)  # [B, 1, heads, D]
        score = torch.sigmoid((keys * query).sum(-1) / D**0.5)  # [B, N, heads] in (0, 1)
        scale = self.head_scale(state).abs().unsqueeze(1)  # [B, 1, heads] ≥ 0
        return (score * scale).sum(-1) + 1e-10  # [B, N]: strictly positive keeps IGM

    def forward(self, q: Tensor, v: Tensor, state: Tensor, actions: Tensor) -> Tensor:
        lam = self.advantage_weights(state, actions)  # [B, N]
        state = self.state_norm(state)
        w = self.hyper_w(state).abs() + 1e-10  # [B, N] > 0
        b = self.hyper_b(state)  # [B, N]
        v_t = w * v + b  # [B, N] transformed values
        a_t = w * (q - v)  # [B, N] transformed advantages, ≤ 0 for available actions
        return v_t.sum(-1) + (lam * a_t).sum(-1)  # [B]


def make_mixer(name: str, n_agents: int, n_actions: int, state_dim: int, embed: int,
               hyper_hidden: int, heads: int) -> nn.Module:
    """The mixer named ``name`` (vdn, qmix or qplex) for ``n_agents`` agents and a ``state_dim`` state."""
    if name == "vdn":
        return VDNMixer()
    if name == "qmix":
        return QMixMixer(n_agents, state_dim, embed, hyper_hidden)
    if name == "qplex":
        return QPlexMixer(n_agents, n_actions, state_dim, embed, heads)
    raise ValueError(f"unknown mixer {name!r}; choose one of {MIXERS}")
