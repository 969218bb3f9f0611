"""How the reward and episode-end heads turn raw outputs into predictions, and their losses.

Why not one squared error on the reward: on SMAX the +1 win bonus carries most of a return's
variance but sits on ~0.4% of rows, so a regression head trained with the rest of the model
averages it away (it gave a won last step 0.50 of 1.07 one step into imagination) and an
H-step return predictor that never sees the win scores below a constant. Two remedies, both
measured by ``benchmarks/fidelity.py``:

- **outcome** (``WorldModelConfig.outcome``): the end of an episode is a three-way outcome per
  step, continue / win / end without a win, trained with cross-entropy from the stored
  ``won``; the reward head learns only the dense part (the reward minus a learned win bonus
  ``b`` on won last steps) and a step's reward is ``dense + b · P(win)``. A rare class in a
  cross-entropy keeps its gradient where a rare value in a squared error does not.
- **two-hot reward** (``WorldModelConfig.reward_bins``): the reward as a distribution over
  bins in symlog space (DreamerV3), its expectation the prediction, zero-initialised output.

Shapes: [...] any leading axes (B, T, N or E, N); K bins.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .networks import symexp, symlog

CONTINUE, WIN, LOSS = 0, 1, 2


def end_outputs(outcome: bool) -> int:
    """Raw outputs of the end head: 3 outcome logits, or one continuation logit."""
    return 3 if outcome else 1


def end_probs(raw: Tensor, outcome: bool) -> tuple[Tensor, Tensor]:
    """(P(continue), P(win now)) per agent [...] from the end head's raw output [..., 1 or 3]."""
    if not outcome:
        return torch.sigmoid(raw.squeeze(-1)), raw.new_zeros(raw.shape[:-1])
    p = torch.softmax(raw, -1)  # [..., 3]
    return p[..., CONTINUE], p[..., WIN]


def end_loss(raw: Tensor, terminated: Tensor, won_now: Tensor, outcome: bool) -> Tensor:
    """Per-row loss [...] of the end head: BCE on continuation, or CE on the 3-way outcome.
    ``terminated`` / ``won_now`` [...] bool (``won_now``: the episode was won at this row)."""
    if not outcome:
        return F.binary_cross_entropy_with_logits(raw.squeeze(-1), (~terminated).float(), reduction="none")
    target = torch.where(terminated, torch.where(won_now, WIN, LOSS), CONTINUE)  # [...]
    return F.cross_entropy(raw.flatten(0, -2), target.flatten(), reduction="none").view(target.shape)


class RewardDecoder(nn.Module):
    """Reward head outputs → reward, for a squared-error head (``bins == 0``) or a two-hot one."""

    def __init__(self, bins: int, low: float = -5.0, high: float = 5.0):
        super().__init__()
        self.bins = bins
        # symlog(5) ~ 1.79; SMAX rewards lie in [0, 2]. The bins are a buffer, not saved: they
        # follow from the config, so old checkpoints load unchanged.
        self.register_buffer("centres", torch.linspace(low, high, max(bins, 2)), persistent=False)  # [K]

    @property
    def outputs(self) -> int:
        """Raw outputs the head needs: one, or one per bin."""
        return self.bins if self.bins else 1

    def zero_init(self, head: nn.Sequential) -> None:
        """A two-hot head starts at a uniform distribution (DreamerV3): no large early rewards."""
        if self.bins:
            nn.init.zeros_(head[-1].weight)
            nn.init.zeros_(head[-1].bias)

    def decode(self, raw: Tensor) -> Tensor:
        """Raw outputs [..., 1 or K] → reward [...] (symexp of the symlog prediction / expectation)."""
        if not self.bins:
            return symexp(raw.squeeze(-1))
        return symexp((torch.softmax(raw, -1) * self.centres).sum(-1))

    def loss(self, raw: Tensor, target: Tensor) -> Tensor:
        """Per-row loss [...] against rewards ``target`` [...]."""
        y = symlog(target)
        if not self.bins:
            return (raw.squeeze(-1) - y) ** 2
        c = self.centres
        y = y.clamp(float(c[0]), float(c[-1]))
        hi = torch.searchsorted(c, y.contiguous()).clamp(1, len(c) - 1)  # [...] upper bin
        lo = hi - 1
        w_hi = (y - c[lo]) / (c[hi] - c[lo])  # [...] share of the upper bin
        logp = torch.log_softmax(raw, -1)  # [..., K]
        return -((1 - w_hi) * logp.gather(-1, lo.unsqueeze(-1)).squeeze(-1)
                 + w_hi * logp.gather(-1, hi.unsqueeze(-1)).squeeze(-1))
