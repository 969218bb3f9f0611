"""The learned env's step compiled by numba, for one env (or a few) on a CPU.

A step of one env is ~100 small array operations; torch's or numpy's dispatch of each would
cost more than its arithmetic. Here the whole step is one call into machine code
(:mod:`.jit_kernels`), so what is left is the arithmetic. :meth:`JitCore.step` has the inputs and outputs of
:meth:`LatentCore.step` (torch tensors, zero-copy) and computes the same numbers in float32
(equal to ~1e-5, tested), the counter-based noise included. Categorical latents; the first
call compiles the kernels (cached on disk by numba after that); weights are re-read whenever
training changed them. Without numba importable, :func:`available` is False and the single
env runs the batched torch step.
"""

from __future__ import annotations

import operator
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from latentworld.model import ModelState

from .step import CoreStep

_VERSION = operator.attrgetter("_version")  # bumped by every in-place change of a tensor

_CHUNK = 256  # widest column block of a first layer's weights (see jit_kernels.first_layer)


def available() -> bool:
    """numba (and scipy, whose BLAS its matrix products call) can be imported."""
    try:
        import numba  # noqa: F401
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:
        return False
    return True


def _compiled_before(kernels) -> bool:
    """numba's on-disk cache holds the step kernel (else the first step compiles, ~15-40 s)."""
    return any(Path(kernels.__file__).parent.glob("__pycache__/jit_kernels.step-*.nbi"))


class _Weights:
    """The model's weights as the kernels read them: float32 C arrays in two numba typed lists
    plus int64 index tables (see :mod:`latentworld.env.jit_kernels`)."""

    def __init__(self, m):
        from numba.typed import List

        self.mats, self.vecs = List(), List()
        self.layers: list[tuple[int, int, int, int]] = []
        c, N, A = m.cfg, m.N, m.A
        D, Z = c.deter, c.stoch * c.classes
        two = not m.single
        self.ins = self._ins(m, Z, N, A, two)
        firsts, mlps = [], []

        def first(seqs: list[nn.Sequential], parts: list[tuple[bool, bool, bool, bool]]) -> None:
            """One first layer for ``seqs`` side by side (zero rows where one does not read a part)."""
            Ws = [s[0].weight.detach().numpy().T for s in seqs]  # [in, H] each
            starts = np.cumsum([0] + [W.shape[1] for W in Ws])  # each MLP's first column
            rows, offsets, chunks = [], [], []
            for p, width in enumerate((D, Z, D, Z)):
                readers = [i for i, reads in enumerate(parts) if reads[p]]
                if not readers:
                    rows.append(-1)
                    offsets.append(0)
                    chunks.append(0)
                    continue
                lo_col, hi_col = starts[readers[0]], starts[readers[-1] + 1]
                block = np.zeros((width, hi_col - lo_col), np.float32)  # [width, the readers' columns]
                for i in readers:
                    W, reads = Ws[i], parts[i]
                    lo = sum(w for q, w in enumerate((D, Z, D, Z)) if q < p and reads[q])
                    block[:, starts[i] - lo_col:starts[i + 1] - lo_col] = W[lo:lo + width]
                parts_at = [self._mat(block[:, j:j + _CHUNK]) for j in range(0, block.shape[1], _CHUNK)]
                rows.append(parts_at[0])
                offsets.append(int(lo_col))
                chunks.append(len(parts_at))
            bias = np.concatenate([s[0].bias.detach().numpy() for s in seqs])
            firsts.append((*rows, self._vec(bias), *offsets, *chunks))

        def rest(seq: nn.Sequential) -> None:
            start, mods = len(self.layers), list(seq)[1:]
            for i in range(0, len(mods), 3):  # LayerNorm, SiLU, Linear
                ln, lin = mods[i], mods[i + 2]
                self.layers.append((self._mat(lin.weight.detach().numpy().T), self._vec(lin.bias),
                                    self._vec(ln.weight), self._vec(ln.bias)))
            mlps.append((start, len(self.layers)))

        full = (True, True, two, two)
        g_prior = m.g_prior if two else m.a_prior  # a placeholder when single-level
        ens = (True, False, False, two)
        heads = [m.reward_head, m.cont_head, m.avail_head, *m.ens]
        for seqs, parts in (([g_prior], [(False, False, True, False)]), ([m.a_prior], [ens]),
                            ([m.obs_head], [(True, True, False, False)]),
                            (heads, [full if m.reward_full else (True, True, False, False), full, full]
                             + [ens] * len(m.ens))):
            first(seqs, parts)
        for seq in [g_prior, m.a_prior, m.obs_head, *heads]:
            rest(seq)
        self.firsts = np.array(firsts, np.int64)  # [4, 13]
        self.mlps = np.array(mlps, np.int64)  # [6 + K, 2]
        self.layer_rows = np.array(self.layers, np.int64).reshape(-1, 4)  # [L, 4]

    def _mat(self, a: np.ndarray) -> int:
        self.mats.append(np.ascontiguousarray(a, dtype=np.float32))
        return len(self.mats) - 1

    def _vec(self, t: Tensor | np.ndarray) -> int:
        a = t.detach().numpy() if isinstance(t, Tensor) else t
        self.vecs.append(np.ascontiguousarray(a, dtype=np.float32))
        return len(self.vecs) - 1

    def _ins(self, m, Z: int, N: int, A: int, two: bool) -> np.ndarray:
        """(W, b, LN weight, LN bias) of a_in and g_in, then (W_ih, W_hh, b_ih, b_hh) of both GRUs."""
        out = []
        for seq in (m.a_in, m.g_in if two else m.a_in):
            out += [self._mat(seq[0].weight.detach().numpy().T), self._vec(seq[0].bias),
                    self._vec(seq[1].weight), self._vec(seq[1].bias)]
        for cell in (m.a_gru, m.g_gru if two else m.a_gru):
            out += [self._mat(cell.weight_ih.detach().numpy().T), self._mat(cell.weight_hh.detach().numpy().T),
                    self._vec(cell.bias_ih), self._vec(cell.bias_hh)]
        return np.array(out, np.int64)


class JitCore:
    """:meth:`LatentCore.step` as one numba-compiled call (cpu, categorical latents)."""

    def __init__(self, core: Any):
        if not self.supported(core):
            raise ValueError("the compiled step needs numba and a categorical-latent model on the cpu "
                             "without reward_fn / termination_fn hooks")
        from . import jit_kernels

        if not _compiled_before(jit_kernels):
            print("latentworld: the learned env's first step compiles it with numba (once; cached on disk, ~15-40 s)",
                  file=sys.stderr, flush=True)
        self.core, self.m, self.k = core, core.model, jit_kernels
        self._params = list(self.m.parameters())
        self._version = None
        self._last: tuple | None = None  # (state returned, its arrays)

    @staticmethod
    def supported(core: Any) -> bool:
        """Whether the kernels fit ``core`` (a LatentCore): categorical latents on the cpu,
        no hooks (they take tensors), no two-hot reward head, and the layer shapes and LayerNorms
        the kernels assume."""
        m = core.model
        hooks = core.cfg.reward_fn is not None or core.cfg.termination_fn is not None
        lns = [x for x in m.modules() if isinstance(x, nn.LayerNorm)]
        # the kernels know the squared-error reward head only, and read outcome logits from a
        # buffer as wide as the action mask
        heads = not m.cfg.reward_bins and (not m.outcome or m.A >= 3)
        return (m.cfg.latent == "categorical" and core.device.type == "cpu" and not hooks and heads and available()
                and m.cfg.layers >= 1 and all(x.eps == 1e-5 and x.elementwise_affine for x in lns))

    def _current(self) -> int:
        return sum(map(_VERSION, self._params))

    def run(self, state: ModelState, actions: np.ndarray, keys: np.ndarray, t: np.ndarray
            ) -> tuple[ModelState, tuple[np.ndarray, ...]]:
        """The step on numpy inputs (actions [E, N], keys [E], t [E] int64): the next state and
        the kernel's outputs (obs [R, F], global features [R, Fg], reward [R], terminated [E],
        truncated [E], mask [R, A], uncertainty [R], won [E]; R = E x N)."""
        if self._version != self._current():
            with torch.no_grad():
                self.w = _Weights(self.m)
            self._version = self._current()
        core, m, w, c, cfg = self.core, self.m, self.w, self.m.cfg, self.core.cfg
        E, N = actions.shape
        if self._last is not None and state is self._last[0]:
            h_a, z_a, h_g, z_g = self._last[1]  # the arrays behind the state this returned last
        else:
            h_a, z_a, h_g, z_g = (np.ascontiguousarray(x.detach().reshape(E * N, -1).numpy(), np.float32)
                                  for x in (state.h_a, state.z_a, state.h_g, state.z_g))  # [R, ...]
        i64 = lambda a: np.ascontiguousarray(a, np.int64)  # noqa: E731  one compiled signature for all callers
        out = self.k.step(
            w.mats, w.vecs, w.ins, w.firsts, w.layer_rows, w.mlps, h_a, z_a, h_g, z_g, i64(actions), i64(keys), i64(t),
            c.classes, not cfg.deterministic, float(c.unimix), not m.single, cfg.obs == "decoded",
            len(m.ens), m.spec.noop_action, float(cfg.uncertainty_penalty), core.limit, m.outcome,
            float(m.win_bonus) if m.outcome else 0.0)
        nxt = ModelState(*(torch.from_numpy(x).view(E, N, -1) for x in out[:4]))
        self._last = (nxt, out[:4])
        return nxt, out[4:]

    def step(self, state: ModelState, actions: Tensor, keys: Tensor, t: Tensor) -> CoreStep:
        """One imagined step of E envs through the compiled kernel (same contract as :meth:`LatentCore.step`)."""
        E, N = actions.shape
        nxt, out = self.run(state, actions.numpy(), keys.numpy(), t.numpy())
        obs, g, reward, terminated, truncated, mask, unc, won = map(torch.from_numpy, out)
        t4 = lambda x: x.view(E, N, -1)  # noqa: E731
        return CoreStep(nxt, t4(obs), t4(g), t4(mask), reward.view(E, N), terminated, truncated, unc.view(E, N),
                        won if self.m.outcome else None)
