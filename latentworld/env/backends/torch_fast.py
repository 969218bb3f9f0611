"""The imagined step of :meth:`WorldModel.step`, computed with one-hot inputs as lookups.

With categorical latents, z is ``stoch`` one-hot groups of ``classes`` (1024 numbers of which
32 are non-zero in the default config), and most of the model's first layers read z: a
dense ``Linear`` over it wastes ~97% of its multiply-adds. Here every such layer adds the
dense part (h, joint actions, agent ids) to an ``embedding_bag`` over the non-zero columns
of z (weighted by their values, so the all-zero start state and straight-through values
stay exact up to float rounding). Results equal ``WorldModel.step`` to ~1e-5 (tested).
Gaussian latents are dense: they use ``WorldModel.step``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentworld.model import ModelState, WorldModel
from latentworld.model.heads import end_probs


class _SplitLinear:
    """``linear(cat(parts))`` as dense matmuls plus one-hot lookups, for fixed part layouts.

    ``layout``: per input part, ``("dense", size)`` or ``("onehot", groups, classes)``.
    """

    def __init__(self, linear: nn.Linear, layout: list[tuple]):
        self.linear, self.layout, self.version = linear, layout, -1

    def _build(self) -> None:
        """Split the weights (again, if training changed them in place since the last call)."""
        W, self.bias = self.linear.weight.detach(), self.linear.bias.detach()  # W [H, in]
        self.version = self.linear.weight._version
        self.parts: list[tuple] = []
        lo = 0
        for spec in self.layout:
            size = spec[1] if spec[0] == "dense" else spec[1] * spec[2]
            w = W[:, lo:lo + size]
            if spec[0] == "dense":
                self.parts.append(("dense", w.contiguous(), None))
            else:
                G, C = spec[1], spec[2]
                offs = torch.arange(G, device=W.device) * C  # [G]
                self.parts.append(("onehot", w.t().contiguous(), (G, C, offs)))  # table [G*C, H]
            lo += size
        if lo != W.shape[1]:
            raise ValueError(f"layout covers {lo} inputs, the layer has {W.shape[1]}")

    def __call__(self, *xs: Tensor) -> Tensor:
        if self.linear.weight._version != self.version:
            self._build()
        lead = xs[0].shape[:-1]
        out = None
        for (kind, w, extra), x in zip(self.parts, xs):
            if kind == "dense":
                y = x.reshape(-1, x.shape[-1]) @ w.t()  # [R, H]
            else:
                G, C, offs = extra
                val, idx = x.reshape(-1, G, C).max(-1)  # [R, G]: the one non-zero entry of each group
                y = F.embedding_bag(idx + offs, w, per_sample_weights=val, mode="sum")  # [R, H]
            out = y if out is None else out + y
        return (out + self.bias).view(*lead, -1)


class FastStepper:
    """``WorldModel.step`` for categorical latents with sparse first layers (inference only)."""

    def __init__(self, model: WorldModel):
        m, c = model, model.cfg
        self.m = m
        S, C, D, A, N = c.stoch, c.classes, c.deter, m.A, m.N
        z = ("onehot", S, C)
        self.a_in = _SplitLinear(m.a_in[0], [z, ("onehot", 1, A)])
        self.a_prior = _SplitLinear(m.a_prior[0], [("dense", D)] if m.single else [("dense", D), z])
        agent = [("dense", D), z]
        full = agent if m.single else agent + [("dense", D), z]
        self.reward = _SplitLinear(m.reward_head[0], full if m.reward_full else agent)
        self.cont = _SplitLinear(m.cont_head[0], full)
        self.avail = _SplitLinear(m.avail_head[0], full)
        if not m.single:
            self.g_in = _SplitLinear(m.g_in[0], [z, ("dense", N * A + N)])
        # The layers after each split first layer (slicing a Sequential per call is slow).
        tail = {name: getattr(m, name)[1:] for name in ("a_in", "a_prior", "reward_head", "cont_head",
                                                       "avail_head") + (() if m.single else ("g_in",))}
        self.tail = tail

    @torch.inference_mode()
    def step(self, state: ModelState, actions: Tensor, sample: bool = True, noise: Tensor | None = None
             ) -> tuple[ModelState, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Same inputs and outputs as :meth:`WorldModel.step` (noise [B, 2, N, stoch] or None)."""
        m = self.m
        own = m._onehot(actions)  # [B, N, A]
        x = self.tail["a_in"](self.a_in(state.z_a, own))  # [B, N, H]
        h_a = m._gru(m.a_gru, x, state.h_a)  # [B, N, deter]
        h_g, z_g = state.h_g, state.z_g
        if not m.single:
            lead = state.z_g.shape[:-1]  # (B, N)
            joint = own.flatten(-2).unsqueeze(-2).expand(*lead, m.N * m.A)  # [B, N, N*A]
            ids = m.agent_ids.expand(*lead, m.N)  # [B, N, N]
            x = self.tail["g_in"](self.g_in(state.z_g, torch.cat([joint, ids], -1)))  # [B, N, H]
            h_g = m._gru(m.g_gru, x, state.h_g)  # [B, N, deter]
            u_g = None if noise is None else noise[:, 0]
            z_g = m._draw(m.latent.stats(m.g_prior(h_g)), sample, None, u_g)  # [B, N, Z]
        prior_in = (h_a,) if m.single else (h_a, z_g)
        prior = m.latent.stats(self.tail["a_prior"](self.a_prior(*prior_in)))
        z_a = m._draw(prior, sample, None, None if noise is None else noise[:, 1])  # [B, N, Z]
        nxt = ModelState(h_a, z_a, h_g, z_g)
        full = (h_a, z_a) if m.single else (h_a, z_a, h_g, z_g)
        raw = self.tail["reward_head"](self.reward(*(full if m.reward_full else (h_a, z_a))))  # [B, N, 1 or K]
        reward = m.reward_dec.decode(raw)  # [B, N]
        cont, win = end_probs(self.tail["cont_head"](self.cont(*full)), m.outcome)  # [B, N] each
        cont, win = cont.mean(-1), win.mean(-1)  # [B]
        if m.outcome:
            reward = reward + m.win_bonus * win[:, None]
        avail = torch.sigmoid(self.tail["avail_head"](self.avail(*full)))  # [B, N, A]
        return nxt, nxt.agent_features(), nxt.global_features(), reward, cont, m.avail_mask(avail), win
