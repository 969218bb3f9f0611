"""The bi-level multi-agent world model of MABL (arXiv 2304.06011), parameters shared by all agents.

For agent i (B = batch, T = time, N = agents, D/S/A = obs/state/action sizes, Z = latent
length, F = deter + Z):

- agent recurrence  h^a_t = GRU_a(h^a_{t-1}, [z^a_{t-1}, own action a^i_{t-1}])
- agent posterior   q(z^a_t | o^i_t, h^a_t)                 (local data only)
- global recurrence h^g_t = GRU_g(h^g_{t-1}, [z^g_{t-1}, joint action a_{t-1}, agent id])
- global posterior  q(z^g_t | s_t, z^a_t, h^g_t);  global prior p(z^g_t | h^g_t)
- agent prior       p(z^a_t | h^a_t, z^g_t)                 (top-down)
- disagreement ensemble (``ensemble`` heads): each predicts the embedding of o^i_t from
  [h^a_t, z^g_t], the prior's inputs (inputs and target detached); their variance is the
  model's uncertainty about the step (:meth:`WorldModel.disagreement`);
- heads: obs from (h^a, z^a); reward, continuation, available actions and the action
  decoder from (h^a, z^a, h^g, z^g) (agent features only when ``single_level``; the reward
  from agent features too when ``reward_global`` is off).

The reward head works in symlog space (robust to the scale of other environments' rewards);
with ``outcome`` the end head predicts continue / win / end without a win and the reward
carries a learned win bonus times P(win) (:mod:`latentworld.model.heads` says why).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentworld.core.spec import EnvSpec

from .config import WorldModelConfig
from .heads import RewardDecoder, end_loss, end_outputs, end_probs
from .networks import LatentSpace, mlp

_FLOAT = ("obs", "state", "rewards")
BONUS_RATE = 0.05  # step size of the win bonus's running mean (~20 batches with wins to settle)
_BOOL = ("alive", "has_action", "terminated", "truncated", "valid", "is_first")


def batch_to_torch(batch: dict[str, Any], device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """The sampler's dict of numpy arrays as torch tensors on ``device`` (tensors pass through)."""
    out = {}
    for k, v in batch.items():
        if not isinstance(v, (np.ndarray, Tensor)):
            continue
        t = torch.as_tensor(v, device=device)
        out[k] = t.float() if k in _FLOAT else t.bool() if k in _BOOL else t.long() if k == "actions" else t
    return out


@dataclass
class ModelState:
    """Latent state of every agent; leading axes [B, N] (or [B, T, N] for a sequence)."""

    h_a: Tensor  # [..., N, deter] agent-level GRU state
    z_a: Tensor  # [..., N, Z] agent-level latent
    h_g: Tensor  # [..., N, deter] global-level GRU state (zeros when single_level)
    z_g: Tensor  # [..., N, Z] global-level latent (zeros when single_level)

    def map(self, fn: Callable[[Tensor], Tensor]) -> ModelState:
        """A state with ``fn`` applied to each of its four tensors."""
        return ModelState(*(fn(getattr(self, f.name)) for f in fields(self)))

    def agent_features(self) -> Tensor:
        """[h^a, z^a] per agent: [..., N, deter + Z]."""
        return torch.cat([self.h_a, self.z_a], -1)  # [..., N, deter + Z]

    def global_features(self) -> Tensor:
        """[h^g, z^g] per agent: [..., N, deter + Z]."""
        return torch.cat([self.h_g, self.z_g], -1)  # [..., N, deter + Z]

    @classmethod
    def zeros(cls, batch: int, n_agents: int, deter: int, latent: int,
              device: str | torch.device | None = None) -> ModelState:
        h = torch.zeros(batch, n_agents, deter, device=device)  # [B, N, deter]
        z = torch.zeros(batch, n_agents, latent, device=device)  # [B, N, Z]
        return cls(h, z, h.clone(), z.clone())

    def where(self, mask: Tensor, other: ModelState) -> ModelState:
        """``other`` where ``mask`` ([B] or [B, N] bool) is True, else this state."""
        def pick(a: Tensor, b: Tensor) -> Tensor:
            return torch.where(mask.reshape(mask.shape + (1,) * (a.dim() - mask.dim())), b, a)
        return ModelState(*(pick(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)))

    def detach(self) -> ModelState:
        """The state cut from the autograd graph."""
        return self.map(Tensor.detach)

    def to(self, device: str | torch.device) -> ModelState:
        """The state on ``device``."""
        return self.map(lambda t: t.to(device))

    def index(self, idx: Any) -> ModelState:
        """Rows ``idx`` of the first (batch) axis."""
        return self.map(lambda t: t[idx])

    def at_time(self, t: int) -> ModelState:
        """[B, T, N, ...] -> [B, N, ...] at time index ``t``."""
        return self.map(lambda x: x[:, t])

    def flatten_time(self, times: Sequence[int] | np.ndarray | None = None) -> ModelState:
        """[B, T, N, ...] -> [B * len(times), N, ...] (batch-major), all times if None."""
        sel = slice(None) if times is None else torch.as_tensor(np.asarray(times), device=self.h_a.device)
        return self.map(lambda x: x[:, sel].flatten(0, 1))

    @classmethod
    def stack(cls, states: Sequence[ModelState], dim: int = 1) -> ModelState:
        return cls(*(torch.stack([getattr(s, f.name) for s in states], dim) for f in fields(cls)))

    @classmethod
    def cat(cls, states: Sequence[ModelState]) -> ModelState:
        return cls(*(torch.cat([getattr(s, f.name) for s in states]) for f in fields(cls)))

    def to_tensors(self) -> dict[str, Tensor]:
        """Plain tensors (for safetensors): keys h_a, z_a, h_g, z_g."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_tensors(cls, d: dict[str, Tensor], prefix: str = "") -> ModelState:
        return cls(*(d[prefix + f.name] for f in fields(cls)))


class WorldModel(nn.Module):
    """MABL's bi-level world model; see the module docstring for the structure."""

    def __init__(self, spec: EnvSpec | dict[str, Any], cfg: WorldModelConfig | None = None):
        super().__init__()
        self.spec = EnvSpec.from_dict(spec) if isinstance(spec, dict) else spec
        self.cfg = c = (cfg or WorldModelConfig()).for_env(self.spec.env_id)  # reward_scale filled in
        N, D, S, A = self.spec.n_agents, self.spec.obs_dim, self.spec.state_dim, self.spec.n_actions
        self.N, self.A, H = N, A, c.hidden
        self.latent = LatentSpace(c.latent, c.stoch, c.classes, c.unimix, c.min_std)
        Z, P, Fa = c.latent_size, self.latent.n_params, c.feature_size
        self.single = c.single_level
        self.obs_enc = mlp(D, c.embed, H, c.layers)
        self.a_in = nn.Sequential(nn.Linear(Z + A, H), nn.LayerNorm(H), nn.SiLU())
        self.a_gru = nn.GRUCell(H, c.deter)
        self.a_post = mlp(c.deter + c.embed, P, H, 1)
        if c.obs_fusion:  # tokens [h^a, emb(o)] of all agents attend to each other before a_post
            self.fuse_in = nn.Linear(c.deter + c.embed, c.embed)
            self.fuse = nn.TransformerEncoderLayer(c.embed, c.fusion_heads, 2 * c.embed, dropout=0.0,
                                                   batch_first=True, norm_first=True)
        self.a_prior = mlp(c.deter + (0 if self.single else Z), P, H, 1)
        if not self.single:
            self.state_enc = mlp(S, c.embed, H, c.layers)
            self.g_in = nn.Sequential(nn.Linear(Z + N * A + N, H), nn.LayerNorm(H), nn.SiLU())
            self.g_gru = nn.GRUCell(H, c.deter)
            self.g_post = mlp(c.deter + Z + c.embed, P, H, 1)
            self.g_prior = mlp(c.deter, P, H, 1)
        Ff = Fa if self.single else 2 * Fa
        self.obs_head = mlp(Fa, D, H, c.layers)
        self.reward_full = c.reward_global and not self.single
        self.reward_dec = RewardDecoder(c.reward_bins)
        self.reward_head = mlp(Ff if self.reward_full else Fa, self.reward_dec.outputs, H, c.layers)
        self.reward_dec.zero_init(self.reward_head)
        self.outcome = c.outcome
        self.cont_head = mlp(Ff, end_outputs(c.outcome), H, c.layers)  # continuation, or the 3-way outcome
        # The win bonus paid with P(win): a running mean of what won last steps pay beyond the dense
        # prediction, updated by each training batch (Adam moves a scalar by ~lr per step: from 0
        # to SMAX's 1 would take thousands of steps). Stays 0 where no episode is won.
        if c.outcome:
            self.register_buffer("win_bonus", torch.zeros(()))
        else:
            self.win_bonus = None
        self.avail_head = mlp(Ff, A, H, c.layers)
        self.action_head = mlp(Ff, A, H, c.layers)
        self.ens = nn.ModuleList(mlp(c.deter + (0 if self.single else Z), c.embed, H, 1)
                                 for _ in range(c.ensemble))
        self.register_buffer("agent_ids", torch.eye(N), persistent=False)  # [N, N]

    # ---------------------------------------------------------------- small helpers
    def initial(self, batch_size: int) -> ModelState:
        """The zero state every episode starts from: [B, N, ...]."""
        return ModelState.zeros(batch_size, self.N, self.cfg.deter, self.cfg.latent_size,
                                self.agent_ids.device)

    def _onehot(self, a: Tensor) -> Tensor:
        """[...] int -> [..., A] float; a negative (or out-of-range) action gives all zeros."""
        return (a.unsqueeze(-1) == torch.arange(self.A, device=a.device)).float()

    def _draw(self, stats: Tensor, sample: bool, generator: torch.Generator | None,
              uniform: Tensor | None = None) -> Tensor:
        return self.latent.sample(stats, generator, uniform) if sample else self.latent.mode(stats)

    @staticmethod
    def _gru(cell: nn.GRUCell, x: Tensor, h: Tensor) -> Tensor:
        return cell(x.reshape(-1, x.shape[-1]), h.reshape(-1, h.shape[-1])).view(h.shape)

    def _agent_recur(self, h_a: Tensor, z_a: Tensor, own: Tensor) -> Tensor:
        return self._gru(self.a_gru, self.a_in(torch.cat([z_a, own], -1)), h_a)  # [..., N, deter]

    def _global_recur(self, h_g: Tensor, z_g: Tensor, own: Tensor) -> Tensor:
        lead = z_g.shape[:-1]  # (..., N)
        joint = own.flatten(-2).unsqueeze(-2).expand(*lead, self.N * self.A)  # [..., N, N*A]
        ids = self.agent_ids.expand(*lead, self.N)  # [..., N, N]
        return self._gru(self.g_gru, self.g_in(torch.cat([z_g, joint, ids], -1)), h_g)  # [..., N, deter]

    def _agent_prior(self, h_a: Tensor, z_g: Tensor) -> Tensor:
        x = h_a if self.single else torch.cat([h_a, z_g], -1)
        return self.latent.stats(self.a_prior(x))  # stats of p(z^a | h^a, z^g)

    def _global_post(self, h_g: Tensor, z_a: Tensor, emb_s: Tensor) -> Tensor:
        emb_s = emb_s.unsqueeze(-2).expand(*z_a.shape[:-1], emb_s.shape[-1])  # [..., N, E]
        return self.latent.stats(self.g_post(torch.cat([h_g, z_a, emb_s], -1)))

    def avail_mask(self, probs: Tensor) -> Tensor:
        """Predicted availability [..., A] -> bool mask, never all-False (falls back to no-op)."""
        mask = probs > 0.5  # [..., A]
        mask[..., self.spec.noop_action] |= ~mask.any(-1)
        return mask

    # ---------------------------------------------------------------- posterior path
    def check_decentralized(self) -> None:
        """Raise if an agent cannot encode its own observations alone (``obs_fusion``)."""
        if self.cfg.obs_fusion:
            raise ValueError("this world model fuses all agents' observations at the posterior (obs_fusion): an "
                             "agent cannot encode its own observations alone, so a policy on latent features "
                             "cannot be deployed decentralized; train the policy on decoded observations "
                             "(obs='decoded', policy_obs='decoded'), which are the real ones at execution")

    def _agent_post(self, h_a: Tensor, emb_o: Tensor) -> Tensor:
        """Stats of q(z^a | ...) from h_a [..., N, deter] and emb_o [..., N, E]: each agent's own
        data, or with ``obs_fusion`` every agent's through one attention layer over agents."""
        if self.cfg.obs_fusion:
            lead = h_a.shape[:-2]
            tok = self.fuse_in(torch.cat([h_a, emb_o], -1)).reshape(-1, self.N, emb_o.shape[-1])  # [B', N, E]
            emb_o = self.fuse(tok).reshape(*lead, self.N, -1)  # [..., N, E]
        return self.latent.stats(self.a_post(torch.cat([h_a, emb_o], -1)))

    def observe_agent(self, h_a: Tensor, z_a: Tensor, obs_i: Tensor, prev_action_i: Tensor | None,
                      sample: bool = True, generator: torch.Generator | None = None
                      ) -> tuple[Tensor, Tensor, Tensor]:
        """Agent-level posterior step from local data only: (h^a_t, z^a_t, posterior stats).

        Any leading shape: h_a [..., deter], z_a [..., Z], obs_i [..., D], prev_action_i [...]
        (negative or None: no previous action, as at an episode's first row). Refused for a
        model with ``obs_fusion`` (:meth:`check_decentralized`).
        """
        self.check_decentralized()
        own = self._onehot(prev_action_i) if prev_action_i is not None else h_a.new_zeros(*h_a.shape[:-1], self.A)
        h = self._agent_recur(h_a, z_a, own)  # [..., deter]
        post = self.latent.stats(self.a_post(torch.cat([h, self.obs_enc(obs_i)], -1)))
        return h, self._draw(post, sample, generator), post

    def encode_step(self, state: ModelState, obs: Tensor, prev_actions: Tensor | None,
                    state_vec: Tensor | None = None, sample: bool = True,
                    generator: torch.Generator | None = None) -> ModelState:
        """One posterior step: obs [B, N, D], prev_actions [B, N] (None at the first row),
        state_vec [B, S]; without a global state the global latent comes from its prior."""
        if self.cfg.obs_fusion:  # all agents' observations together: [B, N, ...]
            own = self._onehot(prev_actions) if prev_actions is not None else obs.new_zeros(*obs.shape[:-1], self.A)
            h_a = self._agent_recur(state.h_a, state.z_a, own)
            z_a = self._draw(self._agent_post(h_a, self.obs_enc(obs)), sample, generator)
        else:
            h_a, z_a, _ = self.observe_agent(state.h_a, state.z_a, obs, prev_actions, sample, generator)
        if self.single:
            return ModelState(h_a, z_a, state.h_g, state.z_g)
        prev = prev_actions if prev_actions is not None else torch.full(obs.shape[:-1], -1, device=obs.device)
        h_g = self._global_recur(state.h_g, state.z_g, self._onehot(prev))  # [B, N, deter]
        if state_vec is None:
            stats = self.latent.stats(self.g_prior(h_g))
        else:
            stats = self._global_post(h_g, z_a, self.state_enc(state_vec))
        return ModelState(h_a, z_a, h_g, self._draw(stats, sample, generator))

    def _inputs(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Torch batch with padded rows zeroed (so NaN or garbage there cannot leak)."""
        b = batch_to_torch(batch, self.agent_ids.device)
        v = b["valid"]  # [B, T]
        out = {"valid": v, "is_first": b["is_first"] & v}
        out["obs"] = torch.where(v[..., None, None], b["obs"], 0.0)  # [B, T, N, D]
        out["state"] = torch.where(v[..., None], b["state"], 0.0)  # [B, T, S]
        out["actions"] = torch.where(v[..., None], b["actions"], self.spec.noop_action)  # [B, T, N]
        for k in ("action_mask", "rewards", "alive"):
            x = b[k]
            out[k] = torch.where(v.view(v.shape + (1,) * (x.dim() - 2)), x, torch.zeros_like(x))
        for k in ("has_action", "terminated"):
            out[k] = b[k] & v  # [B, T]
        won = b.get("won")
        out["won"] = won.bool() if won is not None else torch.zeros_like(v[:, 0])  # [B]
        return out

    def observe(self, batch: dict[str, Any], sample: bool = True, generator: torch.Generator | None = None
                ) -> tuple[ModelState, dict[str, Tensor]]:
        """Posterior states [B, T, N, ...] and stats {post_a, prior_a, post_g, prior_g} [B, T, N, ...]
        with the observation embeddings ``embed`` [B, T, N, E] that the posterior read."""
        b = self._inputs(batch)
        B, T = b["valid"].shape
        emb_o = self.obs_enc(b["obs"])  # [B, T, N, E]
        prev = torch.cat([torch.full_like(b["actions"][:, :1], -1), b["actions"][:, :-1]], 1)  # [B, T, N]
        prev = torch.where(b["is_first"][..., None], -1, prev)
        own = self._onehot(prev)  # [B, T, N, A]
        emb_s = None if self.single else self.state_enc(b["state"])  # [B, T, E]
        zero = self.initial(B)
        st, states, posts_a, posts_g = zero, [], [], []
        resets = b["is_first"].any(0).tolist()  # [T]: some sequence starts an episode at row t
        for t in range(T):
            if t > 0 and resets[t]:
                st = st.where(b["is_first"][:, t], zero)
            h_a = self._agent_recur(st.h_a, st.z_a, own[:, t])  # [B, N, deter]
            post_a = self._agent_post(h_a, emb_o[:, t])  # [B, N, ...]
            z_a = self._draw(post_a, sample, generator)  # [B, N, Z]
            h_g, z_g = st.h_g, st.z_g
            if not self.single:
                h_g = self._global_recur(st.h_g, st.z_g, own[:, t])  # [B, N, deter]
                post_g = self._global_post(h_g, z_a, emb_s[:, t])  # [B, N, ...]
                z_g = self._draw(post_g, sample, generator)  # [B, N, Z]
                posts_g.append(post_g)
            st = ModelState(h_a, z_a, h_g, z_g)
            states.append(st)
            posts_a.append(post_a)
        seq = ModelState.stack(states, 1)  # [B, T, N, ...]
        stats = {"post_a": torch.stack(posts_a, 1), "prior_a": self._agent_prior(seq.h_a, seq.z_g),
                 "embed": emb_o}
        if not self.single:
            stats["post_g"] = torch.stack(posts_g, 1)  # [B, T, N, ...]
            stats["prior_g"] = self.latent.stats(self.g_prior(seq.h_g))  # [B, T, N, ...]
        return seq, stats

    def _ens_predict(self, h_a: Tensor, z_g: Tensor) -> Tensor:
        x = h_a if self.single else torch.cat([h_a, z_g], -1)  # [..., N, deter (+Z)]
        return torch.stack([head(x) for head in self.ens])  # [K, ..., N, E]

    def disagreement(self, state: ModelState) -> Tensor:
        """Uncertainty of the step that reached ``state`` [..., N, ...]: the variance across the
        ensemble of its predicted observation embeddings, mean over embedding dims → [..., N]
        (zeros without an ensemble). Small on transitions like those of the real data."""
        if not len(self.ens):
            return state.h_a.new_zeros(state.h_a.shape[:-1])
        return self._ens_predict(state.h_a, state.z_g).var(0).mean(-1)

    # ---------------------------------------------------------------- heads and loss
    def _full_features(self, state: ModelState) -> Tensor:
        fa = state.agent_features()
        return fa if self.single else torch.cat([fa, state.global_features()], -1)  # [..., N, F or 2F]

    def predict_heads(self, state: ModelState, obs: bool = True) -> dict[str, Tensor]:
        """obs [..., N, D], reward [..., N] (with the win bonus times P(win) when ``outcome``),
        cont [...] and win [...] (P(continue), P(win now): means over agents of cont_agents /
        win_agents [..., N]), avail_probs [..., N, A]."""
        fa, ff = state.agent_features(), self._full_features(state)
        cont, win = end_probs(self.cont_head(ff), self.outcome)  # [..., N] each agent's prediction
        reward = self.reward_dec.decode(self.reward_head(ff if self.reward_full else fa))  # [..., N]
        if self.outcome:
            reward = reward + self.win_bonus * win.mean(-1, keepdim=True)
        out = {
            "reward": reward,
            "cont": cont.mean(-1),  # [...]
            "cont_agents": cont,
            "win": win.mean(-1),  # [...]
            "win_agents": win,
            "avail_probs": torch.sigmoid(self.avail_head(ff)),  # [..., N, A]
        }
        if obs:
            out["obs"] = self.obs_head(fa)  # [..., N, D]
        return out

    def _kl(self, post: Tensor, prior: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        c = self.cfg
        lhs = self.latent.kl(post.detach(), prior)  # [B, T, N] trains the prior
        rhs = self.latent.kl(post, prior.detach())  # [B, T, N] regularises the posterior
        loss = c.kl_balance * lhs.clamp(min=c.kl_free) + (1 - c.kl_balance) * rhs.clamp(min=c.kl_free)
        return _mmean(loss, mask), _mmean(lhs.detach(), mask)

    def loss(self, batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        """Total world-model loss and its terms (floats); padding and dead agents are masked."""
        c, b = self.cfg, self._inputs(batch)
        states, st = self.observe(b)
        fa, ff = states.agent_features(), self._full_features(states)  # [B, T, N, F], [B, T, N, F']
        N = self.N
        valid = b["valid"][..., None].expand(-1, -1, N)  # [B, T, N]
        alive = valid & b["alive"]  # [B, T, N]
        acted = alive & b["has_action"][..., None]  # [B, T, N]
        obs_l = ((self.obs_head(fa) - b["obs"]) ** 2).sum(-1)  # [B, T, N]
        rew_raw = self.reward_head(ff if self.reward_full else fa)  # [B, T, N, 1 or K]
        term = b["terminated"][..., None].expand(-1, -1, N)  # [B, T, N]
        won_now = term & b["won"][:, None, None]  # [B, T, N]: the episode was won at this row
        target = b["rewards"]  # [B, T, N]
        if self.outcome:  # the dense reward: the learned bonus comes with P(win) instead
            target = target - self.win_bonus.detach() * won_now.float()
        rew_l = self.reward_dec.loss(rew_raw, target)  # [B, T, N]
        cont_l = end_loss(self.cont_head(ff), term, won_now, self.outcome)  # [B, T, N]
        avail_l = F.binary_cross_entropy_with_logits(
            self.avail_head(ff), b["action_mask"].float(), reduction="none").sum(-1)  # [B, T, N]
        logits = self.action_head(ff)  # [B, T, N, A]
        act_l = F.cross_entropy(logits.flatten(0, -2), b["actions"].clamp(0, self.A - 1).flatten(),
                                reduction="none").view(valid.shape)  # [B, T, N]
        kl_a, kl_a_raw = self._kl(st["post_a"], st["prior_a"], valid)
        terms = {
            "obs_loss": _mmean(obs_l, alive), "reward_loss": _mmean(rew_l, valid),
            "cont_loss": _mmean(cont_l, valid), "avail_loss": _mmean(avail_l, valid),
            "action_loss": _mmean(act_l, acted), "kl_agent": kl_a_raw,
        }
        total = (c.obs_scale * terms["obs_loss"] + c.reward_scale * terms["reward_loss"]
                 + c.cont_scale * terms["cont_loss"] + c.avail_scale * terms["avail_loss"]
                 + c.action_scale * terms["action_loss"] + c.kl_scale_agent * kl_a)
        if self.outcome and self.training and bool(won_now.any()):  # the bonus: what won last steps
            with torch.no_grad():                                     # pay beyond the dense part
                extra = _mmean(b["rewards"] - self.reward_dec.decode(rew_raw), valid & won_now)
                self.win_bonus += BONUS_RATE * (extra - self.win_bonus)
        if not self.single:
            kl_g, terms["kl_global"] = self._kl(st["post_g"], st["prior_g"], valid)
            total = total + c.kl_scale_global * kl_g
        if len(self.ens):
            k = c.ensemble_every  # rows t = off, off + k, ...: a random offset per batch
            rows = slice(int(torch.randint(min(k, alive.shape[1]), ())), None, k)
            pred = self._ens_predict(states.h_a[:, rows].detach(), states.z_g[:, rows].detach())  # [K, B, T/k, N, E]
            target = st["embed"][:, rows].detach()  # [B, T/k, N, E]
            terms["ensemble_loss"] = _mmean(((pred - target) ** 2).mean((0, -1)), alive[:, rows])
            total = total + c.ensemble_scale * terms["ensemble_loss"]
        terms = {"loss": total, **terms}
        values = torch.stack([v.detach().float() for v in terms.values()]).tolist()
        return total, dict(zip(terms, values))

    # ---------------------------------------------------------------- imagination
    def step(self, state: ModelState, actions: Tensor, sample: bool = True,
             generator: torch.Generator | None = None, noise: Tensor | None = None
             ) -> tuple[ModelState, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """One imagined step with the priors from ``state`` [B, N, ...] and actions [B, N].

        ``noise`` [B, 2, N, stoch] uniforms in (0, 1), when given, drives the two latent
        draws (global, then agent) instead of ``generator``.

        Returns (next_state, agent_features [B, N, F], global_features [B, N, F],
        reward [B, N] (its expectation: with ``outcome``, the win bonus times P(win)),
        continuation [B] (probability, mean over agents), action_mask [B, N, A], P(win at this
        step) [B] (zeros without ``outcome``)).
        """
        own = self._onehot(actions)  # [B, N, A]
        h_a = self._agent_recur(state.h_a, state.z_a, own)  # [B, N, deter]
        h_g, z_g = state.h_g, state.z_g
        if not self.single:
            h_g = self._global_recur(state.h_g, state.z_g, own)  # [B, N, deter]
            u_g = None if noise is None else noise[:, 0]
            z_g = self._draw(self.latent.stats(self.g_prior(h_g)), sample, generator, u_g)  # [B, N, Z]
        u_a = None if noise is None else noise[:, 1]
        z_a = self._draw(self._agent_prior(h_a, z_g), sample, generator, u_a)  # [B, N, Z]
        nxt = ModelState(h_a, z_a, h_g, z_g)
        heads = self.predict_heads(nxt, obs=False)
        mask = self.avail_mask(heads["avail_probs"])  # [B, N, A]
        return (nxt, nxt.agent_features(), nxt.global_features(), heads["reward"], heads["cont"], mask,
                heads["win"])

    def imagine(self, start: ModelState, policy: Callable[[Tensor, Tensor], Tensor], horizon: int,
                sample: bool = True, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Roll the priors ``horizon`` steps from ``start`` [B, N, ...] with ``policy(features, mask)``.

        Returns agent_features / global_features [B, H+1, N, F], action_mask [B, H+1, N, A],
        actions [B, H, N], reward [B, H, N], cont [B, H].
        """
        mask = self.avail_mask(self.predict_heads(start, obs=False)["avail_probs"])  # [B, N, A]
        fa, fg, masks = [start.agent_features()], [start.global_features()], [mask]
        acts, rews, conts, state = [], [], [], start
        for _ in range(horizon):
            a = policy(fa[-1], masks[-1])  # [B, N]
            state, f_a, f_g, r, cont, mask, _ = self.step(state, a, sample, generator)
            for lst, x in ((fa, f_a), (fg, f_g), (masks, mask), (acts, a), (rews, r), (conts, cont)):
                lst.append(x)
        out = {"agent_features": fa, "global_features": fg, "action_mask": masks,
               "actions": acts, "reward": rews, "cont": conts}
        return {k: torch.stack(v, 1) if v else torch.empty(0) for k, v in out.items()}


def _mmean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` over the True entries of ``mask`` (0 when there are none); NaN-safe."""
    return torch.where(mask, x, 0.0).sum() / mask.sum().clamp(min=1)
