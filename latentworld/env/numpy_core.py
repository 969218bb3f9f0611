"""The learned env's step in numpy and torch-on-numpy, for one env (or a few) on a CPU.

One :class:`LatentParallelEnv` step is a few dozen small array operations on a few rows;
torch spends ~5-10 us of dispatch on each, numpy ~1-2 us. Elementwise work and lookups run
in numpy here; the matrix products, LayerNorms, SiLUs and GRU gates go through torch on
zero-copy views, because numpy's bundled OpenBLAS is slower on small matrices on this kind
of CPU (11 us for [3, 128] @ [128, 384] against 6 us in torch, idle; 48-60 us under load).
:meth:`NumpyCore.step` has the inputs and outputs of :meth:`LatentCore.step` (torch tensors,
zero-copy on the CPU) and computes the same numbers in float32 (equal to ~1e-5, tested), the
counter-based noise included. Categorical latents only; weights are re-read whenever
training changed them.
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
    """K Sequentials of one structure run as one: their ops ``lo:hi`` (default: all after the
    first Linear), on inputs stacked [K, R, H]; each op's weights stacked [K, ...] (Linear
    outputs zero-padded to the widest, so heads of different output sizes stack too)."""

    def __init__(self, seqs: list[_Seq], lo: int = 1, hi: int | None = None):
        kinds = [[op[0] for op in s.ops[lo:hi]] for s in seqs]
        if any(k != kinds[0] for k in kinds):
            raise TypeError("stacked Sequentials must have one structure")
        self.ops: list[tuple] = []
        for j, kind in enumerate(kinds[0], start=lo):
            if kind == "lin":
                rows = max(s.ops[j][1].shape[0] for s in seqs)  # inputs padded too (padded outputs are 0)
                width = max(s.ops[j][1].shape[1] for s in seqs)
                W = np.zeros((len(seqs), rows, width), np.float32)  # [K, in, out]
                b = np.zeros((len(seqs), 1, width), np.float32)  # [K, 1, out]
                for k, s in enumerate(seqs):
                    W[k, : s.ops[j][1].shape[0], : s.ops[j][1].shape[1]] = s.ops[j][1]
                    b[k, 0, : s.ops[j][2].shape[0]] = s.ops[j][2]
                self.ops.append(("lin", torch.from_numpy(W), torch.from_numpy(b)))
            elif kind == "ln":  # per-model affine [K, 1, H], applied after a plain layer_norm
                self.ops.append(("ln", torch.stack([s.ops[j][1] for s in seqs])[:, None],
                                 torch.stack([s.ops[j][2] for s in seqs])[:, None], seqs[0].ops[j][3]))
            else:
                self.ops.append(("silu",))

    def torch(self, t: Tensor) -> Tensor:
        """t [K, R, H] → [K, R, widest output]."""
        for op in self.ops:
            if op[0] == "lin":
                t = torch.baddbmm(op[2], t, op[1])
            elif op[0] == "ln":
                t = torch.addcmul(op[2], F.layer_norm(t, t.shape[-1:], eps=op[3]), op[1])
            else:
                t = F.silu(t)
        return t


class _GRUs:
    """One ``nn.GRUCell`` per level, run as one stacked cell (torch's gate order r, z, n)."""

    def __init__(self, cells: list[nn.GRUCell]):
        st = lambda f: torch.stack([f(c).detach() for c in cells]).contiguous()  # noqa: E731
        self.wi = st(lambda c: c.weight_ih.t())  # [L, in, 3D]
        self.wh = st(lambda c: c.weight_hh.t())  # [L, D, 3D]
        self.bi, self.bh = st(lambda c: c.bias_ih[None]), st(lambda c: c.bias_hh[None])  # [L, 1, 3D]
        self.D = cells[0].hidden_size

    def __call__(self, x: Tensor, h: Tensor) -> Tensor:
        """x [L, R, in], h [L, R, D] → the next h [L, R, D]."""
        D = self.D
        gi = torch.baddbmm(self.bi, x, self.wi)  # [L, R, 3D]
        gh = torch.baddbmm(self.bh, h, self.wh)  # [L, R, 3D]
        rz = torch.sigmoid(gi[..., : 2 * D] + gh[..., : 2 * D])
        n = torch.tanh(torch.addcmul(gi[..., 2 * D:], rz[..., :D], gh[..., 2 * D:]))
        return torch.addcmul(n, rz[..., D:], h - n)  # (1 - z) n + z h


def _groups(z: np.ndarray, C: int, offset: int, zero_row: int) -> np.ndarray:
    """Row indices of z's one-hot groups [..., S] (``offset`` + group * C + class); an all-zero
    group (the start state) points at ``zero_row``."""
    g = z.reshape(*z.shape[:-1], -1, C)  # [..., S, C]
    idx = g.argmax(-1) + (offset + _offsets(g.shape[-2], C))
    return np.where(g.max(-1) > 0, idx, zero_row)


class NumpyCore:
    """:meth:`LatentCore.step` in numpy (cpu, categorical latents).

    Three merges keep the op count low: the recurrent inputs of both levels are one lookup
    table (their inputs are all one-hot: z, own and joint actions; the agent ids are folded
    into per-agent biases); both GRU cells run as one stacked cell; and the first layers of the
    reward / continuation / availability heads and of every ensemble member are one matmul over
    (h^a, h^g) plus one lookup over (z^a, z^g), their shared next layers one batched matmul.
    """

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
        m, c = self.m, self.m.cfg
        N, A, D, Z, C = m.N, m.A, c.deter, c.stoch * c.classes, c.classes
        S = c.stoch
        self.levels = 1 if m.single else 2
        self.net = {n: _Seq(getattr(m, n)) for n in ["a_prior", "obs_head"] + ([] if m.single else ["g_prior"])}
        # recurrent inputs: rows [z_a | own actions | z_g | joint actions | a zero row]
        a_in = _Seq(m.a_in)
        W, b = [a_in.ops[0][1]], [np.broadcast_to(a_in.ops[0][2], (N, a_in.ops[0][2].shape[0]))]
        ins = [a_in]
        if not m.single:
            g_in = _Seq(m.g_in)
            Wg = g_in.ops[0][1]  # [Z + N*A + N, H]
            W.append(Wg[: Z + N * A])
            b.append(g_in.ops[0][2] + Wg[Z + N * A:])  # agent n's id row folded into its bias
            ins.append(g_in)
        self.in_table = torch.from_numpy(np.concatenate(W + [np.zeros((1, W[0].shape[1]), np.float32)]))  # [rows, H]
        self.in_bias = torch.from_numpy(np.stack(b).astype(np.float32))  # [L, N, H]
        self.in_rest = _Stack(ins)
        self.zero_in = self.in_table.shape[0] - 1
        self.width_in = S + (N if not m.single else 1)  # indices per agent and level
        self.joint_rows = Z + A + Z + np.arange(N) * A  # [N] first row of agent j's action in g_in
        self.grus = _GRUs([m.a_gru] + ([] if m.single else [m.g_gru]))
        # heads and ensemble: first layers over ff = [h_a, z_a, h_g, z_g] (zeros where one does not read)
        Fa = D + Z
        Ff = Fa if m.single else 2 * Fa
        heads = [_Seq(m.reward_head), _Seq(m.cont_head), _Seq(m.avail_head)]
        ens = [_Seq(h) for h in m.ens]
        firsts = []
        for s in heads:
            w = np.zeros((Ff, s.ops[0][1].shape[1]), np.float32)
            w[: s.ops[0][1].shape[0]] = s.ops[0][1]  # the reward head may read fa only
            firsts.append(w)
        for s in ens:  # they read [h_a, z_g] (h_a when single-level)
            w = np.zeros((Ff, s.ops[0][1].shape[1]), np.float32)
            w[:D] = s.ops[0][1][:D]
            if not m.single:
                w[Fa + D:] = s.ops[0][1][D:]
            firsts.append(w)
        Wf = np.concatenate(firsts, 1)  # [Ff, (3 + K) * H]
        dense = np.r_[0:D] if m.single else np.r_[0:D, Fa:Fa + D]
        onehot = np.r_[D:Fa] if m.single else np.r_[D:Fa, Fa + D:Ff]
        self.head_dense = torch.from_numpy(np.ascontiguousarray(Wf[dense]))  # [D or 2D, W]
        self.head_table = torch.from_numpy(np.ascontiguousarray(Wf[onehot]))  # [Z or 2Z, W]
        self.head_bias = torch.from_numpy(np.concatenate([s.ops[0][2] for s in heads + ens]))  # [W]
        self.n_heads, self.K = len(heads), len(ens)
        # how many ops after the first Linear the heads and the ensemble share in kind: those
        # run as one stack of 3 + K; the rest per group (one member shows each group's structure)
        kinds = [[op[0] for op in s.ops[1:]] for s in [heads[0], *ens[:1]]]
        common = len(kinds[0]) if not ens else next(
            (i for i, (p, q) in enumerate(zip(*kinds)) if p != q), min(map(len, kinds)))
        self.common = _Stack(heads + ens, 1, 1 + common) if common else None
        self.heads_rest = _Stack(heads, 1 + common) if len(heads[0].ops) > 1 + common else None
        # the heads' own width after the common part (the ensemble's outputs may be wider)
        lins = [op[1].shape[1] for op in heads[0].ops[: 1 + common] if op[0] == "lin"]
        self.head_width = lins[-1] if self.heads_rest is not None else None
        self.ens_rest = _Stack(ens, 1 + common) if ens and len(ens[0].ops) > 1 + common else None
        self._eye_c = np.eye(C, dtype=np.float32)
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

    def _recur(self, state: ModelState, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both levels' GRU steps: h_a, h_g [E, N, D] (h_g unchanged when single-level)."""
        m, C = self.m, self.m.cfg.classes
        Z = m.cfg.stoch * C
        z_a = state.z_a.numpy()
        E, N = z_a.shape[:2]
        idx = np.full((self.levels, E, N, self.width_in), self.zero_in)  # [L, E, N, k]
        idx[0, ..., : m.cfg.stoch] = _groups(z_a, C, 0, self.zero_in)
        idx[0, ..., m.cfg.stoch] = Z + actions
        if self.levels == 2:
            idx[1, ..., : m.cfg.stoch] = _groups(state.z_g.numpy(), C, Z + m.A, self.zero_in)
            idx[1, ..., m.cfg.stoch:] = (self.joint_rows + actions)[:, None, :]  # every agent sees the joint action
        L = self.levels
        x = F.embedding_bag(torch.from_numpy(idx.reshape(L * E * N, -1)), self.in_table, mode="sum")  # [L*E*N, H]
        x = self.in_rest.torch((x.view(L, E, N, -1) + self.in_bias[:, None]).view(L, E * N, -1))  # [L, E*N, H]
        h = state.h_a[None] if L == 1 else torch.stack([state.h_a, state.h_g])  # [L, E, N, D]
        h = self.grus(x, h.reshape(L, E * N, -1)).reshape(L, E, N, -1).numpy()
        return h[0], (h[1] if L == 2 else state.h_g.numpy())

    def _heads(self, h_a: np.ndarray, z_a: np.ndarray, h_g: np.ndarray, z_g: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """Reward / continuation / availability outputs [3, E*N, widest] and the ensemble's
        predictions [K, E*N, embed] (None without an ensemble)."""
        m, C = self.m, self.m.cfg.classes
        Z = m.cfg.stoch * C
        E, N = h_a.shape[:2]
        if m.single:
            dense, idx = h_a, _groups(z_a, C, 0, 0)
        else:
            dense = np.concatenate([h_a, h_g], -1)  # [E, N, 2D]
            idx = np.concatenate([_groups(z_a, C, 0, 0), _groups(z_g, C, Z, 0)], -1)  # [E, N, 2S]
        y = torch.addmm(self.head_bias, torch.from_numpy(dense.reshape(E * N, -1)), self.head_dense)
        y = y + F.embedding_bag(torch.from_numpy(idx.reshape(E * N, -1)), self.head_table, mode="sum")  # [E*N, (3+K) H]
        t = y.view(E * N, self.n_heads + self.K, -1).transpose(0, 1)  # [3+K, E*N, H]
        if self.common is not None:
            t = self.common.torch(t)
        heads = t[: self.n_heads, :, : self.head_width]
        if self.heads_rest is not None:
            heads = self.heads_rest.torch(heads)
        preds = None
        if self.K:
            preds = t[self.n_heads:]
            preds = (self.ens_rest.torch(preds) if self.ens_rest is not None else preds)[..., : m.cfg.embed]
        return heads.numpy(), None if preds is None else preds.numpy()

    def step(self, state: ModelState, actions: Tensor, keys: Tensor, t: Tensor) -> CoreStep:
        """One imagined step of E envs in numpy (same contract as :meth:`LatentCore.step`)."""
        if self._version != self._current():
            self._build()
        core, m, net = self.core, self.m, self.net
        acts = actions.numpy()  # [E, N]
        E, N = acts.shape
        u = None
        if not core.cfg.deterministic:
            u = uniform(keys.numpy(), t.numpy(), 2 * N * m.cfg.stoch).reshape(E, 2, N, m.cfg.stoch)
        h_a, h_g = self._recur(state, acts)
        z_g = state.z_g.numpy()
        if not m.single:
            z_g = self._draw(net["g_prior"](h_g), None if u is None else u[:, 0])
        prior = net["a_prior"].rest(net["a_prior"].first([h_a] if m.single else [h_a, z_g], [1], m.cfg.classes))
        z_a = self._draw(prior, None if u is None else u[:, 1])  # [E, N, Z]
        heads, preds = self._heads(h_a, z_a, h_g, z_g)
        r = heads[0, :, 0].reshape(E, N)
        reward = (np.sign(r) * np.expm1(np.abs(r))).astype(np.float32)  # [E, N] symexp
        cont = (1.0 / (1.0 + np.exp(-heads[1, :, 0].reshape(E, N)))).sum(-1) * np.float32(1.0 / N)  # [E] mean
        avail = heads[2, :, : m.A].reshape(E, N, m.A) > 0.0  # [E, N, A]: sigmoid > 0.5
        avail[..., m.spec.noop_action] |= ~avail.any(-1)
        fa = np.concatenate([h_a, z_a], -1)  # [E, N, F]
        obs = fa if core.cfg.obs == "latent" else net["obs_head"](fa)
        if preds is not None:
            K = preds.shape[0]
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
