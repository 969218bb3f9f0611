"""The learned env's outputs for a fixed seed, against outputs stored before a refactor.

A restructuring of the env (backends, options, base classes) must not change a single
number a user's training sees. ``tests/data/learned_env_outputs.npz`` holds 24 steps of the
shipped smax-3m model's single env (the compiled backend) and 6-env vector env (the torch
fast path) under fixed seeds and fixed random valid actions. Regenerate it only for an
intended change of behaviour: ``python tests/test_learned_env_outputs.py``.

Against the stored file, the discrete outputs (terminations, masks) compare exactly and the
floats to 1e-5: BLAS and compiled kernels round by more than the CPU's capability string says
(two machines with the same string differed by up to 3e-7 in 1,898 of 26,496 values). Bit
identity is asserted where it holds everywhere: one process against itself.
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import torch

import latentworld

STORED = Path(__file__).parent / "data" / "learned_env_outputs.npz"
STEPS = 24


def _cpu_kind() -> str:
    return f"{platform.machine()}/{torch.backends.cpu.get_cpu_capability()}"


def record() -> dict[str, np.ndarray]:
    """Roll both learned envs for STEPS steps with seeded valid random actions."""
    out: dict[str, list] = {k: [] for k in ("s_obs", "s_rew", "s_term", "s_trunc", "s_mask", "s_unc",
                                            "v_obs", "v_state", "v_rew", "v_term", "v_trunc", "v_mask")}
    rng = np.random.default_rng(7)
    env = latentworld.make("smax-3m", seed=3)
    obs, infos = env.reset(seed=3)
    for _ in range(STEPS):
        masks = {a: infos[a]["action_mask"] for a in env.agents}
        acts = {a: int(rng.choice(np.flatnonzero(m))) for a, m in masks.items()}
        obs, rew, term, trunc, infos = env.step(acts)
        if not env.agents:
            obs, infos = env.reset()
            continue
        ags = sorted(obs)
        out["s_obs"].append(np.stack([obs[a] for a in ags]))
        out["s_rew"].append(np.array([rew[a] for a in ags], np.float32))
        out["s_term"].append(np.array([term[a] for a in ags]))
        out["s_trunc"].append(np.array([trunc[a] for a in ags]))
        out["s_mask"].append(np.stack([infos[a]["action_mask"] for a in ags]))
        out["s_unc"].append(np.array([infos[a]["uncertainty"] for a in ags], np.float32))
    venv = latentworld.make_vec("smax-3m", None, 6, obs="decoded", seed=11)
    step = venv.reset()
    gen = torch.Generator().manual_seed(5)
    for _ in range(STEPS):
        logits = torch.rand(step.action_mask.shape, generator=gen).masked_fill(~step.action_mask, -1.0)
        step = venv.step(logits.argmax(-1))
        out["v_obs"].append(step.obs.numpy())
        out["v_state"].append(step.state.numpy())
        out["v_rew"].append(step.reward.numpy())
        out["v_term"].append(step.terminated.numpy())
        out["v_trunc"].append(step.truncated.numpy())
        out["v_mask"].append(step.action_mask.numpy())
    return {k: np.stack(v) for k, v in out.items()}


def test_learned_env_outputs_match_the_stored_ones():
    stored = np.load(STORED)
    now = record()
    assert sorted(now) == sorted(k for k in stored.files if k != "cpu_kind")
    for key, value in now.items():
        ref = stored[key]
        assert value.shape == ref.shape, key
        if value.dtype == bool or key.endswith("mask"):
            np.testing.assert_array_equal(value, ref, err_msg=key)
        else:
            np.testing.assert_allclose(value, ref, rtol=1e-5, atol=1e-5, err_msg=key)
    # the rollout covered something: rewards vary and at least one episode ended
    assert np.ptp(now["v_rew"]) > 0 and (now["v_term"] | now["v_trunc"]).any()


def test_learned_env_outputs_are_bit_identical_within_a_process():
    first, again = record(), record()
    for key, value in first.items():
        np.testing.assert_array_equal(value, again[key], err_msg=key)


if __name__ == "__main__":
    torch.set_num_threads(1)
    arrays = record()
    np.savez_compressed(STORED, cpu_kind=np.array(_cpu_kind()), **arrays)
    print(f"wrote {STORED}: " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))
