"""Building blocks of the world model: MLPs and the latent distributions (categorical / Gaussian).

A latent distribution is passed around as one tensor of *stats*:

- categorical: log-probabilities (after the uniform mix) shaped [..., stoch, classes];
- gaussian: ``cat([mean, std], -1)`` shaped [..., 2 * stoch].

so that stopping its gradient is just ``stats.detach()``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def mlp(inp: int, out: int, hidden: int, layers: int) -> nn.Sequential:
    """``layers`` x (Linear, LayerNorm, SiLU), then a Linear to ``out`` (no output activation)."""
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(inp if i == 0 else hidden, hidden), nn.LayerNorm(hidden), nn.SiLU()]
    mods.append(nn.Linear(hidden if layers else inp, out))
    return nn.Sequential(*mods)


def symlog(x: Tensor) -> Tensor:
    """sign(x) * log(1 + |x|): compresses large targets (DreamerV3)."""
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: Tensor) -> Tensor:
    """The inverse of :func:`symlog`."""
    return torch.sign(x) * torch.expm1(x.abs())


class LatentSpace:
    """The latent distribution family: turns raw network outputs into stats, samples, KLs."""

    def __init__(self, kind: str, stoch: int, classes: int, unimix: float = 0.01, min_std: float = 0.1):
        self.kind, self.stoch, self.classes = kind, stoch, classes
        self.unimix, self.min_std = unimix, min_std
        self.categorical = kind == "categorical"
        self.size = stoch * classes if self.categorical else stoch  # flat length of z
        self.n_params = stoch * classes if self.categorical else 2 * stoch  # raw outputs needed

    def stats(self, raw: Tensor) -> Tensor:
        """Raw outputs [..., n_params] -> stats ([..., stoch, classes] or [..., 2*stoch])."""
        if not self.categorical:
            mean, std = raw.chunk(2, -1)
            return torch.cat([mean, F.softplus(std) + self.min_std], -1)
        logits = raw.unflatten(-1, (self.stoch, self.classes))  # [..., stoch, classes]
        if self.unimix <= 0:
            return torch.log_softmax(logits, -1)
        probs = torch.softmax(logits, -1) * (1 - self.unimix) + self.unimix / self.classes
        return torch.log(probs)

    def sample(self, stats: Tensor, generator: torch.Generator | None = None,
               uniform: Tensor | None = None) -> Tensor:
        """A reparameterised / straight-through sample, flattened to [..., size].

        ``uniform`` [..., stoch] in (0, 1) replaces the random draw (one number per latent
        variable), so callers can supply their own counter-based noise (the learned envs do,
        to make a batch of envs reproduce single envs exactly).
        """
        if not self.categorical:
            mean, std = stats.chunk(2, -1)
            if uniform is not None:
                noise = torch.special.ndtri(uniform.to(mean.dtype))
            else:
                noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            return mean + std * noise
        # inverse-CDF sampling: one uniform per variable (cheaper than Gumbel noise per class)
        probs = stats.exp()  # [..., stoch, classes]
        if uniform is not None:
            u = uniform.to(stats.dtype).unsqueeze(-1)  # [..., stoch, 1]
        else:
            u = torch.rand(stats.shape[:-1] + (1,), generator=generator, device=stats.device, dtype=stats.dtype)
        idx = (probs.cumsum(-1) < u).sum(-1).clamp(max=self.classes - 1)  # [..., stoch]
        return self._straight_through(idx, probs)

    def mode(self, stats: Tensor) -> Tensor:
        """The most likely latent (one-hot argmax / mean), flattened to [..., size]."""
        if not self.categorical:
            return stats.chunk(2, -1)[0]
        return self._straight_through(stats.argmax(-1), stats.exp())

    def _straight_through(self, idx: Tensor, probs: Tensor) -> Tensor:
        onehot = F.one_hot(idx, self.classes).to(probs.dtype)
        return (onehot + probs - probs.detach()).flatten(-2)  # [..., stoch * classes]

    def kl(self, p: Tensor, q: Tensor) -> Tensor:
        """KL(p || q) between two stats tensors of this family, summed over the latent: [...]."""
        if self.categorical:
            return (p.exp() * (p - q)).sum((-2, -1))
        mp, sp = p.chunk(2, -1)
        mq, sq = q.chunk(2, -1)
        return (torch.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5).sum(-1)

    def entropy(self, stats: Tensor) -> Tensor:
        """Entropy of the distribution, summed over the latent: [...]."""
        if self.categorical:
            return -(stats.exp() * stats).sum((-2, -1))
        std = stats.chunk(2, -1)[1]
        return (0.5 * math.log(2 * math.pi * math.e) + torch.log(std)).sum(-1)
