"""The learned env's step in numpy, for one env (or a few) on a CPU.

One :class:`LatentParallelEnv` step is ~60 small tensor operations on a few rows; torch
spends ~5-10 us of dispatch on each, numpy ~1 us, so for E = 1 the same arithmetic runs
several times faster here (docs/throughput.md). The ~20 matrix products are the exception:
they go through torch (:func:`_mm`, zero-copy views), because numpy's bundled OpenBLAS can
be several times slower on small matrices — on a CPU it does not recognise it falls back to
generic kernels (measured here: 60 us for [3, 128] @ [128, 384] against 7 us in torch).
:meth:`NumpyCore.step` has the inputs and outputs of :meth:`LatentCore.step` (torch tensors, zero-copy on the CPU) and computes the same
numbers in float32 (equal to ~1e-5, tested), the counter-based noise included. Categorical
latents only; weights are re-read whenever training changed them.
"""

from __future__ import annotations

import operator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentworld.model import ModelState

from .core import CoreStep, LatentCore

_VERSION = operator.attrgetter("_version")  # bumped by every in-place change of a tensor
_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


def _t(a: np.ndarray) -> Tensor:
    """A torch view of a C-contiguous float32 weight array (shares its memory)."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _mm(x: np.ndarray, w: Tensor, b: Tensor | None = None) -> np.ndarray:
    """``x @ w (+ b)`` for x [..., in] and w [in, out] (torch views), computed by torch."""
    x2 = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32).reshape(-1, x.shape[-1]))  # [R, in]
    y = x2 @ w if b is None else torch.addmm(b, x2, w)  # [R, out]
    return y.numpy().reshape(*x.shape[:-1], w.shape[1])


def _mix32(x: np.ndarray) -> np.ndarray:
    x = x & _M32
    x = x ^ (x >> 16)
    x = (x * 0x21F0AAAD) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x735A2D97) & _M32
    return x ^ (x >> 15)


def _combine(h: np.ndarray, v: np.ndarray) -> np.ndarray:
    return _mix32(h ^ ((v + _GOLDEN + (h << 6) + (h >> 2)) & _M32))


def uniform(keys: np.ndarray, step: np.ndarray, n: int) -> np.ndarray:
    """:func:`latentworld.env.noise.uniform` in numpy: [E, n] float32 from keys [E], steps [E]."""
    base = _combine(keys.astype(np.int64), step.astype(np.int64))  # [E]
    idx = (np.arange(n, dtype=np.int64) * _GOLDEN) & _M32  # [n]
    h = _mix32(base[:, None] ^ idx)  # [E, n]
    return (((h >> 8).astype(np.float32) + np.float32(0.5)) * np.float32(1.0 / (1 << 24))).astype(np.float32)


_OFFSETS: dict[tuple[int, int], np.ndarray] = {}


def _offsets(groups: int, classes: int) -> np.ndarray:
    """[S] the first row of each one-hot group: 0, C, 2C, ..."""
    key = (groups, classes)
    if key not in _OFFSETS:
        _OFFSETS[key] = np.arange(groups) * classes
    return _OFFSETS[key]


class _Seq:
    """A Sequential of Linear / LayerNorm / SiLU as numpy closures."""

    def __init__(self, seq: nn.Module):
        mods = list(seq) if isinstance(seq, nn.Sequential) else [seq]
        self.ops = []
        for m in mods:
            if isinstance(m, nn.Linear):  # numpy [in, out] for the lookups, torch [out, in] for F.linear
                w, b = m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()
                self.ops.append(("lin", w, b, m.weight.detach().clone(), torch.from_numpy(b)))
            elif isinstance(m, nn.LayerNorm):
                self.ops.append(("ln", m.weight.detach().clone(), m.bias.detach().clone(), m.eps))
            elif isinstance(m, nn.SiLU):
                self.ops.append(("silu",))
            else:
                raise TypeError(f"no numpy path for {type(m).__name__}")
        self.wt_first = _t(self.ops[0][1]) if self.ops[0][0] == "lin" else None  # [in, out] view

    def first(self, parts: list[np.ndarray], onehot: list[int], C: int) -> np.ndarray:
        """The first Linear on ``cat(parts, -1)`` without building it: a matmul per dense part and a
        row lookup per one-hot part (``onehot``: the parts made of one-hot groups of C classes;
        each group's row is weighted by its value, so an all-zero z adds nothing)."""
        W, b, Wt = self.ops[0][1], self.ops[0][2], self.wt_first
        out, lo = b, 0
        for i, x in enumerate(parts):
            n = x.shape[-1]
            if i in onehot:
                g = x.reshape(*x.shape[:-1], n // C, C)  # [..., S, C]
                idx = g.argmax(-1)  # [..., S]
                val = g.max(-1)[..., None]  # [..., S, 1]: 1, or 0 for an all-zero z
                rows = W[lo + _offsets(n // C, C) + idx]  # [..., S, H]
                out = out + (rows * val).sum(-2)
            else:
                out = out + _mm(x, Wt[lo:lo + n])
            lo += n
        return out

    def rest(self, x: np.ndarray) -> np.ndarray:
        return self(x, skip_first=True)

    def __call__(self, x: np.ndarray, skip_first: bool = False) -> np.ndarray:
        # torch here: one fused call per layer beats numpy's ~7 ops for a LayerNorm (7 us vs 25)
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        for op in self.ops[1:] if skip_first else self.ops:
            if op[0] == "lin":
                t = F.linear(t, op[3], op[4])
            elif op[0] == "ln":
                t = F.layer_norm(t, op[1].shape, op[1], op[2], op[3])
            else:
                t = F.silu(t)
        return t.numpy()


class _Stack:
    """K Sequentials of one structure run as one: what follows their first Linear, on inputs
    stacked [K, R, H]; each op's weights stacked [K, ...] (final outputs zero-padded to the
    widest, so heads of different output sizes stack too)."""

    def __init__(self, seqs: list[_Seq]):
        kinds = [[op[0] for op in s.ops] for s in seqs]
        if any(k != kinds[0] for k in kinds):
            raise TypeError("stacked Sequentials must have one structure")
        self.outs = [s.ops[-1][1].shape[1] if s.ops[-1][0] == "lin" else None for s in seqs]  # numpy [in, out]
        self.ops: list[tuple] = []
        for j, kind in enumerate(kinds[0][1:], start=1):
            if kind == "lin":
                width = max(s.ops[j][1].shape[1] for s in seqs)
                W = np.zeros((len(seqs), seqs[0].ops[j][1].shape[0], width), np.float32)  # [K, in, out]
                b = np.zeros((len(seqs), 1, width), np.float32)  # [K, 1, out]
                for k, s in enumerate(seqs):
                    W[k, :, : s.ops[j][1].shape[1]] = s.ops[j][1]
                    b[k, 0, : s.ops[j][2].shape[0]] = s.ops[j][2]
                self.ops.append(("lin", torch.from_numpy(W), torch.from_numpy(b)))
            elif kind == "ln":  # per-model affine [K, 1, H], applied after a plain layer_norm
                self.ops.append(("ln", torch.stack([s.ops[j][1] for s in seqs])[:, None],
                                 torch.stack([s.ops[j][2] for s in seqs])[:, None], seqs[0].ops[j][3]))
            else:
                self.ops.append(("silu",))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x [K, R, H] (the first Linear's outputs) → [K, R, widest output]."""
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        for op in self.ops:
            if op[0] == "lin":
                t = torch.baddbmm(op[2], t, op[1])
            elif op[0] == "ln":
                t = torch.addcmul(op[2], F.layer_norm(t, t.shape[-1:], eps=op[3]), op[1])
            else:
                t = F.silu(t)
        return t.numpy()


class _GRU:
    """``nn.GRUCell`` as torch's fused cell on numpy inputs."""

    def __init__(self, cell: nn.GRUCell):
        self.w = [p.detach().clone() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]

    def __call__(self, x: np.ndarray, h: np.ndarray) -> np.ndarray:
        tx = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))  # [R, in]
        th = torch.from_numpy(np.ascontiguousarray(h, dtype=np.float32))  # [R, D]
        return torch.gru_cell(tx, th, *self.w).numpy()


class NumpyCore:
    """:meth:`LatentCore.step` in numpy (cpu, categorical latents)."""

    def __init__(self, core: LatentCore):
        m = core.model
        if m.cfg.latent != "categorical" or core.device.type != "cpu":
            raise ValueError("the numpy step needs a categorical-latent model on the cpu")
        self.core, self.m = core, m
        self._params = list(m.parameters())
        self._version = None

    @staticmethod
    def supported(core: LatentCore) -> bool:
        hooks = core.cfg.reward_fn is not None or core.cfg.termination_fn is not None  # they take tensors
        return core.model.cfg.latent == "categorical" and core.device.type == "cpu" and not hooks

    def _build(self) -> None:
        m = self.m
        names = ["a_in", "a_prior", "reward_head", "cont_head", "avail_head", "obs_head"]
        names += [] if m.single else ["g_in", "g_prior"]
        self.net = {n: _Seq(getattr(m, n)) for n in names}
        ens = [_Seq(h) for h in m.ens]
        # the ensemble: one matmul for every head's first layer, the rest stacked
        self.ens_w = np.concatenate([h.ops[0][1] for h in ens], 1) if ens else None  # [in, K*H]
        self.ens_b = np.concatenate([h.ops[0][2] for h in ens]) if ens else None
        self.ens_rest = _Stack(ens) if ens else None
        self.ens_wt = _t(self.ens_w) if ens else None
        self.ens_bt = _t(self.ens_b) if ens else None
        # heads that read the full features share one matmul for their first layers
        self.shared = ["cont_head", "avail_head"] + (["reward_head"] if m.reward_full and not m.single else [])
        self.shared_w = np.concatenate([self.net[n].ops[0][1] for n in self.shared], 1)  # [Ff, k*H]
        self.shared_b = np.concatenate([self.net[n].ops[0][2] for n in self.shared])
        self.shared_wt = _t(self.shared_w)
        self.shared_cut = np.cumsum([self.net[n].ops[0][1].shape[1] for n in self.shared])[:-1]
        self.shared_rest = _Stack([self.net[n] for n in self.shared])  # their layers after the first
        self._eye_c = np.eye(m.cfg.classes, dtype=np.float32)
        self._eye_a = np.eye(m.A, dtype=np.float32)
        self.a_gru = _GRU(m.a_gru)
        self.g_gru = None if m.single else _GRU(m.g_gru)
        self._version = self._current()

    def _current(self) -> int:
        return sum(map(_VERSION, self._params))

    def _draw(self, raw: np.ndarray, u: np.ndarray | None) -> np.ndarray:
        """raw [..., S*C] logits -> one-hot sample (inverse CDF on ``u`` [..., S]) or mode, flat."""
        c = self.m.cfg
        S, C = c.stoch, c.classes
        logits = raw.reshape(*raw.shape[:-1], S, C)
        e = np.exp(logits - logits.max(-1, keepdims=True))
        probs = e / e.sum(-1, keepdims=True)
        if c.unimix > 0:
            probs = probs * (1 - c.unimix) + c.unimix / C
        if u is None:
            idx = probs.argmax(-1)
        else:
            idx = np.minimum((np.cumsum(probs, -1) < u[..., None]).sum(-1), C - 1)  # [..., S]
        return self._eye_c[idx].reshape(*raw.shape[:-1], S * C)  # one-hot rows

    def step(self, state: ModelState, actions: Tensor, keys: Tensor, t: Tensor) -> CoreStep:
        if self._version != self._current():
            self._build()
        core, m, net = self.core, self.m, self.net
        h_a, z_a = state.h_a.numpy(), state.z_a.numpy()  # [E, N, D], [E, N, Z]
        E, N, A = h_a.shape[0], m.N, m.A
        own = self._eye_a[actions.numpy()]  # [E, N, A]
        u = None
        if not core.cfg.deterministic:
            u = uniform(keys.numpy(), t.numpy(), 2 * N * m.cfg.stoch).reshape(E, 2, N, m.cfg.stoch)
        C = m.cfg.classes
        x = net["a_in"].rest(net["a_in"].first([z_a, own], [0], C))
        h_a = self.a_gru(x.reshape(E * N, -1), h_a.reshape(E * N, -1)).reshape(E, N, -1)
        h_g, z_g = state.h_g.numpy(), state.z_g.numpy()
        if not m.single:
            joint = np.broadcast_to(own.reshape(E, 1, N * A), (E, N, N * A))
            ids = np.broadcast_to(np.eye(N, dtype=np.float32), (E, N, N))
            x = net["g_in"].rest(net["g_in"].first([z_g, np.concatenate([joint, ids], -1)], [0], C))
            h_g = self.g_gru(x.reshape(E * N, -1), h_g.reshape(E * N, -1)).reshape(E, N, -1)
            z_g = self._draw(net["g_prior"](h_g), None if u is None else u[:, 0])
        prior = net["a_prior"].rest(net["a_prior"].first([h_a] if m.single else [h_a, z_g], [1], C))
        z_a = self._draw(prior, None if u is None else u[:, 1])
        fa = np.concatenate([h_a, z_a], -1)  # [E, N, F]
        ff = fa if m.single else np.concatenate([fa, h_g, z_g], -1)
        parts = [h_a, z_a] if m.single else [h_a, z_a, h_g, z_g]
        lin = np.zeros((E, N, self.shared_w.shape[1]), np.float32) + self.shared_b
        lo = 0
        for i, x in enumerate(parts):
            n = x.shape[-1]
            if i % 2:  # z parts: one-hot lookups
                idx = x.reshape(E, N, n // C, C).argmax(-1)  # [E, N, S]
                lin = lin + self.shared_w[lo + _offsets(n // C, C) + idx].sum(-2)
            else:
                lin = lin + _mm(x, self.shared_wt[lo:lo + n])
            lo += n
        H = lin.shape[-1] // len(self.shared)
        outs = self.shared_rest(lin.reshape(E * N, len(self.shared), H).transpose(1, 0, 2))  # [k, E*N, out]
        first = {n: outs[k, :, : self.shared_rest.outs[k]].reshape(E, N, -1) for k, n in enumerate(self.shared)}
        head = lambda n, x: first[n] if n in first else net[n](x)  # noqa: E731
        r = head("reward_head", ff if m.reward_full else fa)[..., 0]
        reward = (np.sign(r) * np.expm1(np.abs(r))).astype(np.float32)  # [E, N] symexp
        cont = (1.0 / (1.0 + np.exp(-head("cont_head", ff)[..., 0]))).sum(-1) * np.float32(1.0 / N)  # [E] mean
        avail = head("avail_head", ff) > 0.0  # [E, N, A]: sigmoid > 0.5
        avail[..., m.spec.noop_action] |= ~avail.any(-1)
        obs = fa if core.cfg.obs == "latent" else net["obs_head"](fa)
        if self.ens_rest is not None:
            x = h_a if m.single else np.concatenate([h_a, z_g], -1)
            K = len(self.ens_rest.outs)
            x1 = _mm(x.reshape(E * N, -1), self.ens_wt, self.ens_bt).reshape(E * N, K, -1).transpose(1, 0, 2)
            preds = self.ens_rest(x1)  # [K, E*N, embed]
            d = preds - preds.sum(0) * np.float32(1.0 / K)
            unc = ((d * d).sum((0, 2)) * np.float32(1.0 / ((K - 1) * d.shape[-1]))).reshape(E, N)  # [E, N] unbiased var
        else:
            unc = np.zeros((E, N), np.float32)
        if core.cfg.uncertainty_penalty:
            reward = reward - core.cfg.uncertainty_penalty * unc.mean(-1, keepdims=True)
        terminated = cont < 0.5
        truncated = (t.numpy() + 1 >= core.limit) & ~terminated
        f32 = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
        nxt = ModelState(f32(h_a), f32(z_a), f32(h_g), f32(z_g))
        return CoreStep(nxt, f32(obs), nxt.global_features(), torch.from_numpy(avail), f32(reward),
                        torch.from_numpy(terminated), torch.from_numpy(truncated), f32(unc))
