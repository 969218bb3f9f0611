"""MF-AC (Yang et al. 2018): a decentralized actor trained on the mean-field critic of MF-Q.

The actor π(a | o^j) reads only agent j's own observation (with its previous action and
agent id), so it deploys decentralized with no view of the neighbours. The critic is MF-Q's
Q(o^j, a^j, ā^j) (``meanfield.py``), bootstrapped with the actor's own π at the next step.

The critic learns from the whole replay; the actor only from the latest rollout (E·rollout_len
env steps, on-policy as in the paper): −log π(a | o) (Q(o, a, ā) − V(o, ā)) with the baseline
V = Σ_a π(a | o) Q(o, a, ā), plus an entropy bonus. Only Q at actions actually taken enters
the advantage, so the actor does not chase the critic's guesses about untried actions (an
all-actions gradient on replayed data learns, then collapses).
B = batch of env steps, N = agents, A = actions.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .meanfield import MeanFieldLearner, MFNet
from .policy import check_finite, masked_logits, sample_masked


class MFAC(MeanFieldLearner):
    """Mean-field actor-critic; satisfies :class:`~latentworld.algos.policy.Policy`."""

    algo = "mfac"
    networks = ("qnet", "actor")

    def _build_extra(self) -> None:
        self.actor = MFNet(self.base_dim, self.cfg.hidden, self.n_actions).to(self.device)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=self.cfg.actor_lr)

    def _pi(self, base: Tensor, mask: Tensor) -> Tensor:
        """π(a | o) over available actions: base [..., N, base_dim], mask [..., N, A] → [..., N, A]."""
        return torch.softmax(masked_logits(self.actor(base), mask), -1)

    def _behaviour(self, obs: Tensor, prev: Tensor, mask: Tensor, part: Tensor, deterministic: bool) -> Tensor:
        return sample_masked(self.actor(self._base(obs, prev)), mask, deterministic, generator=self.gen)

    def _next_policy(self, next_base: Tensor, abar: Tensor, next_mask: Tensor) -> Tensor:
        return self._pi(next_base, next_mask)

    def _after_critic(self, it: int) -> None:
        cfg = self.cfg
        b = self.replay.sample(cfg.batch_size, self.gen, recent=self._rollout_steps)  # on-policy data
        base = self._base(b["obs"], b["prev"])  # [B, N, base_dim]
        logits = masked_logits(self.actor(base), b["mask"])  # [B, N, A]
        logp = torch.log_softmax(logits, -1)
        pi = logp.exp()
        with torch.no_grad():
            q = self._q(self.qnet, base, b["abar"])  # [B, N, A]
            v = (pi * q.masked_fill(~b["mask"], 0.0)).sum(-1)  # [B, N] baseline V(o, ā)
            adv = q.gather(-1, b["action"].unsqueeze(-1)).squeeze(-1) - v  # [B, N]
        logp_a = logp.gather(-1, b["action"].unsqueeze(-1)).squeeze(-1)  # [B, N]
        entropy = -(pi * logp).sum(-1)  # [B, N] masked actions: p = 0, log p finite
        w = b["alive"].float()
        loss = -((logp_a * adv + cfg.entropy_coef * entropy) * w).sum() / w.sum().clamp(min=1.0)
        check_finite(loss, "actor loss", it)
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.max_grad_norm)
        self.actor_opt.step()
