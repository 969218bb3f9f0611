"""The compiled pieces of :mod:`latentworld.env.jit_core`: plain loops that numba turns into
machine code (no per-op dispatch), each mirroring a torch op of the world model's step.

Weights live in two numba typed lists (``mats``: 2-D float32, ``vecs``: 1-D float32); an MLP's
layers after its first Linear are rows of ``layers`` [L, 4] = (W in mats, bias, LN weight, LN
bias in vecs), each row meaning LayerNorm, SiLU, then Linear, and MLP m owns rows
``mlps[m, 0]`` to ``mlps[m, 1]``. Rows R = envs x agents. All arithmetic is float32, as
in torch.
"""

from __future__ import annotations

import types

import numpy as np
from numba import njit

from latentworld.env import noise
from latentworld.env.noise import GOLDEN, M32, OUTCOME_TAG

FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}  # no nan/inf assumptions
LN_EPS = 1e-5  # nn.LayerNorm's default, the world model's only one (checked by JitCore)


@njit(cache=True, fastmath=FAST)
def exp_(x):
    """exp of a C-contiguous float32 array, as a loop the compiler vectorizes (a libm call
    per element does not vectorize): Cephes' expf polynomial (relative error ~1.2e-7), scaled by
    2^n built from its bits. Inputs are clamped to [-87, 88] (float32's normal range)."""
    v = x.reshape(-1)
    out = np.empty(v.size, np.float32)
    bits = np.empty(v.size, np.int32)
    for i in range(v.size):
        y = min(max(v[i], np.float32(-87.0)), np.float32(88.0))
        n = np.floor(y * np.float32(1.44269504) + np.float32(0.5))
        r = y - n * np.float32(0.693359375) + n * np.float32(2.12194440e-4)
        p = np.float32(1.9875691500e-4)
        p = p * r + np.float32(1.3981999507e-3)
        p = p * r + np.float32(8.3334519073e-3)
        p = p * r + np.float32(4.1665795894e-2)
        p = p * r + np.float32(1.6666665459e-1)
        p = p * r + np.float32(5.0000001201e-1)
        out[i] = p * r * r + r + np.float32(1.0)
        bits[i] = (np.int32(n) + np.int32(127)) << 23
    scale = bits.view(np.float32)
    for i in range(v.size):
        out[i] *= scale[i]
    return out.reshape(x.shape)


# The noise hash is written once, in latentworld.env.noise: its own functions compiled here
# for int64 scalars (combine's call of mix32 bound to the compiled mix32).
mix32 = njit(cache=True)(noise.mix32)
combine = njit(types.FunctionType(noise.combine.__code__, {**noise.combine.__globals__, "mix32": mix32}, "combine"))


@njit(cache=True)
def uniform(key, step, n):
    """:func:`latentworld.env.noise.uniform` for one env: [n] float32."""
    base = combine(key & M32, step)
    out = np.empty(n, np.float32)
    for i in range(n):
        v = mix32(base ^ ((i * GOLDEN) & M32))
        out[i] = (np.float32(v >> 8) + np.float32(0.5)) * np.float32(1.0 / (1 << 24))
    return out


@njit(cache=True)
def add_matmul(out, x, W):
    """out [R, O] += x [R, I] @ W [I, O] (BLAS through scipy: ~2x numba's own loops here)."""
    out += x @ W


@njit(cache=True, fastmath=FAST)
def add_onehot(out, z, C, table, zero_skip=True):
    """out [R, O] += the rows of ``table`` [S*C, O] picked by z's one-hot groups [R, S*C], each
    times its group's largest value (1, or 0 for the all-zero start latent)."""
    for r in range(z.shape[0]):
        for s in range(z.shape[1] // C):
            best, arg = z[r, s * C], 0
            for c in range(1, C):
                if z[r, s * C + c] > best:
                    best, arg = z[r, s * C + c], c
            if best != 0.0:
                row = s * C + arg
                for o in range(table.shape[1]):
                    out[r, o] += best * table[row, o]


@njit(cache=True, fastmath=FAST)
def ln_silu(x, g, b):
    """LayerNorm (affine g, b) then SiLU on x [R, H], in place."""
    H = x.shape[1]
    for r in range(x.shape[0]):
        m = np.float32(0.0)
        for h in range(H):
            m += x[r, h]
        m *= np.float32(1.0 / H)
        v = np.float32(0.0)
        for h in range(H):
            d = x[r, h] - m
            v += d * d
        s = np.float32(1.0) / np.sqrt(v * np.float32(1.0 / H) + np.float32(LN_EPS))
        for h in range(H):
            x[r, h] = (x[r, h] - m) * s * g[h] + b[h]
    e = exp_(-x)
    for r in range(x.shape[0]):
        for h in range(H):
            x[r, h] = x[r, h] / (np.float32(1.0) + e[r, h])


@njit(cache=True)
def mlp_rest(x, mats, vecs, layers, lo, hi):
    """x [R, H] after an MLP's first Linear → its output: rows lo..hi of ``layers``."""
    for j in range(lo, hi):
        ln_silu(x, vecs[layers[j, 2]], vecs[layers[j, 3]])
        b = vecs[layers[j, 1]]
        y = np.empty((x.shape[0], b.shape[0]), np.float32)
        for r in range(x.shape[0]):
            y[r] = b
        add_matmul(y, x, mats[layers[j, 0]])
        x = y
    return x


@njit(cache=True, fastmath=FAST)
def gru(x, h, wi, wh, bi, bh):
    """nn.GRUCell (gates r, z, n): x [R, I], h [R, D] → next h [R, D]."""
    R, D = h.shape
    gi = np.empty((R, 3 * D), np.float32)
    gh = np.empty((R, 3 * D), np.float32)
    for r in range(R):
        gi[r] = bi
        gh[r] = bh
    add_matmul(gi, x, wi)
    add_matmul(gh, h, wh)
    neg = np.empty((R, 2 * D), np.float32)
    for r in range(R):
        for d in range(2 * D):
            neg[r, d] = -(gi[r, d] + gh[r, d])
    e_rz = exp_(neg)  # sigmoid(v) = 1 / (1 + exp(-v))
    two_n = np.empty((R, D), np.float32)
    for r in range(R):
        for d in range(D):
            rg = np.float32(1.0) / (np.float32(1.0) + e_rz[r, d])
            two_n[r, d] = np.float32(2.0) * (gi[r, 2 * D + d] + rg * gh[r, 2 * D + d])
    e_n = exp_(two_n)  # tanh(v) = 1 - 2 / (exp(2v) + 1)
    out = np.empty((R, D), np.float32)
    for r in range(R):
        for d in range(D):
            n = np.float32(1.0) - np.float32(2.0) / (e_n[r, d] + np.float32(1.0))
            zg = np.float32(1.0) / (np.float32(1.0) + e_rz[r, D + d])
            out[r, d] = n + zg * (h[r, d] - n)
    return out


@njit(cache=True)
def draw(raw, C, unimix, u, sample):
    """raw [R, S*C] logits → one-hot [R, S*C]: inverse CDF on u [R, S] (``sample``) or the mode."""
    R, SC = raw.shape
    shifted = np.empty((R, SC), np.float32)  # logits minus their group's max
    for r in range(R):
        for s in range(SC // C):
            mx = raw[r, s * C:(s + 1) * C].max()
            for c in range(C):
                shifted[r, s * C + c] = raw[r, s * C + c] - mx
    e = exp_(shifted)
    out = np.zeros((R, SC), np.float32)
    for r in range(R):
        for s in range(SC // C):
            p = e[r, s * C:(s + 1) * C]
            tot = np.float32(0.0)
            for c in range(C):
                tot += p[c]
            acc, idx, best, arg = np.float32(0.0), 0, np.float32(-1.0), 0
            for c in range(C):
                q = p[c] / tot * np.float32(1.0 - unimix) + np.float32(unimix / C)
                acc += q
                if acc < u[r, s]:
                    idx += 1
                if q > best:
                    best, arg = q, c
            out[r, s * C + (min(idx, C - 1) if sample else arg)] = 1.0
    return out


@njit(cache=True)
def first_layer(mats, vecs, f, h_a, z_a, h_g, z_g, C):
    """An MLP's (or several MLPs' side by side) first Linear over the parts it reads of [h^a,
    z^a, h^g, z^g]: ``f`` = (W for each part in mats, -1 where none reads the part; bias in
    vecs; then the first output column each part's W covers: a part read by some of the MLPs
    only spans theirs; then how many column chunks of at most 256 its W is stored as, in
    consecutive mats: OpenBLAS multiplies [8, 128] by [128, 1152] ~4x slower than by three
    [128, 384] here). The latents' parts are one-hot: a row lookup per group, not a matmul."""
    b = vecs[f[4]]
    out = np.empty((h_a.shape[0], b.shape[0]), np.float32)
    for r in range(h_a.shape[0]):
        out[r] = b
    for part, x in enumerate((h_a, z_a, h_g, z_g)):
        if f[part] < 0:
            continue
        lo = f[5 + part]
        for j in range(f[9 + part]):  # the part's W, stored as column chunks
            W = mats[f[part] + j]
            cols = out[:, lo:lo + W.shape[1]]
            if part % 2 == 0:
                cols += x @ W
            else:
                add_onehot(cols, x, C, W)
            lo += W.shape[1]
    return out


@njit(cache=True)
def run_mlp(m, mats, vecs, firsts, layers, mlps, h_a, z_a, h_g, z_g, C):
    x = first_layer(mats, vecs, firsts[m], h_a, z_a, h_g, z_g, C)
    return mlp_rest(x, mats, vecs, layers, mlps[m, 0], mlps[m, 1])


@njit(cache=True, fastmath=FAST)
def recur_input(W, b, g, beta, z, C, rows):
    """A level's recurrent input, ``Linear, LayerNorm, SiLU`` of [z one-hot | one-hot actions ...]:
    b [H] plus the rows of W picked by z's groups and by ``rows`` [R, k] (action / id rows)."""
    x = np.empty((z.shape[0], b.shape[0]), np.float32)
    for r in range(z.shape[0]):
        x[r] = b
        for j in range(rows.shape[1]):
            for o in range(b.shape[0]):
                x[r, o] += W[rows[r, j], o]
    add_onehot(x, z, C, W)
    ln_silu(x, g, beta)
    return x


@njit(cache=True)
def step(mats, vecs, ins, firsts, layers, mlps, h_a, z_a, h_g, z_g, acts, keys, t,
         C, sample, unimix, two_level, decoded, n_ens, noop, penalty, limit, outcome, win_bonus):
    """One imagined step of E envs (rows R = E x N), what :meth:`LatentCore.step` computes.

    ``ins``: (W, b, LN weight, LN bias) of the agent and global recurrent inputs, then (W_ih,
    W_hh, b_ih, b_hh) of both GRUs. First layers: g_prior, a_prior, obs, then one wide layer
    for reward, cont, avail and the ensemble; MLP rests: g_prior, a_prior, obs, reward,
    cont, avail, then the ensemble. Returns the next (h^a, z^a, h^g, z^g) [R, ...], the served observations
    [R, F] (agent features, or decoded when ``decoded``), global features [R, Fg], rewards
    [R], terminated and truncated [E], the action mask [R, A], the uncertainty [R] and won [E].
    With ``outcome`` the cont head's first three outputs are the outcome logits (continue, win,
    end without a win), the outcome is drawn as :meth:`LatentCore._outcome` draws it and a drawn
    win pays ``win_bonus``."""
    E, N = acts.shape
    R = E * N
    Z = z_a.shape[1]
    S = Z // C
    A = vecs[layers[mlps[5, 1] - 1, 1]].shape[0]  # the availability head's output size
    u = np.empty((2, R, S), np.float32)  # [global / agent draw, R, S]: noise.uniform's layout
    for e in range(E):
        ue = uniform(keys[e], t[e], 2 * N * S)
        for k in range(2):
            for n in range(N):
                u[k, e * N + n] = ue[(k * N + n) * S:(k * N + n + 1) * S]
    own = np.empty((R, 1), np.int64)  # the agent level's action row: Z + own action
    joint = np.empty((R, N + 1), np.int64)  # the global level's: every agent's action row, then the id row
    for e in range(E):
        for n in range(N):
            own[e * N + n, 0] = Z + acts[e, n]
            for j in range(N):
                joint[e * N + n, j] = Z + j * A + acts[e, j]
            joint[e * N + n, N] = Z + N * A + n
    x = recur_input(mats[ins[0]], vecs[ins[1]], vecs[ins[2]], vecs[ins[3]], z_a, C, own)
    h_a2 = gru(x, h_a, mats[ins[8]], mats[ins[9]], vecs[ins[10]], vecs[ins[11]])
    h_g2, z_g2 = h_g.copy(), z_g.copy()
    if two_level:
        x = recur_input(mats[ins[4]], vecs[ins[5]], vecs[ins[6]], vecs[ins[7]], z_g, C, joint)
        h_g2 = gru(x, h_g, mats[ins[12]], mats[ins[13]], vecs[ins[14]], vecs[ins[15]])
        z_g2 = draw(run_mlp(0, mats, vecs, firsts, layers, mlps, h_a2, z_a, h_g2, z_g, C), C, unimix, u[0], sample)
    z_a2 = draw(run_mlp(1, mats, vecs, firsts, layers, mlps, h_a2, z_a, h_g2, z_g2, C), C, unimix, u[1], sample)
    # reward, cont, avail and the ensemble: one wide first layer [R, (3 + K) H], then each's rest
    wide = first_layer(mats, vecs, firsts[3], h_a2, z_a2, h_g2, z_g2, C)
    H = wide.shape[1] // (3 + n_ens)
    out = np.empty((3, R, A), np.float32)  # reward, cont, avail outputs
    for m in range(3):
        y = mlp_rest(wide[:, m * H:(m + 1) * H].copy(), mats, vecs, layers, mlps[3 + m, 0], mlps[3 + m, 1])
        out[m, :, : y.shape[1]] = y
    unc = np.zeros(R, np.float32)
    if n_ens > 1:
        for k in range(n_ens):
            j = 3 + k
            y = mlp_rest(wide[:, j * H:(j + 1) * H].copy(), mats, vecs, layers, mlps[3 + j, 0], mlps[3 + j, 1])
            if k == 0:
                preds = np.empty((n_ens, R, y.shape[1]), np.float32)
            preds[k] = y
        W = preds.shape[2]
        for r in range(R):
            acc = np.float32(0.0)
            for j in range(W):
                mean = np.float32(0.0)
                for k in range(n_ens):
                    mean += preds[k, r, j]
                mean *= np.float32(1.0 / n_ens)
                for k in range(n_ens):
                    d = preds[k, r, j] - mean
                    acc += d * d
            unc[r] = acc * np.float32(1.0 / ((n_ens - 1) * W))  # unbiased variance, mean over dims
    reward = np.empty(R, np.float32)
    mask = out[2] > 0.0  # [R, A]: sigmoid > 0.5
    terminated = np.zeros(E, np.bool_)
    truncated = np.zeros(E, np.bool_)
    won = np.zeros(E, np.bool_)
    for e in range(E):
        cont, win, pen = np.float32(0.0), np.float32(0.0), np.float32(0.0)
        for n in range(N):
            r = e * N + n
            x0 = out[0, r, 0]
            reward[r] = np.sign(x0) * np.expm1(np.abs(x0))  # symexp
            if outcome:  # softmax over (continue, win, end without a win)
                top = max(out[1, r, 0], max(out[1, r, 1], out[1, r, 2]))
                p0, p1, p2 = np.exp(out[1, r, 0] - top), np.exp(out[1, r, 1] - top), np.exp(out[1, r, 2] - top)
                tot = p0 + p1 + p2
                cont += p0 / tot
                win += p1 / tot
            else:
                cont += np.float32(1.0) / (np.float32(1.0) + np.exp(-out[1, r, 0]))
            pen += unc[r]
            if not mask[r].any():
                mask[r, noop] = True
        cont *= np.float32(1.0 / N)
        win *= np.float32(1.0 / N)
        if outcome:
            if sample:
                v = uniform(combine(keys[e] & M32, OUTCOME_TAG), t[e], 1)[0]
                terminated[e] = v >= cont
                won[e] = terminated[e] and v < cont + win
            else:
                terminated[e] = cont < 0.5
                won[e] = terminated[e] and win >= np.float32(1.0) - cont - win
            if won[e]:
                for n in range(N):
                    reward[e * N + n] += np.float32(win_bonus)
        else:
            terminated[e] = cont < 0.5
        if penalty:
            for n in range(N):
                reward[e * N + n] -= np.float32(penalty) * (pen * np.float32(1.0 / N))
        truncated[e] = t[e] + 1 >= limit and not terminated[e]
    if decoded:
        obs = run_mlp(2, mats, vecs, firsts, layers, mlps, h_a2, z_a2, h_g2, z_g2, C)
    else:
        obs = np.concatenate((h_a2, z_a2), 1)
    return (h_a2, z_a2, h_g2, z_g2, obs, np.concatenate((h_g2, z_g2), 1), reward, terminated, truncated, mask, unc,
            won)
